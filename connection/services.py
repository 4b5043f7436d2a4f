"""Support's and the portal's actions on a customer's connection."""

from django.db import transaction

from audit.services import Actor, SupportAction
from casportal.errors import ActionRefused
from connection.health import (
    CONSENT_BROKEN,
    open_incident,
    probe_connection,
    record_connection_broken,
    send_invalid_token_email,
)
from connection.models import ServiceAccount
from organizations.models import Organization


class NotConnected(ActionRefused):
    """The organization's connection is not in the state the action needs."""


@transaction.atomic
def mark_access_token_invalid(
    *, organization: Organization, actor: Actor, support: SupportAction | None = None
) -> None:
    if not ServiceAccount.objects.filter(organization=organization).exists():
        raise NotConnected("This organization has no Microsoft 365 service with access.")
    if open_incident(organization) is not None:
        raise NotConnected("The access token of this organization is already marked invalid.")
    record_connection_broken(
        organization=organization, reason=CONSENT_BROKEN, error_code="support", actor=actor, support=support
    )


def resend_invalid_token_email(*, organization: Organization) -> int:
    incident = open_incident(organization)
    if incident is None:
        raise NotConnected("The access token of this organization is not invalid.")
    return send_invalid_token_email(incident.pk)


def check_connection_now(*, organization: Organization) -> str:
    """Probe the connection at once (as the hourly health probe does); returns what it found."""
    return probe_connection(organization.pk)
