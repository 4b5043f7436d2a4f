"""The Microsoft identity platform's endpoints, as MSAL and a browser use them.

https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
https://learn.microsoft.com/entra/identity-platform/v2-admin-consent
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
"""

import datetime as dt
import hashlib
import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from m365sim import directory, propagation, services, tokens
from m365sim.models import Application, AuthorizationCode, RefreshToken, ServicePrincipal, Tenant, User
from m365sim.routers import ALIAS
from m365sim.views.common import MULTI_TENANT, aad_error, resolve_tenant

SESSION_COOKIE = "ESTSAUTH"  # Microsoft's own name; distinct from the portal's cookies
BROWSER_COOKIE = "m365sim_browser"  # binds a form's flowToken to the browser that got it (CSRF)
SESSION_MAX_AGE = 12 * 3600
FLOW_MAX_AGE = 1800
CODE_LIFETIME = dt.timedelta(minutes=10)
REFRESH_LIFETIME = dt.timedelta(days=90)
ID_TOKEN_LIFETIME = 3600  # one hour: https://learn.microsoft.com/entra/identity-platform/id-tokens
ACCESS_TOKEN_LIFETIME_MIN, ACCESS_TOKEN_LIFETIME_MAX = 60 * 60, 90 * 60
USER_DECLINED_CONSENT = 65004  # AADSTS65004: Cancel on the consent page
USER_DECLINED_MESSAGE = "User declined to consent to access the app."


# Discovery.


@require_GET
def openid_configuration(request: HttpRequest, tenant: str) -> JsonResponse:
    found = resolve_tenant(tenant)
    if found is None and tenant not in MULTI_TENANT:
        return _unknown_tenant(tenant)
    segment = str(found.id) if found else tenant
    login, browser = directory.LOGIN_PUBLIC_HOST, settings.MICROSOFT_LOGIN_HOST
    return JsonResponse(
        {
            "token_endpoint": f"{login}/{segment}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{login}/{segment}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{login}/{found.id if found else '{tenantid}'}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            # The browser goes here: the simulator's own origin (MSAL accepts an http authorize endpoint).
            "authorization_endpoint": f"{browser}/{segment}/oauth2/v2.0/authorize",
            "end_session_endpoint": f"{browser}/{segment}/oauth2/v2.0/logout",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "claims_supported": [
                *(
                    [
                        "sub",
                        "iss",
                        "cloud_instance_name",
                        "cloud_instance_host_name",
                        "cloud_graph_host_name",
                        "msgraph_host",
                        "aud",
                        "exp",
                        "iat",
                    ]
                ),
                *(
                    [
                        "auth_time",
                        "acr",
                        "nonce",
                        "preferred_username",
                        "name",
                        "tid",
                        "ver",
                        "at_hash",
                        "c_hash",
                        "email",
                    ]
                ),
            ],
            "tenant_region_scope": "EU" if found else None,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
    )


@require_GET
def instance_discovery(request: HttpRequest) -> JsonResponse:
    """The aliases of Microsoft's public cloud; MSAL asks when it looks tokens up in its cache."""
    return JsonResponse(
        {
            "tenant_discovery_endpoint": f"{directory.LOGIN_PUBLIC_HOST}/common/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": "login.microsoftonline.com",
                    "preferred_cache": "login.windows.net",
                    "aliases": [
                        "login.microsoftonline.com",
                        "login.windows.net",
                        "login.microsoft.com",
                        "sts.windows.net",
                    ],
                }
            ],
        }
    )


@require_GET
def keys(request: HttpRequest, tenant: str) -> JsonResponse:
    # The simulator signs with a symmetric key it never publishes (see m365sim.tokens).
    return JsonResponse({"keys": []})


# The browser's part: sign-in, account picker, consent.


@require_http_methods(["GET", "POST"])
def admin_consent(request: HttpRequest, tenant: str) -> HttpResponse:
    return _interactive(request, tenant, "adminconsent")


