"""The health of the portal's own application credential: one record that pages, checks and staff read."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit.models import Action
from audit.services import record_event
from connection.models import AppCredentialHealth, CredentialStatus
from microsoft.errors import AppCredentialInvalid

logger = logging.getLogger(__name__)


def current_health() -> AppCredentialHealth | None:
    return AppCredentialHealth.objects.filter(client_id=settings.MICROSOFT_CLIENT_ID).first()


def credential_rejected() -> bool:
    health = current_health()
    return health is not None and health.status == CredentialStatus.REJECTED


def readiness_check() -> str:
    """/readyz's credential check, not critical: a rejected secret degrades the portal but leaves it serving."""
    return "rejected" if credential_rejected() else "ok"


@transaction.atomic
def record_credential_rejected(*, error_code: str, description: str) -> AppCredentialHealth:
    """Microsoft refused the portal's client secret: no customer can fix that, so staff are told once."""
    health, _ = AppCredentialHealth.objects.select_for_update().get_or_create(client_id=settings.MICROSOFT_CLIENT_ID)
    now = timezone.now()
    newly_rejected = health.status != CredentialStatus.REJECTED
    health.status = CredentialStatus.REJECTED
    health.error_code = error_code
    health.error_description = description[:2000]
    health.checked_at = now
    if newly_rejected:
        health.rejected_since = now
        health.staff_alerted_at = now
        record_event(
            Action.APP_CREDENTIAL_REJECTED,
            actor=None,
            target=settings.MICROSOFT_CLIENT_ID or "",
            details={"error_code": error_code},
        )
        transaction.on_commit(lambda: _alert_staff(error_code, description))
    health.save()
    return health


def record_credential_accepted() -> None:
    AppCredentialHealth.objects.filter(client_id=settings.MICROSOFT_CLIENT_ID, status=CredentialStatus.REJECTED).update(
        status=CredentialStatus.OK, checked_at=timezone.now(), rejected_since=None, staff_alerted_at=None
    )


def _alert_staff(error_code: str, description: str) -> None:
    subject = "Microsoft rejects the portal's application credential"
    body = (
        f"Microsoft refused the client secret of application {settings.MICROSOFT_CLIENT_ID} "
        f"({error_code}): {description}\n\n"
        "Customers cannot grant access or synchronize until a valid secret is configured "
        "(MICROSOFT_CLIENT_SECRET, and MICROSOFT_CLIENT_SECRET_EXPIRES_ON for the new expiry date)."
    )
    email_staff(subject, body)


def email_staff(subject: str, body: str) -> None:
    """Tell the service team (STAFF_ALERT_EMAILS); without addresses, the log says it at ERROR instead."""
    if settings.STAFF_ALERT_EMAILS:
        send_mail(subject, body, None, settings.STAFF_ALERT_EMAILS)
    else:
        logger.error("%s; set STAFF_ALERT_EMAILS to be emailed. %s", subject, body)


def record_credential_rejected_by(exc: AppCredentialInvalid) -> AppCredentialHealth:
    """Record Microsoft's refusal of the portal's credential as Microsoft worded it."""
    return record_credential_rejected(error_code=f"AADSTS{exc.code}", description=exc.message)
