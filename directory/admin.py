import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import timezone

from audit.admin_log import AuditedAdminMixin
from connection.models import ServiceAccount
from directory import runs
from directory.models import (
    MAX_SELECTED_USERS,
    DirectoryGroup,
    DirectoryUser,
    SelectedUser,
    SyncMode,
    SyncRun,
    SyncSettings,
)
from support.admin_base import BoundedCountPaginator, ReadOnlyAdmin


class DirectoryAdmin(ReadOnlyAdmin):
    """Synchronized objects of up to 100,000 per organization: bounded counts and index-friendly searches."""

    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_select_related = ["organization"]
    list_filter = ["organization"]
    name_fields: tuple[str, ...] = ()

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(microsoft_id=uuid.UUID(term)), False
        except ValueError:
            # Prefix searches only, never a substring anywhere in 100,000 names: on PostgreSQL the prefix
            # indexes of migration 0003 answer them.
            query = Q()
            for name in self.name_fields:
                query |= Q(**{f"{name}__istartswith": term})
            return queryset.filter(query), False


@admin.register(DirectoryUser)
class DirectoryUserAdmin(DirectoryAdmin):
    list_display = [
        "user_principal_name",
        "display_name",
        "organization",
        "account_enabled",
        "is_licensed",
        "synced_at",
    ]
    search_fields = ["user_principal_name", "display_name", "microsoft_id"]
    search_help_text = "The beginning of a user principal name or display name, or a Microsoft object id."
    name_fields = ("user_principal_name", "display_name")


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(DirectoryAdmin):
    list_display = ["display_name", "group_type", "organization", "synced_at"]
    list_filter = ["organization", "group_type"]
    search_fields = ["display_name", "microsoft_id"]
    search_help_text = "The beginning of a display name, or a Microsoft object id."
    name_fields = ("display_name",)


@admin.register(SelectedUser)
class SelectedUserAdmin(ReadOnlyAdmin):
    list_display = ["user_principal_name", "organization", "added_by", "added_at"]
    search_fields = ["user_principal_name", "organization__name", "organization__slug"]
    list_select_related = ["organization", "added_by"]


RULE = (
    "The option is stored once per organization and shared by Exchange Online, SharePoint Online, OneDrive and "
    "Microsoft Teams."
)


class SyncSettingsForm(forms.ModelForm):
    """The sync-mode rule (DESIGN.md): no change to certain users, no schedule in certain-users mode, at most
    100 chosen users; certain → all is Extend to all users."""

    class Meta:
        model = SyncSettings
        fields = ["mode", "daily_sync_time"]
        help_texts = {"mode": RULE}

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        before, after = self.initial.get("mode"), cleaned.get("mode")
        organization = self.instance.organization
        if before != after and not ServiceAccount.objects.filter(organization=organization).exists():
            self.add_error(
                "mode",
                "No Microsoft 365 service of this organization has access yet: the option is chosen when the "
                "first one is granted.",
            )
        elif before == SyncMode.ALL and after == SyncMode.CERTAIN:
            self.add_error(
                "mode",
                f"An organization that synchronizes all users cannot go back to certain users. {RULE}",
            )
        if after == SyncMode.CERTAIN:
            if cleaned.get("daily_sync_time") is not None:
                self.add_error(
                    "daily_sync_time",
                    "There is no scheduled synchronization in certain-users mode: leave the time empty.",
                )
            chosen = SelectedUser.objects.filter(organization=organization).count()
            if chosen > MAX_SELECTED_USERS:
                raise forms.ValidationError(
                    f"At most {MAX_SELECTED_USERS} users can be synchronized in certain-users mode; "
                    f"{chosen} are chosen."
                )
        return cleaned


@admin.register(SyncSettings)
class SyncSettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = SyncSettingsForm
    list_display = ["organization", "mode", "daily_sync_time", "region", "updated_at"]
    list_filter = ["mode"]
    search_fields = ["organization__name", "organization__slug"]
    list_select_related = ["organization"]
    fields = ["organization", "region", "mode", "daily_sync_time", "chosen_users", "updated_at"]
    readonly_fields = ["organization", "region", "chosen_users", "updated_at"]

    @admin.display(description="region", ordering="organization__region")
    def region(self, obj: SyncSettings) -> str:
        return obj.organization.get_region_display()

    @admin.display(description=f"chosen users (at most {MAX_SELECTED_USERS})")
    def chosen_users(self, obj: SyncSettings) -> str:
        users = SelectedUser.objects.filter(organization=obj.organization).values_list("user_principal_name", flat=True)
        return ", ".join(users) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created with the organization's first grant; one per organization

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        if form.initial.get("mode") == SyncMode.CERTAIN and obj.mode == SyncMode.ALL:
            # What Extend to all users does in the portal: every service at once, audited, then a full round.
            runs.extend_to_all_users(organization=obj.organization, actor=request.user)
            obj.refresh_from_db(fields=["users_delta_link", "groups_delta_link"])
        super().save_model(request, obj, form, change)

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except runs.SyncRefused as refusal:
            # Raised while saving, inside the view's transaction: nothing was saved. Say why on the same page.
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "queued_at",
        "organization",
        "service",
        "kind",
        "trigger",
        "status",
        "duration",
        "users_synced",
        "groups_synced",
        "memberships_synced",
        "requests",
        "short_error",
    ]
    list_filter = ["status", "kind", "trigger", ("organization", admin.RelatedOnlyFieldListFilter), "queued_at"]
    search_fields = ["organization__name", "organization__slug", "=public_id"]
    list_select_related = ["organization", "service", "service__organization"]
    date_hierarchy = "queued_at"

    @admin.display(description="duration")
    def duration(self, run: SyncRun) -> str:
        if run.started_at is None:
            return "—"
        return str((run.finished_at or timezone.now()) - run.started_at).split(".")[0]

    @admin.display(description="error")
    def short_error(self, run: SyncRun) -> str:
        return run.error[:80]