@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest, tenant: str) -> HttpResponse:
    return _interactive(request, tenant, "authorize")


@require_GET
def logout(request: HttpRequest, tenant: str) -> HttpResponse:
    target = request.GET.get("post_logout_redirect_uri")
    response = HttpResponseRedirect(target) if target else render(request, "m365sim/signed_out.html")
    response.delete_cookie(SESSION_COOKIE)
    return response


class _Flow:
    """One interactive request: its original parameters and the steps the browser has completed."""

    def __init__(self, endpoint: str, tenant: str, params: dict[str, str], done: set[str], browser: str) -> None:
        self.endpoint, self.tenant, self.params, self.done, self.browser = endpoint, tenant, params, done, browser

    def token(self) -> str:
        payload = {"e": self.endpoint, "t": self.tenant, "p": self.params, "d": sorted(self.done), "b": self.browser}
        return signing.dumps(payload, salt="m365sim.flow")

    @classmethod
    def load(cls, request: HttpRequest, endpoint: str, tenant: str) -> "_Flow | None":
        try:
            data = signing.loads(request.POST.get("flowToken", ""), salt="m365sim.flow", max_age=FLOW_MAX_AGE)
        except signing.BadSignature:
            return None
        browser = request.COOKIES.get(BROWSER_COOKIE, "")
        if data["e"] != endpoint or data["t"] != tenant or not secrets.compare_digest(data["b"], browser):
            return None
        return cls(endpoint, tenant, data["p"], set(data["d"]), browser)


def _interactive(request: HttpRequest, tenant_segment: str, endpoint: str) -> HttpResponse:
    started = _start_flow(request, tenant_segment, endpoint)
    if isinstance(started, HttpResponse):
        return started
    flow, application, path_tenant = started
    params = flow.params
    back = _Back(request, params.get("redirect_uri", ""), params)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    refused = _refused_at_once(back, action, endpoint, params)
    if refused is not None:
        return refused

    signed_in = _signed_in_user(request, flow, application, action, back)
    if isinstance(signed_in, HttpResponse):
        return signed_in
    user, fresh = signed_in
    prompt = _prompt(flow)
    # select_account "interrupts single sign-on": the account picker even when someone is signed in.
    # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code
    if prompt == "select_account" and not flow.done & {"login", "select_account"}:
        return _page(request, "m365sim/select_account.html", flow, application, user=user)
    if path_tenant is not None and user.tenant_id != path_tenant.id:
        if prompt == "none":
            return back.error("interaction_required", 50020, "The signed-in user does not exist in this tenant.")
        return _error_page(
            request,
            50020,
            f"User account '{user.user_principal_name}' from identity provider does not exist in tenant "
            f"'{path_tenant.display_name}' and cannot access the application '{application.client_id}'.",
        )

    if endpoint == "adminconsent":
        response = _admin_consent_step(request, flow, application, user, action=action, back=back)
    else:
        response = _authorize_step(request, flow, application, user, action=action, back=back)
    if fresh:
        response.set_cookie(
            SESSION_COOKIE,
            signing.dumps({"u": str(user.id), "at": int(time.time())}, salt="m365sim.session"),
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="Lax",
        )
    return response


def _start_flow(
    request: HttpRequest, tenant_segment: str, endpoint: str
) -> "tuple[_Flow, Application, Tenant | None] | HttpResponse":
    """The flow of this browser, or the error page Microsoft shows itself: errors it cannot send back to the
    application (an unknown application, an unregistered redirect URI, an unknown tenant)."""
    if request.method == "POST":
        loaded = _Flow.load(request, endpoint, tenant_segment)
        if loaded is None:
            return _error_page(request, 90014, "The request has expired or was tampered with. Start again.")
        flow = loaded
    else:
        browser = request.COOKIES.get(BROWSER_COOKIE) or secrets.token_urlsafe(16)
        flow = _Flow(endpoint, tenant_segment, request.GET.dict(), set(), browser)
    params = flow.params
    application = _application(params.get("client_id", ""))
    if application is None:
        return _error_page(
            request,
            700016,
            f"Application with identifier '{params.get('client_id', '')}' was not found in the directory.",
        )
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in application.redirect_uris:
        return _error_page(
            request,
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
            f"configured for the application '{application.client_id}'.",
        )
    path_tenant = None
    if tenant_segment not in MULTI_TENANT:
        path_tenant = resolve_tenant(tenant_segment)
        if path_tenant is None:
            return _error_page(request, 90002, f"Tenant '{tenant_segment}' not found.")
    return flow, application, path_tenant


