from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from coverage.models import ObjectCoverage, ServiceCoverage
from support.admin_base import BoundedCountPaginator, ReadOnlyAdmin


class DroppedFilter(admin.SimpleListFilter):
    title = "coverage"
    parameter_name = "dropped"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Dropped"), ("no", "Not dropped")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ServiceCoverage]) -> QuerySet[ServiceCoverage]:
        if self.value() == "yes":
            return queryset.filter(dropped_since__isnull=False)
        if self.value() == "no":
            return queryset.filter(dropped_since__isnull=True)
        return queryset


class CoverageAdmin(ReadOnlyAdmin):
    """Coverage is what the last verification found: only the next one changes or removes it."""

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(ServiceCoverage)
class ServiceCoverageAdmin(CoverageAdmin):
    """Each service's coverage at its last verification; written only by the verification."""

    list_display = ["organization", "service_name", "covered", "in_scope", "verified_at", "dropped_since"]
    list_filter = [DroppedFilter, "service__kind", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["organization__name", "organization__slug"]
    search_help_text = "An organization's name or slug."
    list_select_related = ["organization", "service"]

    @admin.display(description="service", ordering="service__kind")
    def service_name(self, summary: ServiceCoverage) -> str:
        return summary.service.get_kind_display()


@admin.register(ObjectCoverage)
class ObjectCoverageAdmin(CoverageAdmin):
    """One row per mailbox, OneDrive, site or team: up to 100,000 per organization, so counts are bounded and the
    name is searched by its beginning."""

    paginator = BoundedCountPaginator
    show_full_result_count = False
    list_display = ["name", "organization", "service_name", "state", "detail", "checked_at", "state_since"]
    list_filter = ["state", "service__kind", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["^name", "=microsoft_id", "^organization__name", "=organization__slug"]
    search_help_text = "The beginning of a name or of an organization's name, an organization's slug or an object id."
    list_select_related = ["organization", "service"]

    @admin.display(description="service", ordering="service__kind")
    def service_name(self, row: ObjectCoverage) -> str:
        return row.service.get_kind_display()
