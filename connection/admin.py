from django.contrib import admin

from connection.models import AppCredentialHealth, ConnectionIncident, ServiceAccount
from support.admin_base import ReadOnlyAdmin


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ReadOnlyAdmin):
    list_display = ["service", "organization", "authorized_account", "microsoft_tenant_id", "granted_at", "granted_by"]
    list_filter = ["service__kind", "granted_at"]
    search_fields = ["organization__name", "organization__slug", "authorized_account", "microsoft_tenant_id"]
    list_select_related = ["service", "organization", "granted_by"]
    fields = [
        "organization",
        "service",
        "microsoft_tenant_id",
        "authorized_account",
        "authorized_object_id",
        "granted_at",
        "granted_by",
        "auto_enable_policy",
    ]


@admin.register(AppCredentialHealth)
class AppCredentialHealthAdmin(ReadOnlyAdmin):
    list_display = ["client_id", "status", "error_code", "rejected_since", "checked_at", "staff_alerted_at"]


@admin.register(ConnectionIncident)
class ConnectionIncidentAdmin(ReadOnlyAdmin):
    list_display = ["organization", "opened_at", "error_code", "emailed_at", "closed_at"]
    list_filter = ["closed_at", "opened_at"]
    search_fields = ["organization__name", "organization__slug", "error_code"]
    list_select_related = ["organization"]