def _refused_at_once(back: "_Back", action: str, endpoint: str, params: dict[str, str]) -> HttpResponse | None:
    """Answers sent back to the application before anyone signs in: a cancel, a decline, bad parameters."""
    if action == "cancel" and endpoint == "authorize":
        return back.cancelled()
    if action == "decline_not_admin":
        return back.error(
            "access_denied", 90094, "Admin consent is required for the permissions requested by this application."
        )
    if endpoint == "authorize":
        problem = _check_authorize_params(params)
        if problem:
            return back.error(*problem)
    return None


def _signed_in_user(
    request: HttpRequest, flow: "_Flow", application: Application, action: str, back: "_Back"
) -> tuple[User, bool] | HttpResponse:
    """Who is signed in for this flow (and whether they just did), or the sign-in page."""
    user, fresh = _session_user(request), False
    prompt = _prompt(flow)
    if action == "switch_account":
        user = None
        flow.done.discard("login")
    elif action == "signin":
        user, message = _sign_in(request.POST.get("login", ""), request.POST.get("passwd", ""))
        if user is None:
            return _page(
                request, "m365sim/signin.html", flow, application, error=message, login=request.POST.get("login", "")
            )
        flow.done.add("login")
        fresh = True
    elif action == "continue":
        flow.done.add("select_account")
    if "login" not in flow.done and (user is None or prompt == "login"):
        if prompt == "none":
            return back.error("login_required", 50058, "A silent sign-in request was sent but no user is signed in.")
        return _page(request, "m365sim/signin.html", flow, application, login=_login_hint(flow))
    assert user is not None
    return user, fresh


# The authorize endpoint takes prompt and login_hint (which pre-fills the sign-in page):
# https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code
# The admin-consent endpoint documents only tenant, client_id, redirect_uri, state and scope, and ignores the rest:
# https://learn.microsoft.com/entra/identity-platform/v2-admin-consent#request-the-permissions-from-a-directory-admin


def _prompt(flow: "_Flow") -> str:
    return flow.params.get("prompt", "") if flow.endpoint == "authorize" else ""


def _login_hint(flow: "_Flow") -> str:
    return flow.params.get("login_hint", "") if flow.endpoint == "authorize" else ""


def _admin_consent_step(
    request: HttpRequest, flow: _Flow, application: Application, user: User, *, action: str, back: "_Back"
) -> HttpResponse:
    # Only a Global Administrator or a Privileged Role Administrator may grant application permissions.
    if not services.has_consent_granting_role(user):
        return _page(request, "m365sim/need_admin.html", flow, application, user=user)
    if action == "cancel":
        return _declined_admin_consent(user.tenant, back)
    if action != "accept":
        permissions = [directory.APPLICATION_PERMISSIONS[name] for name in application.application_permissions]
        return _page(request, "m365sim/consent.html", flow, application, user=user, permissions=permissions, admin=True)
    services.grant_admin_consent(user.tenant, application, user=user)
    scope = " ".join(f"{directory.GRAPH_AUDIENCE}/{name}" for name in application.application_permissions)
    return back.redirect({"admin_consent": "True", "tenant": str(user.tenant_id), "scope": scope})


