from django.contrib import admin
from django.http import HttpRequest

from provisioning.models import (
    AppCredentialHealth,
    DirectoryGroup,
    DirectoryUser,
    GrantAttempt,
    SelectedUser,
    ServiceAccount,
    SyncRun,
    SyncSettings,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ReadOnlyAdmin):
    list_display = ["service", "tenant", "authorized_account", "microsoft_tenant_id", "granted_at", "granted_by"]
    list_filter = ["service__kind", "granted_at"]
    search_fields = ["tenant__name", "tenant__slug", "authorized_account", "microsoft_tenant_id"]
    list_select_related = ["service", "tenant", "granted_by"]


@admin.register(GrantAttempt)
class GrantAttemptAdmin(ReadOnlyAdmin):
    list_display = ["service", "tenant", "user", "step", "admin_upn", "created_at", "finished_at"]
    list_filter = ["step", "created_at"]
    search_fields = ["tenant__name", "tenant__slug", "user__email", "admin_upn"]
    list_select_related = ["service", "tenant", "user"]
    exclude = ["state_hash", "session_key_hash", "auth_flow"]


@admin.register(SyncSettings)
class SyncSettingsAdmin(ReadOnlyAdmin):
    list_display = ["tenant", "mode", "updated_at"]
    list_filter = ["mode"]
    search_fields = ["tenant__name", "tenant__slug"]
    list_select_related = ["tenant"]
    exclude = ["users_delta_link", "groups_delta_link"]


@admin.register(SelectedUser)
class SelectedUserAdmin(ReadOnlyAdmin):
    list_display = ["user_principal_name", "tenant", "added_by", "added_at"]
    search_fields = ["user_principal_name", "tenant__name", "microsoft_id"]
    list_select_related = ["tenant", "added_by"]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "tenant",
        "service",
        "kind",
        "trigger",
        "status",
        "users_synced",
        "groups_synced",
        "queued_at",
        "finished_at",
    ]
    list_filter = ["status", "kind", "trigger", "queued_at"]
    search_fields = ["tenant__name", "tenant__slug", "public_id"]
    list_select_related = ["tenant", "service"]


@admin.register(DirectoryUser)
class DirectoryUserAdmin(ReadOnlyAdmin):
    list_display = ["user_principal_name", "display_name", "tenant", "account_enabled", "is_licensed", "synced_at"]
    search_fields = ["user_principal_name", "display_name", "=microsoft_id"]
    list_select_related = ["tenant"]
    show_full_result_count = False


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(ReadOnlyAdmin):
    list_display = ["display_name", "group_type", "tenant", "synced_at"]
    list_filter = ["group_type"]
    search_fields = ["display_name", "=microsoft_id"]
    list_select_related = ["tenant"]
    show_full_result_count = False


@admin.register(AppCredentialHealth)
class AppCredentialHealthAdmin(ReadOnlyAdmin):
    list_display = ["client_id", "status", "error_code", "rejected_since", "checked_at", "staff_alerted_at"]
