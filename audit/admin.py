from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone, superusers included: the log is append-only."""

    list_display = ["occurred_at", "action", "tenant", "actor_email", "target", "ip_address"]
    list_filter = ["action", "occurred_at", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["actor_email", "target", "tenant__name", "tenant__slug"]
    list_select_related = ["tenant"]
    date_hierarchy = "occurred_at"
    readonly_fields = (
        "occurred_at",
        "tenant",
        "actor",
        "actor_email",
        "action",
        "target",
        "ip_address",
        "user_agent",
        "details",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest):
        return {}
