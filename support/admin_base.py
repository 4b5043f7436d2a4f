"""What the admin of every domain app shares: read-only models with support actions, bounded counts."""

from typing import cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from audit.admin_log import AuditedAdminMixin
from support.staff import SupportActionsMixin

# Directory changelists count at most this many rows; beyond it staff narrow the list by organization or search.
COUNT_LIMIT = 10_000


class ReadOnlyAdmin(AuditedAdminMixin, SupportActionsMixin, admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class BoundedCountPaginator(Paginator):
    """Counts up to COUNT_LIMIT + 1 rows (a LIMITed subquery), never the whole table."""

    @cached_property
    def count(self) -> int:
        return cast(QuerySet, self.object_list)[: COUNT_LIMIT + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > COUNT_LIMIT
