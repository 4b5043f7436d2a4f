import uuid
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from audit.admin_log import AuditedAdminMixin
from directory.models import MAX_SELECTED_USERS, DirectoryGroup, DirectoryUser, SelectedUser, SyncRun, SyncSettings
from directory.settings import RULE, change_sync_settings, check_sync_settings
from support.admin_base import BoundedCountPaginator, ReadOnlyAdmin, ServiceRefusalsMixin


class DirectoryAdmin(ReadOnlyAdmin):
    """Synchronized objects of up to 100,000 per organization: bounded counts and index-friendly searches."""

    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_select_related = ["organization"]
    list_filter = ["organization"]
    name_fields: tuple[str, ...] = ()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DirectoryUser | DirectoryGroup], search_term: str
    ) -> tuple[QuerySet[DirectoryUser | DirectoryGroup], bool]:
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


class SyncSettingsForm(forms.ModelForm):
    """Collects the option and the time; the rule is the service's, shown here on the fields it concerns."""

    class Meta:
        model = SyncSettings
        fields = ["mode", "daily_sync_time"]
        help_texts = {"mode": RULE}

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data  # what ModelForm.clean() returns, never None
        if "mode" in cleaned:
            try:
                # The instance is still as stored: the form's values are copied onto it after clean().
                check_sync_settings(
                    sync_settings=self.instance, mode=cleaned["mode"], daily_sync_time=cleaned.get("daily_sync_time")
                )
            except ValidationError as refusal:
                self.add_error(None, refusal)
        return cleaned


@admin.register(SyncSettings)
class SyncSettingsAdmin(ServiceRefusalsMixin, AuditedAdminMixin, admin.ModelAdmin):
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

    def has_delete_permission(self, request: HttpRequest, obj: SyncSettings | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: SyncSettings, form: forms.ModelForm, change: bool) -> None:
        change_sync_settings(
            sync_settings=obj,
            mode=form.cleaned_data["mode"],
            daily_sync_time=form.cleaned_data["daily_sync_time"],
            actor=request.user,
        )


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