def _declined_admin_consent(tenant: Tenant, back: "_Back") -> HttpResponse:
    if tenant.decline_as_access_denied:  # the shape Microsoft's authorize endpoint sends
        return back.cancelled()
    # As documented: https://learn.microsoft.com/entra/identity-platform/v2-admin-consent#error-response
    return back.error("consent_required", USER_DECLINED_CONSENT, USER_DECLINED_MESSAGE, admin_consent="True")


def _authorize_step(
    request: HttpRequest, flow: _Flow, application: Application, user: User, *, action: str, back: "_Back"
) -> HttpResponse:
    params = flow.params
    scopes = _normalize_scopes(params.get("scope", ""))
    sp = ServicePrincipal.objects.filter(tenant_id=user.tenant_id, application=application).first()
    if sp is not None and not sp.account_enabled:
        return back.error(
            "unauthorized_client",
            7000112,
            f"Application '{application.client_id}'({application.display_name}) is disabled.",
        )
    consented = sp is not None and (sp.has_admin_consent or sp.consented_users.filter(pk=user.pk).exists())
    if action == "accept":
        services.grant_user_consent(user.tenant, application, user=user)
    elif not consented or params.get("prompt") == "consent":
        if params.get("prompt") == "none":
            return back.error(
                "consent_required",
                65001,
                f"The user or administrator has not consented to use the application with ID "
                f"'{application.client_id}' named '{application.display_name}'. Send an interactive authorization "
                "request for this user and resource.",
            )
        permissions = [directory.DELEGATED_PERMISSIONS[s] for s in scopes if s in directory.DELEGATED_PERMISSIONS]
        return _page(
            request, "m365sim/consent.html", flow, application, user=user, permissions=permissions, admin=False
        )

    code = AuthorizationCode.objects.create(
        code=tokens.opaque(),
        application=application,
        user=user,
        redirect_uri=params["redirect_uri"],
        scopes=scopes,
        nonce=params.get("nonce", ""),
        code_challenge=params["code_challenge"],
        expires_at=timezone.now() + CODE_LIFETIME,
    )
    result = {"code": code.code, "session_state": str(uuid.uuid4())}
    if params.get("client_info") == "1":
        result["client_info"] = tokens.client_info(str(user.id), str(user.tenant_id))
    return back.redirect(result)


def _check_authorize_params(params: dict[str, str]) -> tuple[str, int, str] | None:
    if params.get("response_type") != "code":
        return ("unsupported_response_type", 70005, "The provided value for 'response_type' is not supported.")
    if params.get("response_mode", "query") not in {"query", "form_post", "fragment"}:
        return ("invalid_request", 900144, "The provided value for the input parameter 'response_mode' is not valid.")
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        return ("invalid_request", 9002325, "Proof Key for Code Exchange (S256) is required for this application.")
    unknown = [
        s
        for s in _normalize_scopes(params.get("scope", ""))
        if s not in directory.DELEGATED_PERMISSIONS and s not in directory.OIDC_SCOPES
    ]
    if unknown:
        return (
            "invalid_scope",
            70011,
            f"The provided value for the input parameter 'scope' is not valid: {unknown[0]}.",
        )
    return None


def _normalize_scopes(scope: str) -> list[str]:
    prefix = directory.GRAPH_AUDIENCE + "/"
    return [s.removeprefix(prefix) for s in scope.split()]


