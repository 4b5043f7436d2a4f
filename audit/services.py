from typing import Any

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from audit.context import current_request
from audit.models import Action, AuditEvent
from organizations.models import Organization


def record_event(
    action: Action,
    *,
    actor: User | AnonymousUser | None,
    organization: Organization | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit event; call it inside the transaction of the change it records."""
    context = current_request.get()
    user = actor if isinstance(actor, User) else None
    return AuditEvent.objects.create(
        action=action,
        actor=user,
        actor_email=user.email if user else "",
        organization=organization,
        target=target[:300],
        ip_address=context.ip_address if context else None,
        user_agent=context.user_agent if context else "",
        details=details or {},
    )
