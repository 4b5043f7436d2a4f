"""Tokens the simulator issues: JWTs signed with a simulator-only key (HS256), checked again by its Graph.

Microsoft signs with RS256 and publishes its keys; MSAL does not verify ID token signatures and Graph tokens
are opaque to clients, so a symmetric key keeps the simulator self-contained.
"""

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from django.conf import settings

KEY_ID = "m365sim"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key() -> bytes:
    return hashlib.sha256(b"m365sim-token-key:" + settings.SECRET_KEY.encode()).digest()


def encode_jwt(claims: dict[str, Any]) -> str:
    header = b64url(json.dumps({"typ": "JWT", "alg": "HS256", "kid": KEY_ID}).encode())
    payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(_key(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def decode_jwt(token: str) -> dict[str, Any] | None:
    """The claims of a token this simulator signed, or None for anything else."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(_key(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, b64url_decode(signature)):
            return None
        claims = json.loads(b64url_decode(payload))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


def client_info(oid: str, tid: str) -> str:
    # MSAL requires it in token responses when it sent client_info=1.
    return b64url(json.dumps({"uid": oid, "utid": tid}).encode())


def pkce_s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def opaque(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)
