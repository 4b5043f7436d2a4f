"""What every page says of a protected service's status: Dashboard, Service Status and All organizations read it here.

In certain-users mode a service whose first synchronization succeeded protects only the chosen users, for testing:
it reads "Testing · N users", never the green Protected of a whole tenant, and the pages offer Extend to all users.
Where a page reads coverage too (Service Status, Dashboard), a protected service says what its last verification
reached ("Protected · 287 of 303 mailboxes", "Testing · 6 mailboxes", "Coverage dropped: 274 of 303 mailboxes");
before the first one it keeps the grant's status and is marked `unverified`, for the page to say so once. The other
statuses (a grant in progress, an invalid access token) win over coverage.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Subquery
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Coalesce

from coverage.display import coverage_status
from coverage.models import ServiceCoverage
from directory.models import SelectedUser, SyncMode, SyncSettings
from grant.models import GrantAttempt
from grant.services import in_flight
from organizations.models import Organization, ProtectedService, ServiceStatus

TONES = {
    ServiceStatus.PROTECTED: "success",
    ServiceStatus.PROVISIONING: "info",
    ServiceStatus.ACCESS_TOKEN_INVALID: "danger",
    ServiceStatus.FAILED: "danger",
    ServiceStatus.NOT_GRANTED: "secondary",
}
TESTING_TONE = "warning"


@dataclass(frozen=True)
class Scope:
    """What the organization's synchronization covers: everyone, or the users chosen for testing."""

    testing: bool
    chosen_users: int = 0


@dataclass(frozen=True)
class ShownStatus:
    label: str
    tone: str  # Bootstrap's text-bg-{tone}
    testing: bool = False
    grant_in_progress: bool = False  # the label says so
    coverage: bool = False  # the label tells the service's coverage: it links to the Coverage page
    dropped: bool = False
    unverified: bool = False  # protected, its coverage not verified yet


def scope_of(organization: Organization, mode: str) -> Scope:
    """The scope of an organization whose sync mode the caller has read (chosen users are counted only then)."""
    if mode != SyncMode.CERTAIN:
        return Scope(testing=False)
    return Scope(testing=True, chosen_users=SelectedUser.objects.filter(organization=organization).count())


def scope_annotations() -> dict[str, BaseExpression]:
    """For a queryset of organizations: what `scope_from` reads, in the same query."""
    chosen = (
        SelectedUser.objects.filter(organization=OuterRef("pk"))
        .order_by()
        .values("organization")
        .annotate(n=Count("pk"))
        .values("n")
    )
    mode = SyncSettings.objects.filter(organization=OuterRef("pk")).values("mode")[:1]
    return {"sync_mode": Subquery(mode), "chosen_users": Coalesce(Subquery(chosen), 0)}


def services_prefetch() -> Prefetch:
    """For a queryset of organizations: their services, each annotated with `grant_in_progress` and joined to its
    coverage (`service.coverage`, when verified), in the same query."""
    attempts = in_flight(GrantAttempt.objects.filter(service=OuterRef("pk")))
    return Prefetch(
        "services",
        queryset=ProtectedService.objects.annotate(grant_in_progress=Exists(attempts)).select_related("coverage"),
    )


def scope_from(organization: Organization) -> Scope:
    """The scope of an organization annotated with `scope_annotations`."""
    if getattr(organization, "sync_mode", None) != SyncMode.CERTAIN:
        return Scope(testing=False)
    return Scope(testing=True, chosen_users=int(getattr(organization, "chosen_users", 0)))


def shown_status(
    service: ProtectedService,
    scope: Scope,
    *,
    grant_in_progress: bool = False,
    coverage: dict[int, ServiceCoverage] | None = None,
) -> ShownStatus:
    """A grant in progress shows instead of Not granted or Failed: the admin who left it at Microsoft finds it.
    With `coverage` (the organization's, by service), a protected service's label tells its verified coverage."""
    if grant_in_progress and service.status in (ServiceStatus.NOT_GRANTED, ServiceStatus.FAILED):
        return ShownStatus("Grant in progress", TONES[ServiceStatus.PROVISIONING], grant_in_progress=True)
    protected = service.status == ServiceStatus.PROTECTED
    if protected and coverage is not None:
        shown = coverage_status(service.kind, coverage.get(service.pk), testing=scope.testing)
        if shown is not None:
            return ShownStatus(shown.label, shown.tone, testing=scope.testing, coverage=True, dropped=shown.dropped)
    # Before the first verification, the grant's own status; the page says apart that coverage is not verified.
    unverified = protected and coverage is not None
    if protected and scope.testing:
        users = scope.chosen_users
        return ShownStatus(
            f"Testing · {users:,} user{'' if users == 1 else 's'}", TESTING_TONE, testing=True, unverified=unverified
        )
    return ShownStatus(service.get_status_display(), TONES[ServiceStatus(service.status)], unverified=unverified)


def coverage_of(services: Iterable[ProtectedService]) -> dict[int, ServiceCoverage]:
    """The coverage of the protected ones among `services`, by service: one query, none when none is protected or
    when the services were read with their coverage (`select_related("coverage")`)."""
    protected = [service for service in services if service.status == ServiceStatus.PROTECTED]
    if not protected:
        return {}
    joined_already = ServiceCoverage.service.field.remote_field  # ProtectedService.coverage, the reverse side
    if all(joined_already.is_cached(service) for service in protected):
        joined = ((service.pk, getattr(service, "coverage", None)) for service in protected)
        return {pk: summary for pk, summary in joined if summary is not None}
    found = ServiceCoverage.objects.filter(service_id__in=[service.pk for service in protected])
    return {summary.service_id: summary for summary in found}


@dataclass(frozen=True)
class ServiceLine:
    service: ProtectedService
    status: ShownStatus
    attempt: GrantAttempt | None = None  # a grant in progress


class ServiceLines(list[ServiceLine]):
    """A page's lines, in catalog order."""

    @property
    def unverified(self) -> list[ServiceLine]:
        """The protected services whose coverage has not been verified yet: the page names them once."""
        return [line for line in self if line.status.unverified]


def service_lines(
    services: list[ProtectedService], scope: Scope, attempts: Iterable[GrantAttempt] = ()
) -> ServiceLines:
    """One line per service, with the grant in progress of each (`attempts`: those in flight) and the coverage of
    each protected one (one query)."""
    in_flight = {attempt.service_id: attempt for attempt in attempts}
    coverage = coverage_of(services)
    return ServiceLines(
        ServiceLine(
            service,
            shown_status(service, scope, grant_in_progress=service.pk in in_flight, coverage=coverage),
            in_flight.get(service.pk),
        )
        for service in services
    )
