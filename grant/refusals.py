"""How a grant ends when it cannot go on: the refusals the admin reads, recorded on the attempt and audited."""

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeGuard

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.actors import user_of
from accounts.models import User
from audit.models import Action
from audit.services import Actor, record_event
from connection.credential import record_credential_rejected_by
from directory.normalize import clean_text
from grant.models import IN_FLIGHT_STEPS, GrantAttempt, GrantStep
from grant.waiting import WaitStep
from microsoft import errors
from organizations.models import Membership, Organization, Role

# AADSTS90094: the account that signed in may not grant the permissions (not an administrator).
ADMIN_APPROVAL_REQUIRED_CODE = 90094
# Refusals of the account that signed in at Microsoft (not a Global Administrator, another tenant): the next attempt
# lets the admin choose another account.
WRONG_ACCOUNT_REASONS = frozenset(
    {
        "admin_approval_required",
        "consent_declined",
        "not_global_admin",
        "other_microsoft_tenant",
        "microsoft_tenant_taken",
        "identity_organization_mismatch",
    }
)


class GrantRefused(Exception):
    """The grant cannot go on; `message` says what happened and `advice` what to do, for the admin. The organization
    and service are those of the attempt, when the callback named one."""

    def __init__(
        self,
        message: str,
        advice: str = "",
        *,
        code: str,
        organization_slug: str | None = None,
        service_kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.advice = advice
        self.code = code
        self.organization_slug = organization_slug
        self.service_kind = service_kind


class GrantRuleViolation(Exception):
    """A grant cannot start; the message explains the rule."""


class GrantInProgress(Exception):
    """Another attempt for the same service is under way."""

    def __init__(self, attempt: GrantAttempt) -> None:
        super().__init__(f"A grant of {attempt.service} is in progress.")
        self.attempt = attempt


class GrantOutcome(StrEnum):
    """Where a grant stands after the identity leg or a later access check."""

    WAITING = "waiting"
    BOUND = "bound"
    ENDED = "ended"


@dataclass(frozen=True)
class CallbackResult:
    attempt: GrantAttempt
    redirect_to: str | None = None  # Microsoft again: the identity leg, interactively


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def is_admin(user: Actor, organization: Organization) -> TypeGuard[User]:
    """An administrator is a member, so a signed-in user."""
    member = user_of(user)
    return (
        member is not None
        and Membership.objects.filter(organization=organization, user=member, role=Role.ADMIN).exists()
    )


def reject(attempt: GrantAttempt | None, user: Actor, reason: str, message: str, advice: str = "") -> GrantRefused:
    """Record a refused callback (audited for a signed-in user) and build the exception to raise.

    The attempt's organization reads who opened the link only when they are one of its members: someone of
    another organization is named to staff alone (an event without organization), never to the customer.
    """
    message = clean_text(message, 2000)[0]  # it may quote what Microsoft (or a forger) put in the query
    with transaction.atomic():
        if attempt is not None and attempt.step in IN_FLIGHT_STEPS:
            GrantAttempt.objects.filter(pk=attempt.pk).update(
                step=GrantStep.REFUSED,
                state_hash=None,
                error=message,
                refusal_code=reason,
                finished_at=timezone.now(),
            )
        member = user_of(user)
        if member is not None:
            details = {"reason": reason, **({"attempt": str(attempt.public_id)} if attempt else {})}
            if attempt is None:
                record_event(Action.GRANT_CALLBACK_REJECTED, actor=member, organization=None, details=details)
            elif Membership.objects.filter(organization=attempt.organization, user=member).exists():
                record_event(
                    Action.GRANT_REFUSED,
                    actor=member,
                    organization=attempt.organization,
                    target=attempt.service.get_kind_display(),
                    details=details,
                )
            else:
                record_event(
                    Action.GRANT_REFUSED,
                    actor=None,
                    organization=attempt.organization,
                    target=attempt.service.get_kind_display(),
                    details={**details, "opened_by": "someone outside this organization"},
                    with_request=False,
                )
                record_event(Action.GRANT_CALLBACK_REJECTED, actor=member, organization=None, details=details)
    return GrantRefused(
        message,
        advice,
        code=reason,
        organization_slug=attempt.organization.slug if attempt else None,
        service_kind=attempt.service.kind if attempt else None,
    )


def microsoft_refusal(attempt: GrantAttempt, user: Actor, exc: errors.MicrosoftError) -> GrantRefused:
    """Explain what Microsoft answered at either leg, in the admin's terms."""
    if isinstance(exc, errors.ConsentDeclined) and exc.code == ADMIN_APPROVAL_REQUIRED_CODE:
        # Microsoft's "Need admin approval" page: the account may not grant application permissions, and its user
        # went back with "Return to the application without granting consent".
        return reject(
            attempt,
            user,
            "admin_approval_required",
            "Access was not granted: Microsoft reports that the account that signed in may not grant these "
            "permissions (only a Global Administrator can), and it returned without granting them.",
            "If you are not an administrator of your Microsoft 365 tenant, ask a Global Administrator to grant access "
            "from casportal. If you are one, try again and sign in with your Global Administrator account.",
        )
    if isinstance(exc, errors.ConsentDeclined):
        # A declining administrator and a non-administrator who went back without consent can send the same
        # answer, so the message names both.
        return reject(
            attempt,
            user,
            "consent_declined",
            "Microsoft reports that the permissions were not granted: either the administrator declined them, "
            "or the account that signed in is not an administrator and returned without consent.",
            "If you declined, try again, sign in as a Global Administrator and accept the permissions. If you are "
            "not an administrator of your Microsoft 365 tenant, ask a Global Administrator to grant access.",
        )
    if isinstance(exc, errors.AppCredentialInvalid):
        return credential_rejected(attempt, user, exc)
    if isinstance(exc, errors.InvalidState):
        return reject(
            attempt, user, "state_mismatch", "This sign-in link is not valid.", "Start again from Service Status."
        )
    if isinstance(exc, errors.TransientError):
        return reject(
            attempt,
            user,
            "microsoft_unavailable",
            "Microsoft's sign-in service did not answer, so the grant could not be completed.",
            "Try again in a few minutes.",
        )
    return reject(
        attempt,
        user,
        "microsoft_error",
        f"Microsoft did not complete the sign-in: {exc.message[:300] or 'no details given'}",
        "Try again; if it keeps failing, contact the service team with the time of the attempt.",
    )


def not_global_admin(attempt: GrantAttempt, user: Actor, username: str) -> GrantRefused:
    return reject(
        attempt,
        user,
        "not_global_admin",
        f"{username} is not a Global Administrator of the Microsoft 365 tenant.",
        "Only a Global Administrator can grant access. Sign in with a Global Administrator account.",
    )


def role_not_checked(attempt: GrantAttempt, user: Actor, username: str) -> GrantRefused:
    return reject(
        attempt,
        user,
        "role_not_checked",
        f"casportal could not check that {username} is a Global Administrator: Microsoft did not list the "
        "members of the Global Administrator role.",
        "Grant access again in a few minutes; if it keeps failing, contact the service team.",
    )


def access_not_activated(
    attempt: GrantAttempt, user: Actor, step: WaitStep, exc: errors.MicrosoftError
) -> GrantRefused:
    """The wait's budget is spent and Microsoft still answers as it does while a consent propagates. Read on the
    attempt's own page, after the fact, so the message carries what to do."""
    said = f" (Microsoft answered {exc.code_label})" if exc.code_label else ""
    return reject(
        attempt,
        user,
        "access_not_activated",
        f"Microsoft did not activate the permissions in time ({settings.GRANT_ACCESS_WAIT_SECONDS} s), so access "
        f"could not be verified: at the last check, {step.still}{said}. The permissions you accepted stay granted "
        "in Microsoft 365: this sometimes takes Microsoft a few minutes, so wait a little, then grant access again.",
    )


def access_refused(attempt: GrantAttempt, user: Actor, exc: errors.MicrosoftError) -> GrantRefused:
    """Microsoft refused the portal's access after the consent for a reason other than propagation."""
    return reject(
        attempt,
        user,
        "access_refused",
        f"Microsoft refused casportal's access to your Microsoft 365 tenant: {exc.answer[:300]} In the Microsoft "
        "Entra admin center, check that casportal is listed under Enterprise applications and enabled for users to "
        "sign in, then grant access again.",
    )


def credential_rejected(attempt: GrantAttempt, user: Actor, exc: errors.AppCredentialInvalid) -> GrantRefused:
    record_credential_rejected_by(exc)
    return reject(
        attempt,
        user,
        "app_credential_invalid",
        "Granting access is temporarily unavailable; the service team has been alerted.",
        "Nothing in your Microsoft 365 tenant needs to change. Please try again later.",
    )
