"""The customer's connection: broken when their consent is (revoked, service principal deleted or disabled),
repaired by Recreate Access Token. The portal's own credential is another matter: see `credential.py`."""

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, SupportAction, record_event
from connection.credential import record_credential_accepted, record_credential_rejected_by
from connection.models import ConnectionIncident, ServiceAccount
from microsoft import errors, graph
from organizations.models import Organization, ProtectedService, ServiceStatus
from organizations.services import email_admins, lock_organization

CONSENT_BROKEN = (
    "Microsoft no longer lets casportal access your Microsoft 365 tenant: the permissions were withdrawn, "
    "or the casportal application was disabled or deleted in Microsoft Entra. "
    "Use Recreate Access Token to grant access again; your settings and synchronized data are kept."
)


def open_incident(organization: Organization) -> ConnectionIncident | None:
    return ConnectionIncident.objects.filter(organization=organization, closed_at__isnull=True).first()


@transaction.atomic
def record_connection_broken(
    *,
    organization: Organization,
    reason: str,
    error_code: str = "",
    actor: Actor = None,
    support: SupportAction | None = None,
) -> ConnectionIncident:
    """Every granted Microsoft 365 service of the organization turns Access token invalid; admins hear once."""
    organization = lock_organization(organization.pk)
    ProtectedService.objects.filter(organization=organization, service_account__isnull=False).exclude(
        status=ServiceStatus.ACCESS_TOKEN_INVALID
    ).update(status=ServiceStatus.ACCESS_TOKEN_INVALID, last_error=reason)
    incident = open_incident(organization)
    if incident is not None:
        return incident
    incident = ConnectionIncident.objects.create(organization=organization, reason=reason, error_code=error_code[:64])
    record_event(
        Action.CONNECTION_BROKEN,
        actor=actor,
        organization=organization,
        target=organization.name,
        details={"reason": reason, "error_code": error_code},
        support=support,
    )
    transaction.on_commit(lambda: send_invalid_token_email(incident.pk))
    return incident


def send_invalid_token_email(incident_id: int) -> int:
    """Tell the organization's admins what happened and what to do; returns how many were emailed."""
    incident = ConnectionIncident.objects.select_related("organization").get(pk=incident_id)
    organization = incident.organization
    emailed = email_admins(
        organization,
        subject=f"Action needed: casportal can no longer access {organization.name}'s Microsoft 365",
        template="connection/email/access_token_invalid.txt",
        context={
            "incident": incident,
            "service_status_url": settings.PORTAL_BASE_URL + reverse("service_status", args=[organization.slug]),
        },
    )
    if emailed:
        ConnectionIncident.objects.filter(pk=incident.pk).update(emailed_at=timezone.now())
    return emailed


@transaction.atomic
def record_connection_restored(*, organization: Organization) -> None:
    """After a successful synchronization: invalid services are protected again and the incident closes."""
    now = timezone.now()
    restored = ProtectedService.objects.filter(
        organization=organization, status=ServiceStatus.ACCESS_TOKEN_INVALID, service_account__isnull=False
    ).update(status=ServiceStatus.PROTECTED, last_error="", last_synced_at=now)
    closed = ConnectionIncident.objects.filter(organization=organization, closed_at__isnull=True).update(closed_at=now)
    if restored or closed:
        record_event(Action.CONNECTION_RESTORED, actor=None, organization=organization, target=organization.name)


def probe_connection(organization_id: int) -> str:
    """Read `/organization` with a fresh app-only token; a broken consent is recorded between syncs."""
    organization = Organization.objects.get(pk=organization_id)
    if (
        organization.microsoft_tenant_id is None
        or not ServiceAccount.objects.filter(organization=organization).exists()
    ):
        return "not-connected"
    client = graph.GraphClient(str(organization.microsoft_tenant_id), fresh_token=True)
    try:
        client.tenant_details()
    except errors.AppCredentialInvalid as exc:
        record_credential_rejected_by(exc)
        return "credential-rejected"
    except errors.ConsentRevoked as exc:
        record_connection_broken(organization=organization, reason=CONSENT_BROKEN, error_code=str(exc.code or ""))
        return "consent-broken"
    except (errors.Throttled, errors.TransientError):
        return "unknown"
    record_credential_accepted()
    return "ok"


@shared_task(name="provisioning.probe_connections")
def probe_connections() -> int:
    """Queue a health probe for every connected organization, so a revoked consent is found between syncs."""
    organization_ids = set(ServiceAccount.objects.values_list("organization_id", flat=True))
    for organization_id in organization_ids:
        probe_connection_later.delay(organization_id)
    return len(organization_ids)


@shared_task(name="provisioning.probe_connection")
def probe_connection_later(organization_id: int) -> str:
    return probe_connection(organization_id)
