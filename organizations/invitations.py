"""Invitation tokens: only a hash is stored; the token travels in the link and, during sign-up, the session."""

import hashlib
import secrets

from django.http import HttpRequest
from django.utils import timezone

from organizations.models import Invitation

PENDING_INVITATION_SESSION_KEY = "tenants.pending_invitation"


def new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_invitation_for_token(token: str) -> Invitation | None:
    """The invitation the token names if it can still be accepted: not used, revoked or expired."""
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(
            token_hash=hash_token(token),
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )


def pending_invitation(request: HttpRequest) -> Invitation | None:
    token = request.session.get(PENDING_INVITATION_SESSION_KEY)
    return open_invitation_for_token(token) if token else None
