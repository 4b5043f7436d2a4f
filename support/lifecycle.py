"""Offboarding an organization, and the daily purge of expired records."""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.admin_log import record_support_event
from audit.models import Action, AuditEvent
from audit.services import Actor
from connection.models import ConnectionIncident
from directory.models import ACTIVE_SYNC_STATUSES, SyncRun
from grant.models import GrantAttempt
from grant.removal import tear_down_connection
from organizations.models import Invitation, Membership, Organization
from organizations.services import lock_organization

logger = logging.getLogger(__name__)


# Deleted at offboarding after the connection's tear-down, in this order (children before what they name).
OFFBOARDED_MODELS = (SyncRun, GrantAttempt, ConnectionIncident, Invitation, Membership)


@transaction.atomic
def offboard_organization(*, organization: Organization, actor: Actor, reason: str) -> dict[str, int]:
    """Delete what the organization's customers and Microsoft tenant brought; keep the organization and its audit.

    The connection is torn down as by removing the last service (every service reads Not granted, the Microsoft
    365 tenant is unbound, so it could be granted again, to this or another organization), then the sync runs,
    grant attempts, incidents, invitations and members go. The Organization row, its policies and sync settings
    (configuration) stay. Returns how many rows of each kind were deleted. A sync batch in flight finds its run
    gone and writes nothing.

    Deleting every member, administrators included, is the one exception to the rule that an organization keeps
    at least one administrator: offboarding ends the organization's use of the portal.
    """
    organization = lock_organization(organization.pk)
    unbound = organization.microsoft_tenant_id
    deleted = tear_down_connection(organization=organization, actor=actor, reason=reason)
    for model in OFFBOARDED_MODELS:
        deleted[str(model._meta.verbose_name_plural)] = model._default_manager.filter(
            organization=organization
        ).delete()[0]
    record_support_event(
        Action.ORGANIZATION_OFFBOARDED,
        actor=actor,
        reason=reason,
        organization=organization,
        target=organization.name,
        microsoft_tenant_id=str(unbound) if unbound else "",
        deleted=deleted,
    )
    return deleted


@dataclass(frozen=True)
class Purged:
    audit_events: int
    sync_runs: int


def purge_expired_records(now: datetime | None = None) -> Purged:
    """Enforce AUDIT_RETENTION_DAYS and SYNC_RUN_RETENTION_DAYS.

    Each organization's latest sync run is kept whatever its age: its pages show the last synchronization.
    """
    now = now or timezone.now()
    audit_cutoff = now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    run_cutoff = now - timedelta(days=settings.SYNC_RUN_RETENTION_DAYS)
    latest_runs = SyncRun.objects.values("organization").annotate(latest=Max("pk")).values("latest")
    with transaction.atomic():
        audit_events = AuditEvent.objects.purge_older_than(audit_cutoff)
        sync_runs, _ = (
            SyncRun.objects.filter(queued_at__lt=run_cutoff)
            .exclude(status__in=ACTIVE_SYNC_STATUSES)
            .exclude(pk__in=latest_runs)
            .delete()
        )
    purged = Purged(audit_events=audit_events, sync_runs=sync_runs)
    logger.info("Retention purge: %s audit events and %s sync runs deleted", audit_events, sync_runs)
    return purged


@shared_task(name="provisioning.purge_expired_records")
def purge_expired_records_daily() -> dict[str, int]:
    return asdict(purge_expired_records())
