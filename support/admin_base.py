"""What the admin of every domain app shares: read-only models with support actions, bounded counts, the
service layer's refusals shown to staff."""

from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import cached_property

from audit.admin_log import AuditedAdminMixin
from casportal.errors import ActionRefused
from support.staff import SupportActionsMixin

# Directory changelists count at most this many rows; beyond it staff narrow the list by organization or search.
COUNT_LIMIT = 10_000


class ReadOnlyAdmin(AuditedAdminMixin, SupportActionsMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ServiceRefusalsMixin:
    """For admins that write through the services: a refusal raised while saving or deleting leaves the view's
    transaction, so the whole submission is undone, and staff read why on the page instead of a server error.

    List it before AuditedAdminMixin, whose transaction around actions it must enclose.
    """

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
        except (ValidationError, ActionRefused) as refusal:
            return self._refused(request, refusal, request.get_full_path())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]
        except (ValidationError, ActionRefused) as refusal:
            opts = self.opts  # type: ignore[attr-defined]
            change = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            return self._refused(request, refusal, change)

    def response_action(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        try:
            return super().response_action(request, queryset)  # type: ignore[misc]
        except (ValidationError, ActionRefused) as refusal:
            return self._refused(request, refusal, request.get_full_path())

    def _refused(self, request: HttpRequest, refusal: Exception, url: str) -> HttpResponse:
        reasons = refusal.messages if isinstance(refusal, ValidationError) else [str(refusal)]
        for reason in reasons:
            self.message_user(request, f"Nothing was changed: {reason}", messages.ERROR)  # type: ignore[attr-defined]
        return HttpResponseRedirect(url)


class BoundedCountPaginator(Paginator):
    """Counts up to COUNT_LIMIT + 1 rows (a LIMITed subquery), never the whole table."""

    @cached_property
    def count(self) -> int:
        return cast(QuerySet, self.object_list)[: COUNT_LIMIT + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > COUNT_LIMIT
