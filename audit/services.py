from dataclasses import dataclass
from typing import Any, TypeAlias

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models

from audit.context import current_request
from audit.models import Action, AuditEvent

# Who did it: a signed-in user (customer or staff), an anonymous visitor, or the portal itself (None).
Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None


@dataclass(frozen=True)
class SupportAction:
    """A service function run by support staff: its event is this support action, with the staff member's reason,
    so that one action is one event on the customer's Activity page."""

    action: Action
    reason: str


def record_event(
    action: Action,
    *,
    actor: Actor,
    organization: models.Model | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
    with_request: bool = True,
    support: SupportAction | None = None,
) -> AuditEvent:
    """Append an audit event; call it inside the transaction of the change it records.

    `with_request=False` leaves the request's IP address and user agent out: for an event an organization reads
    about someone who is not one of its members.
    """
    if support is not None:
        action, details = support.action, {**(details or {}), "support": True, "reason": support.reason}
    context = current_request.get() if with_request else None
    user = actor if isinstance(actor, AbstractBaseUser) else None
    return AuditEvent.objects.create(
        action=action,
        actor_id=user.pk if user else None,
        actor_email=getattr(user, "email", "") if user else "",
        organization_id=organization.pk if organization else None,
        target=target[:300],
        ip_address=context.ip_address if context else None,
        user_agent=context.user_agent if context else "",
        details=details or {},
    )
