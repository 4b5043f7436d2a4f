"""The expiry of the portal's client secret: read once, warned of ahead."""

import logging
from datetime import date

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import Action, AuditEvent
from audit.services import record_event
from connection.credential import email_staff
from connection.models import AppCredentialHealth

logger = logging.getLogger(__name__)


def secret_expiry_date() -> date | None:
    """MICROSOFT_CLIENT_SECRET_EXPIRES_ON, or None when unset; ValueError when it is not an ISO date."""
    value = settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"MICROSOFT_CLIENT_SECRET_EXPIRES_ON is not an ISO date ({value!r}).") from exc


def warning_threshold(days_left: int) -> int | None:
    """The nearest of MICROSOFT_CLIENT_SECRET_WARNING_DAYS reached with `days_left` days to go, if any."""
    due = [days for days in settings.MICROSOFT_CLIENT_SECRET_WARNING_DAYS if days_left <= days]
    return min(due) if due else None


def warn_of_secret_expiry(today: date | None = None) -> int | None:
    """Email staff at each of MICROSOFT_CLIENT_SECRET_WARNING_DAYS (30, then 7) before the client secret expires;
    returns the threshold warned of, if any.

    Each threshold is warned of once per expiry date, and the audit event is the memory of it. A check that
    starts late (5 days left) sends only the nearest warning (7 days), never a stale 30-day one as well.
    """
    try:
        expiry = secret_expiry_date()
    except ValueError as exc:
        logger.error("%s", exc)
        return None
    if expiry is None:
        return None
    today = today or timezone.now().date()
    days_left = (expiry - today).days
    threshold = warning_threshold(days_left)
    if threshold is None:
        return None
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


@shared_task(name="provisioning.warn_of_secret_expiry")
def warn_of_secret_expiry_daily() -> int | None:
    return warn_of_secret_expiry()
