"""Encryption at rest for secrets and token caches: MultiFernet over FIELD_ENCRYPTION_KEYS."""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import Expression


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must hold url-safe base64 32-byte keys (Fernet.generate_key())."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_str(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt_str(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS.") from exc


class EncryptedTextField(models.TextField):
    """Text stored encrypted; reads decrypt with any configured key, writes use the first."""

    def from_db_value(
        self,
        value: str | None,
        expression: Expression,  # noqa: ARG002 (Django's signature)
        connection: BaseDatabaseWrapper,  # noqa: ARG002
    ) -> str | None:
        if value is None or value == "":
            return value
        return decrypt_str(value)

    def get_prep_value(self, value: object) -> str | None:
        prepared: str | None = super().get_prep_value(value)
        if prepared is None or prepared == "":
            return prepared
        return encrypt_str(prepared)
