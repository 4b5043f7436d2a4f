"""Requests for a synchronization: Sync now, Extend to all users, and the rules they keep."""

from django.db import transaction

from audit.models import Action
from audit.services import Actor, SupportAction, record_event
from casportal.errors import ActionRefused
from connection.models import ServiceAccount
from directory.engine import SyncRequest, request_sync
from directory.models import (
    ACTIVE_SYNC_STATUSES,
    CERTAIN_USERS_REFUSED,
    SelectedUser,
    SyncKind,
    SyncMode,
    SyncRun,
    SyncSettings,
    SyncTrigger,
)
from organizations.models import Organization, ProtectedService, ServiceStatus


def sync_settings_for(organization: Organization) -> SyncSettings:
    """Every organization has its sync settings from the moment it exists (`directory.apps`)."""
    return SyncSettings.objects.get(organization=organization)


def fixed_sync_mode(organization: Organization) -> str | None:
    """The option in use once any Microsoft 365 service of the organization holds a grant."""
    if ServiceAccount.objects.filter(organization=organization).exists():
        return sync_settings_for(organization).mode
    return None


class SyncRefused(ActionRefused):
    """A synchronization that the rules do not allow; the message explains the rule."""


def latest_run(organization: Organization) -> SyncRun | None:
    """The organization's directory is one, shared by its services: so is its latest run."""
    return SyncRun.objects.filter(organization=organization).order_by("-queued_at", "-pk").first()


def first_connected_service(organization: Organization, *, synchronized: bool = False) -> ProtectedService | None:
    """The service a sync of the organization's directory runs under: the first that holds a grant with a valid
    access token; with `synchronized`, the first whose first synchronization has also succeeded (Protected)."""
    services = ProtectedService.objects.filter(organization=organization, service_account__isnull=False).exclude(
        status=ServiceStatus.ACCESS_TOKEN_INVALID
    )
    if synchronized:
        services = services.filter(status=ServiceStatus.PROTECTED)
    return services.order_by("kind").first()


def _connected_service(organization: Organization) -> ProtectedService:
    service = first_connected_service(organization)
    if service is None:
        if ProtectedService.objects.filter(
            organization=organization, status=ServiceStatus.ACCESS_TOKEN_INVALID
        ).exists():
            raise SyncRefused("The access token is invalid: use Recreate Access Token first.")
        raise SyncRefused("No Microsoft 365 service of this organization has been granted access yet.")
    return service


@transaction.atomic
def sync_now(*, organization: Organization, actor: Actor, support: SupportAction | None = None) -> SyncRequest:
    """Sync now (all-users mode only): a delta round, or a full one when there is none to continue."""
    if sync_settings_for(organization).mode == SyncMode.CERTAIN:
        raise SyncRefused(CERTAIN_USERS_REFUSED)
    return request_sync(
        service=_connected_service(organization),
        kind=SyncKind.DELTA,
        trigger=SyncTrigger.MANUAL,
        actor=actor,
        support=support,
    )


@transaction.atomic
def extend_to_all_users(*, organization: Organization, actor: Actor) -> SyncRequest:
    """Certain users → all users and groups, for every Microsoft 365 service at once, without a new grant."""
    settings_row = SyncSettings.objects.select_for_update().get(organization=organization)
    if settings_row.mode != SyncMode.CERTAIN:
        raise SyncRefused("This organization already synchronizes all users and groups.")
    service = _connected_service(organization)
    if SyncRun.objects.filter(organization=organization, status__in=ACTIVE_SYNC_STATUSES).exists():
        raise SyncRefused("A synchronization is running; extend to all users when it has finished.")
    chosen = list(SelectedUser.objects.filter(organization=organization).values_list("user_principal_name", flat=True))
    SelectedUser.objects.filter(organization=organization).delete()
    settings_row.mode = SyncMode.ALL
    settings_row.users_delta_link = settings_row.groups_delta_link = ""
    settings_row.save(update_fields=["mode", "users_delta_link", "groups_delta_link", "updated_at"])
    record_event(
        Action.SYNC_MODE_EXTENDED,
        actor=actor,
        organization=organization,
        target=organization.name,
        details={"previously_chosen_users": chosen},
    )
    return request_sync(service=service, kind=SyncKind.FULL, trigger=SyncTrigger.EXTEND, actor=actor)
