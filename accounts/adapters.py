from allauth.mfa.adapter import DefaultMFAAdapter

from casportal.crypto import decrypt_str, encrypt_str


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets are encrypted at rest with the portal's field encryption keys."""

    def encrypt(self, text: str) -> str:
        return encrypt_str(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt_str(encrypted_text)