class _Back:
    """Answers to the application's redirect URI, in the response mode it asked for."""

    def __init__(self, request: HttpRequest, redirect_uri: str, params: dict[str, str]) -> None:
        self.request, self.redirect_uri, self.params = request, redirect_uri, params

    def redirect(self, values: dict[str, str]) -> HttpResponse:
        if "state" in self.params:
            values = {**values, "state": self.params["state"]}
        mode = self.params.get("response_mode", "query")
        if mode == "form_post":
            return render(self.request, "m365sim/form_post.html", {"action": self.redirect_uri, "values": values})
        separator = "#" if mode == "fragment" else ("&" if "?" in self.redirect_uri else "?")
        return HttpResponseRedirect(f"{self.redirect_uri}{separator}{urlencode(values)}")

    def cancelled(self) -> HttpResponse:
        """Cancel on the consent page, as the authorize endpoint answers it."""
        return self.error("access_denied", USER_DECLINED_CONSENT, USER_DECLINED_MESSAGE, error_subcode="cancel")

    def error(self, error: str, code: int, message: str, **extra: str) -> HttpResponse:
        trace_id, correlation_id = uuid.uuid4(), uuid.uuid4()
        description = (
            f"AADSTS{code}: {message} Trace ID: {trace_id} Correlation ID: {correlation_id} "
            f"Timestamp: {timezone.now():%Y-%m-%d %H:%M:%SZ}"
        )
        return self.redirect({"error": error, "error_description": description, **extra})


def _application(client_id: str) -> Application | None:
    try:
        return Application.objects.filter(pk=uuid.UUID(client_id)).first()
    except ValueError:
        return None


def _session_user(request: HttpRequest) -> User | None:
    try:
        data = signing.loads(request.COOKIES.get(SESSION_COOKIE, ""), salt="m365sim.session", max_age=SESSION_MAX_AGE)
    except signing.BadSignature:
        return None
    return User.objects.filter(pk=data["u"], deleted_at__isnull=True, account_enabled=True).first()


def _sign_in(login: str, password: str) -> tuple[User | None, str]:
    user = User.objects.filter(user_principal_name__iexact=login.strip(), deleted_at__isnull=True).first()
    if user is None or not user.check_password(password):
        return None, "Your account or password is incorrect. (AADSTS50126)"
    if not user.account_enabled:
        return None, "Your account has been locked. Contact your support person to unlock it. (AADSTS50057)"
    return user, ""


def _page(request: HttpRequest, template: str, flow: _Flow, application: Application, **context: Any) -> HttpResponse:
    response = render(request, template, {"flow_token": flow.token(), "application": application, **context})
    response.set_cookie(BROWSER_COOKIE, flow.browser, httponly=True, samesite="Lax")
    return response


def _error_page(request: HttpRequest, code: int, message: str) -> HttpResponse:
    return render(request, "m365sim/error.html", {"code": code, "message": message}, status=400)


def _unknown_tenant(tenant: str) -> JsonResponse:
    return aad_error(
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud.",
    )


# The token endpoint: the application's back channel.


@require_POST
def token(request: HttpRequest, tenant: str) -> HttpResponse:
    found = resolve_tenant(tenant)
    if found is None and tenant not in MULTI_TENANT:
        return _unknown_tenant(tenant)
    if found is not None:
        services.count_request(found, "token")
        if services.take_token_failure(found):
            return aad_error(
                "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.", status=500
            )

    data = request.POST
    application = _application(data.get("client_id", ""))
    if application is None:
        return aad_error(
            "unauthorized_client",
            700016,
            f"Application with identifier '{data.get('client_id', '')}' was not found in the directory "
            f"'{found.display_name if found else tenant}'. This can happen if the application has not been installed "
            "by the administrator of the tenant or consented to by any user in the tenant.",
        )
    problem = _check_client_secret(application, data.get("client_secret", ""))
    if problem is not None:
        return problem

    grant_type = data.get("grant_type", "")
    if grant_type == "client_credentials":
        return _client_credentials(application, found, tenant, data.get("scope", ""))
    if grant_type == "authorization_code":
        return _redeem_code(application, found, data)
    if grant_type == "refresh_token":
        return _redeem_refresh_token(application, found, data)
    return aad_error("unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'.")


def _check_client_secret(application: Application, secret: str) -> JsonResponse | None:
    if not secret:
        return aad_error(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            status=401,
        )
    matching = [s for s in application.secrets.all() if s.matches(secret)]
    if not matching:
        return aad_error(
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{application.client_id}'.",
            status=401,
        )
    if all(s.expired for s in matching):
        return aad_error(
            "invalid_client",
            7000222,
            f"The provided client secret keys for app '{application.client_id}' are expired. Visit the Azure portal "
            "to create new keys for your app.",
            status=401,
        )
    return None


