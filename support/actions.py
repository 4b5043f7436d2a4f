"""Support actions on top of the grant, directory and connection services: each in one transaction, audited
with the staff member's reason so that the customer's Activity page shows it as done by support."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction

from audit.admin_log import record_support_event
from audit.models import Action
from audit.services import Actor, SupportAction
from casportal.errors import ActionRefused
from connection import services as connections
from directory import engine, runs
from directory.models import SyncRun
from grant import access
from grant import services as grants
from grant.models import IN_FLIGHT_STEPS, GrantAttempt
from grant.removal import tear_down_connection
from organizations.models import Organization, ProtectedService
from organizations.services import lock_organization
from support.staff import SupportActionRefused


@contextmanager
def _refused_as_for_customers() -> Iterator[None]:
    """A rule that refuses the customer's own action refuses support's, in the same words."""
    try:
        yield
    except ActionRefused as refusal:
        raise SupportActionRefused(str(refusal)) from refusal


@transaction.atomic
def cancel_stuck_grant(*, attempt: GrantAttempt, actor: Actor, reason: str) -> GrantAttempt:
    if attempt.step not in IN_FLIGHT_STEPS:
        raise SupportActionRefused(f"This grant attempt is not in progress ({attempt.get_step_display()}).")
    cancelled = grants.cancel_grant(
        service=attempt.service, actor=actor, support=SupportAction(Action.SUPPORT_GRANT_CANCELLED, reason)
    )
    if cancelled is None or cancelled.pk != attempt.pk:
        raise SupportActionRefused("This grant attempt is no longer in progress.")
    return cancelled


@transaction.atomic
def retry_failed_provisioning(*, service: ProtectedService, actor: Actor, reason: str) -> SyncRun:
    with _refused_as_for_customers():
        return access.retry_provisioning(
            service=service, actor=actor, support=SupportAction(Action.SUPPORT_PROVISIONING_RETRIED, reason)
        )


@transaction.atomic
def sync_now(*, organization: Organization, actor: Actor, reason: str) -> engine.SyncRequest:
    with _refused_as_for_customers():
        return runs.sync_now(
            organization=organization, actor=actor, support=SupportAction(Action.SUPPORT_SYNC_NOW, reason)
        )


@transaction.atomic
def check_connection_now(*, organization: Organization, actor: Actor, reason: str) -> str:
    found = connections.check_connection_now(organization=organization)
    record_support_event(
        Action.SUPPORT_CONNECTION_CHECKED,
        actor=actor,
        reason=reason,
        organization=organization,
        target=organization.name,
        found=found,
    )
    return found


@transaction.atomic
def mark_access_token_invalid(*, organization: Organization, actor: Actor, reason: str) -> None:
    with _refused_as_for_customers():
        connections.mark_access_token_invalid(
            organization=organization, actor=actor, support=SupportAction(Action.SUPPORT_TOKEN_MARKED_INVALID, reason)
        )


@transaction.atomic
def resend_invalid_token_email(*, organization: Organization, actor: Actor, reason: str) -> int:
    with _refused_as_for_customers():
        sent = connections.resend_invalid_token_email(organization=organization)
    record_support_event(
        Action.SUPPORT_INVALID_TOKEN_EMAIL_RESENT,
        actor=actor,
        reason=reason,
        organization=organization,
        target=organization.name,
        recipients=sent,
    )
    return sent


@transaction.atomic
def release_microsoft_tenant(*, organization: Organization, actor: Actor, reason: str) -> dict[str, int]:
    """Unbind the organization's Microsoft 365 tenant so that another organization can grant it; members stay.

    What a grant refused with microsoft_tenant_taken leads to: the connection is torn down as by removing the
    last service, and the unbinding shows on the customer's Activity page as done by support, with the reason.
    """
    organization = lock_organization(organization.pk)
    if organization.microsoft_tenant_id is None:
        raise SupportActionRefused("This organization is not connected to a Microsoft 365 tenant.")
    return tear_down_connection(organization=organization, actor=actor, reason=reason)
