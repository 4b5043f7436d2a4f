"""What every page says of a protected service's status: Dashboard, Service Status and All organizations read it here.

In certain-users mode a service whose first synchronization succeeded protects only the chosen users, for testing:
it reads "Testing · N users", never the green Protected of a whole tenant, and the pages offer Extend to all users.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Subquery
from django.db.models.expressions import BaseExpression
from django.db.models.functions import Coalesce

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
    """For a queryset of organizations: their services, each annotated with `grant_in_progress`."""
    attempts = in_flight(GrantAttempt.objects.filter(service=OuterRef("pk")))
    return Prefetch("services", queryset=ProtectedService.objects.annotate(grant_in_progress=Exists(attempts)))


def scope_from(organization: Organization) -> Scope:
    """The scope of an organization annotated with `scope_annotations`."""
    if getattr(organization, "sync_mode", None) != SyncMode.CERTAIN:
        return Scope(testing=False)
    return Scope(testing=True, chosen_users=int(getattr(organization, "chosen_users", 0)))


def shown_status(service: ProtectedService, scope: Scope, *, grant_in_progress: bool = False) -> ShownStatus:
    """A grant in progress shows instead of Not granted or Failed: the admin who left it at Microsoft finds it."""
    if grant_in_progress and service.status in (ServiceStatus.NOT_GRANTED, ServiceStatus.FAILED):
        return ShownStatus("Grant in progress", TONES[ServiceStatus.PROVISIONING], grant_in_progress=True)
    if service.status == ServiceStatus.PROTECTED and scope.testing:
        users = scope.chosen_users
        return ShownStatus(f"Testing · {users:,} user{'' if users == 1 else 's'}", TESTING_TONE, testing=True)
    return ShownStatus(service.get_status_display(), TONES[ServiceStatus(service.status)])


@dataclass(frozen=True)
class ServiceLine:
    service: ProtectedService
    status: ShownStatus
    attempt: GrantAttempt | None = None  # a grant in progress


def service_lines(
    services: list[ProtectedService], scope: Scope, attempts: Iterable[GrantAttempt] = ()
) -> list[ServiceLine]:
    """One line per service, with the grant in progress of each (`attempts`: those in flight)."""
    in_flight = {attempt.service_id: attempt for attempt in attempts}
    return [
        ServiceLine(
            service,
            shown_status(service, scope, grant_in_progress=service.pk in in_flight),
            in_flight.get(service.pk),
        )
        for service in services
    ]