def _client_credentials(application: Application, tenant: Tenant | None, segment: str, scope: str) -> JsonResponse:
    if tenant is None:
        return aad_error(
            "invalid_request",
            900023,
            f"Specified tenant identifier '{segment}' is neither a valid DNS name, nor a valid external domain.",
        )
    if scope.split() != [directory.GRAPH_DEFAULT_SCOPE]:
        return aad_error(
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
            "with /.default suffixed to the resource identifier (application ID URI).",
        )
    sp = ServicePrincipal.objects.filter(tenant=tenant, application=application).first()
    current = propagation.phase(sp, tenant) if sp is not None else None
    if sp is None or current == propagation.Phase.SERVICE_PRINCIPAL:
        # Deleted, never consented, or consented so recently that the token endpoint does not see it yet.
        return aad_error(
            "invalid_client",
            7000229,
            f"The client application {application.client_id} is missing service principal in the tenant "
            f"{tenant.id}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
            # invalid_client is a 401, as Microsoft answers it. Authentication Troubleshooting, "Missing Service
            # Principal in the Tenant": https://learn.microsoft.com/microsoftteams/platform/teams-sdk/teams/app-authentication/troubleshooting
            status=401,
        )
    if not sp.account_enabled:
        return aad_error(
            "unauthorized_client",
            7000112,
            f"Application '{application.client_id}'({application.display_name}) is disabled.",
        )
    now, lifetime = int(time.time()), _access_token_lifetime()
    claims = {
        "aud": directory.GRAPH_AUDIENCE,
        "iss": f"https://sts.windows.net/{tenant.id}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "appid": str(application.client_id),
        "app_displayname": application.display_name,
        "idtyp": "app",
        "oid": str(sp.id),
        "sub": str(sp.id),
        "tid": str(tenant.id),
        "uti": tokens.opaque(16),
        "ver": "1.0",
    }
    # The roles are the app role assignments at the moment of issue, and stay in the token until it expires
    # (a revoked consent included). Without any, the claim is absent.
    # https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference#payload-claims
    roles = sorted(sp.granted_roles) if current != propagation.Phase.ROLES else []
    if roles:
        claims["roles"] = roles
    return JsonResponse(
        {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": tokens.encode_jwt(claims),
        }
    )


def _access_token_lifetime() -> int:
    """Microsoft picks each access token's lifetime at random between 60 and 90 minutes (75 on average), so that
    clients do not all come back at once. https://learn.microsoft.com/entra/identity-platform/access-tokens#token-lifetime
    """
    return secrets.choice(range(ACCESS_TOKEN_LIFETIME_MIN, ACCESS_TOKEN_LIFETIME_MAX + 1))


def _redeem_code(application: Application, tenant: Tenant | None, data: Any) -> JsonResponse:
    code = AuthorizationCode.objects.select_related("user__tenant").filter(code=data.get("code", "")).first()
    if code is None or code.application_id != application.pk:
        return aad_error("invalid_grant", 70000, "The provided authorization code is invalid or malformed.")
    with transaction.atomic(using=ALIAS):
        first_use = AuthorizationCode.objects.filter(pk=code.pk, redeemed_at__isnull=True).update(
            redeemed_at=timezone.now()
        )
    if not first_use:
        return aad_error(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing "
            "refresh token.",
        )
    if code.expires_at <= timezone.now():
        return aad_error(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive "
            "authorization request for this user and resource.",
        )
    if data.get("redirect_uri") != code.redirect_uri:
        return aad_error(
            "invalid_grant",
            70000,
            "The provided value for the 'redirect_uri' is not valid. The value must exactly match the redirect URI "
            "used to obtain the authorization code.",
        )
    if tokens.pkce_s256(data.get("code_verifier", "")) != code.code_challenge:
        return aad_error(
            "invalid_grant",
            50148,
            "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
        )
    if tenant is not None and tenant.id != code.user.tenant_id:
        return aad_error("invalid_grant", 50020, "The user does not exist in this tenant.")
    requested = set(_normalize_scopes(data.get("scope", ""))) or set(code.scopes)
    scopes = [s for s in code.scopes if s in requested]
    return _user_tokens(application, code.user, scopes, nonce=code.nonce, client_info=data.get("client_info") == "1")


