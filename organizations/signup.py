"""Sign-up is an invitation's last step: allauth's account adapter opens it to the invitation's holder only."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.adapters import AccountAdapter
from organizations import services
from organizations.invitations import pending_invitation


class InvitationAccountAdapter(AccountAdapter):
    """Sign-up is closed except to the holder of a valid invitation; logins keep the portal's limits."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return pending_invitation(request) is not None

    def clean_email(self, email: str) -> str:
        invitation = pending_invitation(self.request) if self.request else None
        if invitation is None:
            return email
        if email.lower() != invitation.email.lower():
            raise ValidationError(f"This invitation is for {invitation.email}: sign up with that address.")
        # Before allauth's uniqueness check, which counts unverified addresses too.
        services.release_unverified_address(invitation=invitation)
        return email
