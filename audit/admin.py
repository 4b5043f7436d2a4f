from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path

from audit.admin_log import AuditedAdminMixin, audited
from audit.export import EXPORT_LIMIT, csv_response
from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone, superusers included: the log is append-only."""

    list_display = ["occurred_at", "action", "organization", "actor_email", "target", "ip_address"]
    list_filter = [
        "action",
        "occurred_at",
        ("organization", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["actor_email", "target", "organization__name", "organization__slug"]
    list_select_related = ["organization"]
    date_hierarchy = "occurred_at"
    readonly_fields = (
        "occurred_at",
        "organization",
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

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, tuple[Callable[..., str], str, str] | None]:
        return {}

    def get_urls(self) -> list[URLPattern]:
        export = path("export/", self.admin_site.admin_view(self.export_view), name="audit_auditevent_export")
        return [export, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "export_limit": EXPORT_LIMIT})

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The changelist's filtered and searched events, as CSV: the same query string, the same rows."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("These filters are not valid.")
        return csv_response(changelist.get_queryset(request))


# The admins of installed packages (auth groups, allauth's email addresses, Celery beat's schedule), registered
# before this module, are audited like the portal's own; the portal's apps register after it and audit themselves.
for model, model_admin in list(admin.site._registry.items()):
    if not isinstance(model_admin, AuditedAdminMixin):
        admin.site.unregister(model)
        admin.site.register(model, audited(type(model_admin)))