def _redeem_refresh_token(application: Application, tenant: Tenant | None, data: Any) -> JsonResponse:
    digest = hashlib.sha256(data.get("refresh_token", "").encode()).hexdigest()
    stored = RefreshToken.objects.select_related("user__tenant").filter(token=digest, application=application).first()
    if stored is None:
        return aad_error("invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
    if stored.expires_at <= timezone.now():
        return aad_error(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive "
            "authorization request for this user and resource.",
        )
    requested = set(_normalize_scopes(data.get("scope", ""))) or set(stored.scopes)
    scopes = [s for s in stored.scopes if s in requested or s == "offline_access"]
    return _user_tokens(application, stored.user, scopes, nonce="", client_info=data.get("client_info") == "1")


def _user_tokens(
    application: Application, user: User, scopes: list[str], *, nonce: str, client_info: bool
) -> JsonResponse:
    if user.deleted_at is not None or not user.account_enabled:
        return aad_error("invalid_grant", 50057, "The user account is disabled.")
    tid, oid, now, lifetime = str(user.tenant_id), str(user.id), int(time.time()), _access_token_lifetime()
    resource_scopes = [s for s in scopes if s not in directory.OIDC_SCOPES]
    granted_scope = " ".join([*resource_scopes, *(s for s in ("profile", "openid", "email") if s in scopes)])
    wids = sorted(user.role_ids | {directory.DEFAULT_USER_ROLE}) if application.emit_wids else None
    access_claims: dict[str, Any] = {
        "aud": directory.GRAPH_AUDIENCE,
        "iss": f"https://sts.windows.net/{tid}/",
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "appid": str(application.client_id),
        "idtyp": "user",
        "name": user.display_name,
        "oid": oid,
        "scp": " ".join(resource_scopes),
        "sub": oid,
        "tid": tid,
        "upn": user.user_principal_name,
        "uti": tokens.opaque(16),
        "ver": "1.0",
    }
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": granted_scope,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": tokens.encode_jwt(access_claims | ({"wids": wids} if wids else {})),
    }
    if "openid" in scopes:
        id_claims: dict[str, Any] = {
            "aud": str(application.client_id),
            "iss": f"{directory.LOGIN_PUBLIC_HOST}/{tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + ID_TOKEN_LIFETIME,
            "name": user.display_name,
            "oid": oid,
            "preferred_username": user.user_principal_name,
            # Pairwise: the same user has a different `sub` in every application.
            "sub": tokens.b64url(hashlib.sha256(f"{application.client_id}:{oid}".encode()).digest()),
            "tid": tid,
            "ver": "2.0",
        }
        if nonce:
            id_claims["nonce"] = nonce
        if user.mail:
            id_claims["email"] = user.mail
        if wids:
            id_claims["wids"] = wids
        body["id_token"] = tokens.encode_jwt(id_claims)
    if "offline_access" in scopes:
        raw = tokens.opaque()
        RefreshToken.objects.create(
            token=hashlib.sha256(raw.encode()).hexdigest(),
            application=application,
            user=user,
            scopes=scopes,
            expires_at=timezone.now() + REFRESH_LIFETIME,
        )
        body["refresh_token"] = raw
    if client_info:
        body["client_info"] = tokens.client_info(oid, tid)
    return JsonResponse(body)
