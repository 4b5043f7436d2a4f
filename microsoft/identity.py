"""The portal's client of the Microsoft identity platform, through MSAL.

A ConfidentialClientApplication is built per use. Between processes only two things are shared, both through
Django's cache: the app-only token cache (encrypted) and the discovery documents. MSAL's own http_cache stays
per use, so a cached failure (a 400 for 60 s, a 429/5xx for Retry-After) never answers for another process.
"""

import datetime as dt
import hashlib
import logging
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlencode

import msal
import msal.exceptions
import requests
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from requests.structures import CaseInsensitiveDict

from casportal.crypto import decrypt_str, encrypt_str
from microsoft.errors import (
    AppCredentialInvalid,
    ConsentDeclined,
    ConsentRevoked,
    IdentityError,
    InteractionRequired,
    InvalidState,
    ServicePrincipalMissing,
    SignInFailed,
    TenantMismatch,
    TransientError,
)
from microsoft.http import MicrosoftSession

logger = logging.getLogger(__name__)

AUTHORITY_HOST = "https://login.microsoftonline.com"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"
IDENTITY_SCOPES = ["User.Read"]
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
DISCOVERY_TTL = 24 * 3600
DISCOVERY_SUFFIXES = ("/.well-known/openid-configuration", "/common/discovery/instance")
APP_TOKEN_CACHE_TTL = 3600

# AADSTS codes: https://learn.microsoft.com/entra/identity-platform/reference-error-codes
APP_CREDENTIAL_CODES = frozenset({7000215, 7000222})  # the portal's own secret is wrong or expired
# The token endpoint has no service principal of the portal in the customer's tenant: AADSTS7000229 (the client
# credentials answer, "missing service principal in the tenant") or AADSTS700016 (the reference's "application
# wasn't found in the directory/tenant"). Deleted, never consented, or a consent not yet replicated.
SERVICE_PRINCIPAL_MISSING_CODES = frozenset({7000229, 700016})
CUSTOMER_CODES = SERVICE_PRINCIPAL_MISSING_CODES | frozenset(
    {
        7000112,  # the application (service principal) is disabled there
        65001,  # no consent
        90002,  # the tenant does not exist (any more)
        500011,  # the resource principal is not found in the tenant
        50020,  # the user does not exist in the tenant
    }
)
INTERACTION_ERRORS = frozenset({"login_required", "interaction_required", "consent_required"})
# The admin-consent endpoint's documented answer when the administrator declines: error=consent_required with
# AADSTS65004 (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent#error-response).
CONSENT_DECLINED_CODE = 65004


# Results.


@dataclass(frozen=True)
class AdminConsent:
    tenant_id: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AdminIdentity:
    """Who completed the identity leg, from the ID token."""

    tenant_id: str
    object_id: str
    username: str
    display_name: str
    role_ids: frozenset[str]  # directory role template ids, from `wids`
    roles_in_token: bool  # False: the token has no `wids`; ask Graph for the role's members instead

    @property
    def is_global_admin(self) -> bool:
        return GLOBAL_ADMINISTRATOR in self.role_ids


@dataclass(frozen=True)
class AppToken:
    tenant_id: str
    access_token: str = field(repr=False)
    expires_at: dt.datetime


# The consent leg: a plain redirect, no MSAL.


