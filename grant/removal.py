"""Remove a service's access grant; with the last one, the Microsoft tenant is unbound and the directory deleted."""

from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import record_event
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
from organizations.models import ProtectedService, ServiceStatus
from organizations.services import lock_organization


@transaction.atomic
def remove_service(*, service: ProtectedService, actor) -> bool:
    """Delete the service account; with the last one, unbind the Microsoft tenant and delete the directory.

    Returns whether it was the last. Policies stay (they are the organization's configuration).
    """
    organization = lock_organization(service.organization_id)
    service = ProtectedService.objects.select_for_update().get(pk=service.pk)
    if not ServiceAccount.objects.filter(service=service).exists():
        raise SyncRefused(f"{service.get_kind_display()} has no access grant to remove.")
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
        SyncRun.objects.filter(organization=organization, status__in=ACTIVE_SYNC_STATUSES).update(
            status=SyncStatus.FAILED, finished_at=timezone.now(), error="Access was removed.", lease_expires_at=None
        )
        for model in (GroupMembership, DirectoryUser, DirectoryGroup, DirectoryDomain, SelectedUser):
            model.objects.filter(organization=organization).delete()
        SyncSettings.objects.filter(organization=organization).update(users_delta_link="", groups_delta_link="")
        ConnectionIncident.objects.filter(organization=organization, closed_at__isnull=True).update(
            closed_at=timezone.now()
        )
        unbound = organization.microsoft_tenant_id
        organization.microsoft_tenant_id = None
        organization.save(update_fields=["microsoft_tenant_id"])
        record_event(Action.MICROSOFT_TENANT_UNBOUND, actor=actor, organization=organization, target=str(unbound))
    return last
