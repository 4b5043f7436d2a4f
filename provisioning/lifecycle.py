"""The end of an organization's data: offboarding, the retention purge and the client secret's expiry warnings."""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.admin_log import record_support_event
from audit.models import Action, AuditEvent
from audit.services import record_event
from provisioning.credential import email_staff
from provisioning.models import (
    ACTIVE_SYNC_STATUSES,
    AppCredentialHealth,
    ConnectionIncident,
    DirectoryDomain,
    DirectoryGroup,
    DirectoryUser,
    GrantAttempt,
    GroupMembership,
    SelectedUser,
    ServiceAccount,
    SyncRun,
    SyncSettings,
)
from tenants.models import Invitation, Membership, ProtectedService, ServiceStatus, Tenant
from tenants.services import lock_organization

logger = logging.getLogger(__name__)

# Days before the client secret expires when staff are emailed, each once per expiry date.
SECRET_EXPIRY_WARNING_DAYS = (30, 7)

# Deleted at offboarding, in this order (children before what they name).
OFFBOARDED_MODELS = (
    GroupMembership,
    DirectoryUser,
    DirectoryGroup,
    DirectoryDomain,
    SelectedUser,
    SyncRun,
    ServiceAccount,
    GrantAttempt,
    ConnectionIncident,
    Invitation,
    Membership,
)


@transaction.atomic
def offboard_tenant(*, tenant: Tenant, actor, reason: str) -> dict[str, int]:
    """Delete what the organization's customers and Microsoft tenant brought; keep the organization and its audit.

    The Tenant row, its policies and sync settings (configuration) stay, every service reads Not granted and the
    Microsoft 365 tenant is unbound, so it could be granted again, to this or another organization. Returns how
    many rows of each kind were deleted. A sync batch in flight finds its run gone and writes nothing.
    """
    tenant = lock_organization(tenant.pk)
    deleted = {
        str(model._meta.verbose_name_plural): model._default_manager.filter(tenant=tenant).delete()[0]
        for model in OFFBOARDED_MODELS
    }
    ProtectedService.objects.filter(tenant=tenant).update(
        status=ServiceStatus.NOT_GRANTED, authorized_account="", granted_at=None, last_synced_at=None, last_error=""
    )
    SyncSettings.objects.filter(tenant=tenant).update(users_delta_link="", groups_delta_link="", last_scheduled_on=None)
    unbound = tenant.microsoft_tenant_id
    tenant.microsoft_tenant_id = None
    tenant.save(update_fields=["microsoft_tenant_id"])
    record_support_event(
        Action.ORGANIZATION_OFFBOARDED,
        actor=actor,
        reason=reason,
        tenant=tenant,
        target=tenant.name,
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
    latest_runs = SyncRun.objects.values("tenant").annotate(latest=Max("pk")).values("latest")
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


def secret_expiry_date() -> date | None:
    value = settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        logger.error("MICROSOFT_CLIENT_SECRET_EXPIRES_ON is not an ISO date: %r", value)
        return None


def warn_of_secret_expiry(today: date | None = None) -> int | None:
    """Email staff when the client secret expires within 30, then 7 days; returns the threshold warned of, if any.

    Each threshold is warned of once per expiry date, and the audit event is the memory of it. A check that
    starts late (5 days left) sends only the nearest warning (7 days), never a stale 30-day one as well.
    """
    expiry = secret_expiry_date()
    if expiry is None:
        return None
    today = today or timezone.now().date()
    days_left = (expiry - today).days
    due = [days for days in SECRET_EXPIRY_WARNING_DAYS if days_left <= days]
    if not due:
        return None
    threshold = min(due)
    with transaction.atomic():
        # One check at a time: the row lock serializes concurrent runs of the task.
        AppCredentialHealth.objects.select_for_update().get_or_create(client_id=settings.MICROSOFT_CLIENT_ID)
        warned = AuditEvent.objects.filter(
            action=Action.APP_CREDENTIAL_EXPIRY_WARNED,
            details__expires_on=expiry.isoformat(),
            details__threshold_days=threshold,
        ).exists()
        if warned:
            return None
        record_event(
            Action.APP_CREDENTIAL_EXPIRY_WARNED,
            actor=None,
            target=settings.MICROSOFT_CLIENT_ID or "",
            details={"expires_on": expiry.isoformat(), "threshold_days": threshold, "days_left": days_left},
        )
        _email_staff_of_expiry(expiry, days_left)  # inside: a failed email is retried by tomorrow's check
    return threshold


def _email_staff_of_expiry(expiry: date, days_left: int) -> None:
    when = f"expired on {expiry:%Y-%m-%d}" if days_left < 0 else f"expires on {expiry:%Y-%m-%d} ({days_left} days)"
    subject = f"The portal's Microsoft client secret {when}"
    body = (
        f"The client secret of application {settings.MICROSOFT_CLIENT_ID} {when}. When it expires, no organization "
        "can grant access or synchronize.\n\nCreate a new secret in Microsoft Entra, then update "
        "MICROSOFT_CLIENT_SECRET and MICROSOFT_CLIENT_SECRET_EXPIRES_ON (README: Deploying)."
    )
    email_staff(subject, body)
