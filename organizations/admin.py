from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from audit.admin_log import AuditedAdminMixin
from audit.services import Actor
from directory.models import DirectoryGroup, DirectoryUser, SyncSettings
from organizations import services
from organizations.models import Invitation, Membership, Organization, Policy, ProtectedService, Role
from support import actions as support
from support import lifecycle
from support.admin_base import ServiceRefusalsMixin
from support.staff import SupportActionsMixin, support_action


class StaffAdmin(AuditedAdminMixin, SupportActionsMixin, admin.ModelAdmin):
    pass


class MembershipInlineForm(forms.ModelForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Another person is another membership: a new row, added through the service.
            self.fields["user"].disabled = True
        # A row of the table has no label of its own: each control names the member it is for.
        self.fields["role"].widget.attrs["aria-label"] = f"Role of {self._member()}"

    def _member(self) -> str:
        return self.instance.user.email if self.instance.pk else "the new member"


class MembershipFormSet(forms.BaseInlineFormSet):
    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields and isinstance(form, MembershipInlineForm):
            form.fields["DELETE"].widget.attrs["aria-label"] = f"Remove the membership of {form._member()}"


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipInlineForm
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at", "last_used_at"]
    readonly_fields = ["created_at", "last_used_at"]


def save_memberships(formset: forms.BaseModelFormSet, *, organization: Organization, actor: Actor) -> None:
    """The membership inline's rows, through the services that keep an administrator and audit each change.

    Additions and promotions go first, so that one submission may promote an administrator and demote or remove
    the previous one. Sets what the formset's own save would, for admin's change message.
    """
    deleted = formset.deleted_forms
    formset.new_objects = [
        services.add_member(
            organization=organization, user=form.cleaned_data["user"], role=form.cleaned_data["role"], actor=actor
        )
        for form in formset.extra_forms
        if form.has_changed() and form not in deleted
    ]
    changed = [form for form in formset.initial_forms if form.has_changed() and form not in deleted]
    formset.changed_objects = [
        (services.change_member_role(membership=form.instance, role=form.cleaned_data["role"], actor=actor), ["role"])
        for form in sorted(changed, key=lambda form: form.cleaned_data["role"] != Role.ADMIN)
    ]
    formset.deleted_objects = []
    for form in deleted:
        if form.instance.pk:
            form.instance.refresh_from_db()  # the form copied its values onto it
            services.remove_member(membership=form.instance, actor=actor)
            formset.deleted_objects.append(form.instance)


class ProtectedServiceInline(admin.StackedInline):
    """Stacked: read-only fields need no table, which on a phone would be a scrolling region nothing can focus."""

    model = ProtectedService
    extra = 0
    can_delete = False
    fields = ("kind", "status", "authorized_account", "granted_at", "last_synced_at", "last_error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False


class SyncSettingsInline(admin.StackedInline):
    """Shown here; changed on its own page, where the sync-mode rule is enforced."""

    model = SyncSettings
    can_delete = False
    fields = ("mode", "daily_sync_time", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        return False


def sync_now(organization: Organization, request: HttpRequest, reason: str) -> str:
    result = support.sync_now(organization=organization, actor=request.user, reason=reason)
    return "joined the synchronization under way." if result.folded else "synchronization queued."


def check_connection_now(organization: Organization, request: HttpRequest, reason: str) -> str:
    found = support.check_connection_now(organization=organization, actor=request.user, reason=reason)
    return f"connection checked: {found}."


def mark_access_token_invalid(organization: Organization, request: HttpRequest, reason: str) -> str:
    support.mark_access_token_invalid(organization=organization, actor=request.user, reason=reason)
    return "access token marked invalid; the administrators were told."


def resend_invalid_token_email(organization: Organization, request: HttpRequest, reason: str) -> str:
    sent = support.resend_invalid_token_email(organization=organization, actor=request.user, reason=reason)
    return f"invalid-token email sent to {sent} administrator(s)."


def offboard_organization(organization: Organization, request: HttpRequest, reason: str) -> str:
    deleted = lifecycle.offboard_organization(organization=organization, actor=request.user, reason=reason)
    summary = ", ".join(f"{count} {name}" for name, count in deleted.items() if count)
    return f"offboarded ({summary or 'nothing to delete'}); the audit trail is kept."


def release_microsoft_tenant(organization: Organization, request: HttpRequest, reason: str) -> str:
    deleted = support.release_microsoft_tenant(organization=organization, actor=request.user, reason=reason)
    summary = ", ".join(f"{count} {name}" for name, count in deleted.items() if count)
    return f"Microsoft 365 tenant released ({summary or 'nothing to delete'}); the members stay."


@admin.register(Organization)
class OrganizationAdmin(ServiceRefusalsMixin, StaffAdmin):
    list_display = ["name", "slug", "microsoft_tenant_id", "region", "created_at"]
    list_filter = ["region", "created_at"]
    search_fields = ["name", "slug", "microsoft_tenant_id", "directory_domains__name"]
    search_help_text = "Name, slug, Microsoft 365 tenant id or verified domain."
    # The tenant is bound by a grant and unbound by Remove, offboarding or the release action, each audited.
    readonly_fields = [
        "microsoft_tenant_id",
        "public_id",
        "created_at",
        "synchronized_users",
        "synchronized_groups",
        "sync_settings_link",
    ]
    inlines = [MembershipInline, ProtectedServiceInline, SyncSettingsInline]
    actions = [
        support_action("Sync now", sync_now),
        support_action("Check the connection now", check_connection_now),
        support_action("Mark the access token invalid", mark_access_token_invalid),
        support_action("Resend the invalid-token email", resend_invalid_token_email),
        support_action("Release the Microsoft 365 tenant", release_microsoft_tenant),
        support_action("Offboard: delete the directory, sync runs and members", offboard_organization),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Organization | None = None) -> bool:
        # An organization ends by offboarding, which keeps its audit trail; a delete would cascade past every rule.
        return False

    def get_prepopulated_fields(
        self, request: HttpRequest, obj: Organization | None = None
    ) -> dict[str, Sequence[str]]:
        return {} if obj else {"slug": ("name",)}

    def get_fields(self, request: HttpRequest, obj: Organization | None = None) -> tuple[str, ...]:
        fields = ("name", "slug", "region")
        return fields if obj is None else (*fields, *self.readonly_fields)

    @admin.display(description="synchronized users")
    def synchronized_users(self, organization: Organization) -> int:
        return DirectoryUser.objects.filter(organization=organization).count()

    @admin.display(description="synchronized groups")
    def synchronized_groups(self, organization: Organization) -> int:
        return DirectoryGroup.objects.filter(organization=organization).count()

    @admin.display(description="sync settings")
    def sync_settings_link(self, organization: Organization) -> str:
        settings_row = SyncSettings.objects.filter(organization=organization).first()
        if settings_row is None:
            return "—"
        return format_html(
            '<a href="{}">Change the sync settings</a>',
            reverse("admin:provisioning_syncsettings_change", args=[settings_row.pk]),
        )

    def save_model(self, request: HttpRequest, obj: Organization, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            services.set_up_new_organization(organization=obj, actor=request.user)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if formset.model is Membership:
            save_memberships(formset, organization=form.instance, actor=request.user)
        else:
            super().save_formset(request, form, formset, change)


@admin.register(Membership)
class MembershipAdmin(ServiceRefusalsMixin, StaffAdmin):
    """Every write through the services the portal uses: an organization keeps an administrator, and each
    change is audited as the customers' own (member.joined, member.role_changed, member.removed)."""

    list_display = ["user", "organization", "role", "created_at", "last_used_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "organization__name", "organization__slug"]
    list_select_related = ["user", "organization"]
    autocomplete_fields = ["user", "organization"]
    readonly_fields = ["public_id", "created_at", "last_used_at"]
    deletes_audited_by_service = True

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str] | tuple[str, ...]:
        return [*self.readonly_fields, "user", "organization"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Membership, form: forms.ModelForm, change: bool) -> None:
        if change:
            services.change_member_role(membership=obj, role=form.cleaned_data["role"], actor=request.user)
        else:
            obj.pk = services.add_member(
                organization=obj.organization, user=obj.user, role=obj.role, actor=request.user
            ).pk
            obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.remove_member(membership=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        # One refusal undoes the whole action: the action runs in one transaction.
        for membership in queryset.select_related("organization", "user"):
            services.remove_member(membership=membership, actor=request.user)


@admin.register(Invitation)
class InvitationAdmin(StaffAdmin):
    list_display = [
        "email",
        "organization",
        "role",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    ]
    list_filter = ["role", "created_at"]
    search_fields = ["email", "organization__name", "organization__slug"]
    list_select_related = ["organization", "invited_by"]
    exclude = ["token_hash"]
    readonly_fields = ["public_id", "invited_by", "accepted_by", "created_at", "accepted_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


def retry_failed_provisioning(service: ProtectedService, request: HttpRequest, reason: str) -> str:
    support.retry_failed_provisioning(service=service, actor=request.user, reason=reason)
    return "synchronization queued again."


@admin.register(ProtectedService)
class ProtectedServiceAdmin(StaffAdmin):
    list_display = ["organization", "kind", "status", "authorized_account", "granted_at", "last_synced_at"]
    list_filter = ["kind", "status"]
    search_fields = ["organization__name", "organization__slug", "authorized_account"]
    list_select_related = ["organization"]
    readonly_fields = ["organization", "kind", "authorized_account", "granted_at", "last_synced_at", "last_error"]
    actions = [support_action("Retry a failed provisioning", retry_failed_provisioning)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ProtectedService | None = None) -> bool:
        return False


@admin.register(Policy)
class PolicyAdmin(ServiceRefusalsMixin, StaffAdmin):
    list_display = ["name", "organization", "service", "policy_type", "priority", "enabled", "is_default"]
    list_filter = ["policy_type", "enabled", "is_default", "service__kind"]
    search_fields = ["name", "organization__name", "organization__slug"]
    list_select_related = ["organization", "service", "service__organization"]
    # Customers' policies change only by being enabled or disabled, in the portal and here alike.
    readonly_fields = [
        "public_id",
        "organization",
        "service",
        "name",
        "policy_type",
        "priority",
        "is_default",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Policy | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Policy, form: forms.ModelForm, change: bool) -> None:
        services.set_policy_enabled(policy=obj, enabled=form.cleaned_data["enabled"], actor=request.user)
