from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from casportal.crypto import decrypt_str, encrypt_str


class AccountAdapter(DefaultAccountAdapter):
    """Sign-up is closed except to the holder of a valid invitation."""

    def is_open_for_signup(self, request: HttpRequest) -> bool:
        from organizations.invitations import pending_invitation

        return pending_invitation(request) is not None

    def clean_email(self, email: str) -> str:
        from organizations.invitations import pending_invitation

        invitation = pending_invitation(self.request) if self.request else None
        if invitation is not None and email.lower() != invitation.email.lower():
            raise ValidationError(f"This invitation is for {invitation.email}: sign up with that address.")
        return email


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets are encrypted at rest with the portal's field encryption keys."""

    def encrypt(self, text: str) -> str:
        return encrypt_str(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt_str(encrypted_text)
