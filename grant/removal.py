"""Remove a service's access grant; with the last one, the connection to the Microsoft tenant is torn down."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.admin_log import record_support_event
from audit.models import Action
from audit.services import Actor, record_event
from casportal.errors import ActionRefused
from connection.models import ConnectionIncident, ServiceAccount
from directory.models import (
    ACTIVE_SYNC_STATUSES,
    DirectoryDomain,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    SelectedUser,
    SyncRun,
    SyncSettings,
    SyncStatus,
)
from directory.runs import SyncRefused
from grant.models import IN_FLIGHT_STEPS, GrantAttempt, GrantStep
from organizations.models import Organization, ProtectedService, ServiceStatus
from organizations.services import lock_organization

# What the Microsoft tenant brought, deleted when the connection ends; children before what they name.
CONNECTION_MODELS = (GroupMembership, DirectoryUser, DirectoryGroup, DirectoryDomain, SelectedUser, ServiceAccount)
# Besides the service's name, what confirms a removal that deletes the synchronized directory.
CONFIRMATION_WORD = "DELETE"


class RemovalNotConfirmed(ActionRefused):
    """The removal would delete synchronized data and what was typed does not confirm it; nothing was removed."""


@dataclass(frozen=True)
class RemovalPreview:
    """What Remove of a service deletes besides its service account: with the last one, the directory."""

    last: bool
    users: int = 0
    groups: int = 0
    memberships: int = 0
    chosen_users: int = 0

    @property
    def deletes_data(self) -> bool:
        return self.last and any((self.users, self.groups, self.memberships, self.chosen_users))


def preview_removal(service: ProtectedService) -> RemovalPreview:
    organization_id = service.organization_id
    if ServiceAccount.objects.filter(organization_id=organization_id).exclude(service=service).exists():
        return RemovalPreview(last=False)
    return RemovalPreview(
        last=True,
        users=DirectoryUser.objects.filter(organization_id=organization_id).count(),
        groups=DirectoryGroup.objects.filter(organization_id=organization_id).count(),
        memberships=GroupMembership.objects.filter(organization_id=organization_id).count(),
        chosen_users=SelectedUser.objects.filter(organization_id=organization_id).count(),
    )


def confirms(service: ProtectedService, typed: str) -> bool:
    return typed.strip().casefold() in (service.get_kind_display().casefold(), CONFIRMATION_WORD.casefold())


def tear_down_connection(*, organization: Organization, actor: Actor, reason: str = "") -> dict[str, int]:
    """End the organization's connection to its Microsoft tenant; the caller holds the organization's lock.

    Sync runs under way stop, grants in flight are cancelled, the service accounts and the directory are
    deleted, open connection incidents close, every service reads Not granted and the tenant is unbound
    (audited; as done by support when a reason is given). Members, policies and sync settings stay. Returns how
    many rows of each kind were deleted.
    """
    now = timezone.now()
    SyncRun.objects.filter(organization=organization, status__in=ACTIVE_SYNC_STATUSES).update(
        status=SyncStatus.FAILED,
        finished_at=now,
        error="Access was removed.",
        lease_expires_at=None,
        groups_lease_expires_at=None,
    )
    GrantAttempt.objects.filter(organization=organization, step__in=IN_FLIGHT_STEPS).update(
        step=GrantStep.CANCELLED, state_hash=None, finished_at=now
    )
    deleted = {
        str(model._meta.verbose_name_plural): model._default_manager.filter(organization=organization).delete()[0]
        for model in CONNECTION_MODELS
    }
    ProtectedService.objects.filter(organization=organization).update(
        status=ServiceStatus.NOT_GRANTED, authorized_account="", granted_at=None, last_synced_at=None, last_error=""
    )
    SyncSettings.objects.filter(organization=organization).update(
        users_delta_link="", groups_delta_link="", last_scheduled_on=None, next_due_at=None
    )
    ConnectionIncident.objects.filter(organization=organization, closed_at__isnull=True).update(closed_at=now)
    unbound = organization.microsoft_tenant_id
    if unbound is not None:
        organization.microsoft_tenant_id = None
        organization.save(update_fields=["microsoft_tenant_id"])
        unbind = Action.MICROSOFT_TENANT_UNBOUND
        if reason:
            record_support_event(unbind, actor=actor, reason=reason, organization=organization, target=str(unbound))
        else:
            record_event(unbind, actor=actor, organization=organization, target=str(unbound))
    return deleted


@transaction.atomic
def remove_service(*, service: ProtectedService, actor: Actor, confirmation: str = "") -> bool:
    """Delete the service account; with the last one, tear the connection down, which deletes the synchronized
    directory only when `confirmation` is the service's name or DELETE (decided under the organization's lock, so
    a service removed meanwhile elsewhere cannot make this one the last unseen).

    Returns whether it was the last. Policies stay (they are the organization's configuration).
    """
    organization = lock_organization(service.organization_id)
    service = ProtectedService.objects.select_for_update().get(pk=service.pk)
    if not ServiceAccount.objects.filter(service=service).exists():
        raise SyncRefused(f"{service.get_kind_display()} has no access grant to remove.")
    preview = preview_removal(service)
    if preview.deletes_data and not confirms(service, confirmation):
        name = service.get_kind_display()
        said = f"“{confirmation.strip()}” does not confirm it" if confirmation.strip() else "Nothing was typed"
        raise RemovalNotConfirmed(
            f"{said}: type {name} or {CONFIRMATION_WORD} to remove {name} and delete the synchronized directory. "
            "Nothing was removed."
        )
    ServiceAccount.objects.filter(service=service).delete()
    GrantAttempt.objects.filter(service=service, step__in=IN_FLIGHT_STEPS).update(
        step=GrantStep.CANCELLED, state_hash=None, finished_at=timezone.now()
    )
    service.status = ServiceStatus.NOT_GRANTED
    service.authorized_account = ""
    service.granted_at = service.last_synced_at = None
    service.last_error = ""
    service.save(update_fields=["status", "authorized_account", "granted_at", "last_synced_at", "last_error"])
    record_event(Action.SERVICE_REMOVED, actor=actor, organization=organization, target=service.get_kind_display())
    last = not ServiceAccount.objects.filter(organization=organization).exists()
    if last:
        tear_down_connection(organization=organization, actor=actor)
    return last