def admin_consent_url(*, redirect_uri: str, state: str, tenant_id: str | None = None) -> str:
    """The admin-consent endpoint, for any work account (`organizations`) or for the tenant already connected.

    It takes only tenant, client_id, redirect_uri, state and scope, so the account is chosen at the identity leg:
    https://learn.microsoft.com/entra/identity-platform/v2-admin-consent#request-the-permissions-from-a-directory-admin
    """
    query = urlencode(
        {
            "client_id": settings.MICROSOFT_CLIENT_ID,
            "scope": GRAPH_DEFAULT_SCOPE,
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{settings.MICROSOFT_LOGIN_HOST}/{tenant_id or 'organizations'}/v2.0/adminconsent?{query}"


def parse_admin_consent(params: Mapping[str, str], *, expected_state: str) -> AdminConsent:
    if not expected_state or params.get("state") != expected_state:
        raise InvalidState("The consent callback's state does not match.")
    if "error" in params:
        _raise_browser_error(params)
    tenant_id = params.get("tenant", "")
    if params.get("admin_consent", "").lower() != "true" or not tenant_id:
        raise SignInFailed("Microsoft did not report an admin consent.")
    return AdminConsent(tenant_id=tenant_id, scopes=tuple(params.get("scope", "").split()))


# The identity leg: MSAL's authorization code flow, with PKCE, state and nonce.


def start_identity_leg(
    *, tenant_id: str, redirect_uri: str, prompt: str | None = "none", login_hint: str | None = None
) -> dict[str, Any]:
    """MSAL's flow (JSON-serializable), to keep server-side until the callback; the browser goes to `auth_uri`.

    `prompt` and `login_hint` as the authorize endpoint documents them ("select_account" offers the account picker
    even with a session; the hint pre-fills the sign-in page):
    https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code
    """
    app = _build_app(tenant_id, exclude_scopes=["offline_access"])
    with warnings.catch_warnings():
        # A cross-site form_post loses the portal's SameSite=Lax session cookie: query it is.
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
        return _call(
            lambda: app.initiate_auth_code_flow(
                IDENTITY_SCOPES, redirect_uri=redirect_uri, prompt=prompt, login_hint=login_hint, response_mode="query"
            )
        )


def finish_identity_leg(flow: Mapping[str, Any], params: Mapping[str, str], *, tenant_id: str) -> AdminIdentity:
    """Redeem the code with a throwaway token cache and no offline_access: no user refresh token is kept."""
    if "error" in params and params.get("state") == flow.get("state"):
        _raise_browser_error(params)
    app = _build_app(tenant_id, token_cache=msal.TokenCache(), exclude_scopes=["offline_access"])
    try:
        result = _call(lambda: app.acquire_token_by_auth_code_flow(dict(flow), dict(params)))
    except ValueError as exc:  # MSAL's state check
        raise InvalidState(str(exc)) from exc
    if "error" in result:
        _raise_token_error(result)
    claims = result.get("id_token_claims") or {}
    if claims.get("aud") != settings.MICROSOFT_CLIENT_ID or claims.get("exp", 0) < timezone.now().timestamp():
        raise SignInFailed("The ID token is not for this application or has expired.")
    if claims.get("tid") != tenant_id:
        raise TenantMismatch("The administrator signed in to another tenant than the one that consented.")
    return AdminIdentity(
        tenant_id=claims["tid"],
        object_id=claims["oid"],
        username=claims.get("preferred_username", ""),
        display_name=claims.get("name", ""),
        role_ids=frozenset(claims.get("wids", ())),
        roles_in_token="wids" in claims,
    )


# App-only tokens.


def acquire_app_token(tenant_id: str, *, fresh: bool = False) -> AppToken:
    """A client-credentials token for Graph in the customer's tenant; `fresh` bypasses the shared cache."""
    token_cache = msal.SerializableTokenCache()
    if not fresh:
        _load_token_cache(tenant_id, token_cache)
    app = _build_app(tenant_id, token_cache=token_cache)
    result = _call(lambda: app.acquire_token_for_client(scopes=[GRAPH_DEFAULT_SCOPE]))
    if "access_token" not in result:
        _raise_token_error(result)
    if token_cache.has_state_changed:
        cache.set(token_cache_key(tenant_id), encrypt_str(token_cache.serialize()), APP_TOKEN_CACHE_TTL)
    return AppToken(
        tenant_id=tenant_id,
        access_token=result["access_token"],
        expires_at=timezone.now() + dt.timedelta(seconds=int(result.get("expires_in", 0))),
    )


def token_cache_key(tenant_id: str) -> str:
    return f"msal:app-token-cache:{settings.MICROSOFT_CLIENT_ID}:{tenant_id}"


def _load_token_cache(tenant_id: str, token_cache: msal.SerializableTokenCache) -> None:
    blob = cache.get(token_cache_key(tenant_id))
    if not blob:
        return
    try:
        token_cache.deserialize(decrypt_str(blob))
    except (ImproperlyConfigured, ValueError):
        logger.warning("Discarding an unreadable app-only token cache for tenant %s.", tenant_id)


# MSAL plumbing.


class _DiscoverySharingSession(MicrosoftSession):
    """Keeps successful discovery documents (tenant and instance) in Django's cache for a day, as MSAL's
    http_cache would within one application."""

    def get(self, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        url = str(url)
        if not url.endswith(DISCOVERY_SUFFIXES):
            return super().get(url, *args, **kwargs)
        params = sorted((kwargs.get("params") or {}).items())
        key = "msal:discovery:" + hashlib.sha256(f"{self.reroute(url)} {params}".encode()).hexdigest()
        text = cache.get(key)
        if text is not None:
            response = requests.Response()
            response.status_code, response.url, response.encoding = 200, url, "utf-8"
            response._content = text.encode()
            response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
            return response
        response = super().get(url, *args, **kwargs)
        if response.status_code == HTTPStatus.OK:
            cache.set(key, response.text, DISCOVERY_TTL)
        return response


def _build_app(
    tenant: str, *, token_cache: msal.TokenCache | None = None, exclude_scopes: list[str] | None = None
) -> msal.ConfidentialClientApplication:
    return _call(
        lambda: msal.ConfidentialClientApplication(
            settings.MICROSOFT_CLIENT_ID,
            client_credential=settings.MICROSOFT_CLIENT_SECRET,
            authority=f"{AUTHORITY_HOST}/{tenant}",
            http_client=_DiscoverySharingSession(),
            token_cache=token_cache,
            exclude_scopes=exclude_scopes,
        )
    )


T = TypeVar("T")


def _call(operation: Callable[[], T]) -> T:
    try:
        return operation()
    except requests.RequestException as exc:
        raise TransientError(f"Microsoft identity platform unreachable: {exc.__class__.__name__}") from exc
    except msal.exceptions.MsalServiceError as exc:  # MSAL's answer to a 5xx
        raise TransientError(f"Microsoft identity platform failed: {exc}") from exc
    except ValueError as exc:
        # MSAL raises ValueError when discovery fails: an unknown (deleted) tenant answers 400.
        if "Unable to get authority configuration" in str(exc):
            raise ConsentRevoked("The tenant is unknown to Microsoft.", code=90002) from exc
        raise


def _aadsts_codes(result: Mapping[str, Any]) -> set[int]:
    # From a browser callback `error_codes` is whatever the query string says: keep only numbers.
    raw = result.get("error_codes") or []
    codes = {int(code) for code in (raw if isinstance(raw, list | tuple) else [raw]) if str(code).isdigit()}
    codes.update(int(code) for code in re.findall(r"AADSTS(\d+)", str(result.get("error_description", ""))))
    return codes


def _without_trace(description: str) -> str:
    """The message without Microsoft's diagnostics: "Trace ID: … Correlation ID: … Timestamp: …" follow it on
    lines of their own (`\r\n`) in the token endpoint's answers and after a space in redirects."""
    return re.split(r"\s*Trace ID:", description, maxsplit=1)[0].strip()


def _raise_token_error(result: Mapping[str, Any]) -> NoReturn:
    """Classify by `error` and the AADSTS code together: the customer's broken consent is not the portal's
    broken credential."""
    error, codes = result.get("error", ""), _aadsts_codes(result)
    description = _without_trace(str(result.get("error_description", error)))
    code = min(codes) if codes else None
    if codes & APP_CREDENTIAL_CODES:
        raise AppCredentialInvalid(description, code=min(codes & APP_CREDENTIAL_CODES))
    if codes & SERVICE_PRINCIPAL_MISSING_CODES:
        raise ServicePrincipalMissing(description, code=min(codes & SERVICE_PRINCIPAL_MISSING_CODES))
    if codes & CUSTOMER_CODES or error in ("invalid_client", "unauthorized_client"):
        raise ConsentRevoked(description, code=code)
    if error in INTERACTION_ERRORS:
        raise InteractionRequired(description, code=code)
    if error in ("temporarily_unavailable", "server_error"):
        raise TransientError(description, code=code)
    # invalid_grant and the like: a replayed, expired or mismatched code.
    raise IdentityError(description, code=code)


def _raise_browser_error(params: Mapping[str, str]) -> NoReturn:
    error = params.get("error", "")
    description = _without_trace(params.get("error_description", error))
    codes = _aadsts_codes(params)
    code = min(codes) if codes else None
    if CONSENT_DECLINED_CODE in codes and error in ("consent_required", "access_denied"):
        raise ConsentDeclined(description, code=CONSENT_DECLINED_CODE)
    if error in INTERACTION_ERRORS:
        raise InteractionRequired(description, code=code)
    if error == "access_denied":
        raise ConsentDeclined(description, code=code)
    raise SignInFailed(description, code=code)
