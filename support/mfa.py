"""Support actions on portal users: their two-factor authentication."""

from allauth.mfa.models import Authenticator
from django.db import transaction

from accounts.models import User
from audit.admin_log import record_support_event
from audit.models import Action
from audit.services import Actor
from organizations.models import Organization
from support.staff import SupportActionRefused


@transaction.atomic
def reset_mfa(*, user: User, actor: Actor, reason: str) -> int:
    """Delete a user's authenticators (TOTP, recovery codes) after support checked their identity out of band.

    Recorded in every organization the user belongs to, so each one's administrators see it.
    """
    deleted, _ = Authenticator.objects.filter(user=user).delete()
    if not deleted:
        raise SupportActionRefused(f"{user.email} has no two-factor authentication to reset.")
    organizations: list[Organization | None] = [*Organization.objects.of_member(user)] or [None]
    for organization in organizations:
        record_support_event(
            Action.SUPPORT_MFA_RESET, actor=actor, reason=reason, organization=organization, target=user.email
        )
    return deleted
