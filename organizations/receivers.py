from allauth.account.signals import user_signed_up
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import User
from organizations import services
from organizations.invitations import PENDING_INVITATION_SESSION_KEY, pending_invitation


@receiver(user_signed_up)
def join_invited_organization(*, request: HttpRequest, user: User, **kwargs: object) -> None:
    """Sign-up is only open to an invitation's holder; joining its organization completes it."""
    invitation = pending_invitation(request)
    request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
    if invitation is None:
        return
    services.accept_invitation(invitation=invitation, user=user)
