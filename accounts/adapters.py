from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django.http import HttpRequest

from accounts import loginlimits
from casportal.clientip import rate_limit_address
from casportal.crypto import decrypt_str, encrypt_str


def _login(credentials: dict[str, Any]) -> str:
    # The account named in the form, as allauth reads it for its own limits.
    return str(credentials.get("email", credentials.get("username", "")))


class AccountAdapter(DefaultAccountAdapter):
    """The portal's login limits on top of allauth's; the invitation sign-up adapter builds on this one."""

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth keys its per-"key" failed-login limit (and its clearing after a password reset) on this: per
        # account and client address, so failures from one address never lock the account out at the others.
        return f"{super()._get_login_attempts_cache_key(request, **credentials)}:{rate_limit_address(request)}"

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        super().pre_authenticate(request, **credentials)  # a refused attempt ends here, without a wait
        loginlimits.wait_before_attempt(_login(credentials))

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        super().authentication_failed(request, **credentials)
        loginlimits.record_failure(_login(credentials))


class MFAAdapter(DefaultMFAAdapter):
    """TOTP secrets are encrypted at rest with the portal's field encryption keys."""

    def encrypt(self, text: str) -> str:
        return encrypt_str(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt_str(encrypted_text)
