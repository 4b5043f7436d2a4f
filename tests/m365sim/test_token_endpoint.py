"""The token endpoint's grants and errors, in Microsoft's shapes."""

import base64
import datetime as dt
import hashlib
import json
import secrets

import pytest
from django.conf import settings
from django.utils import timezone

from m365sim import tokens
from m365sim.models import AuthorizationCode, ServicePrincipal

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

ERROR_FIELDS = {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id"}


def post_token(m365sim, tenant: str, **data):
    fields = {"client_id": settings.MICROSOFT_CLIENT_ID, "client_secret": settings.MICROSOFT_CLIENT_SECRET, **data}
    return m365sim.browser().post(
        f"{m365sim.url}/{tenant}/oauth2/v2.0/token", data={k: v for k, v in fields.items() if v is not None}
    )


def assert_aad_error(response, status: int, error: str, code: int) -> None:
    body = response.json()
    assert response.status_code == status, body
    assert body.keys() >= ERROR_FIELDS
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")


def claims(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def client_credentials(m365sim, tenant: str, **data):
    return post_token(
        m365sim, tenant, grant_type="client_credentials", scope="https://graph.microsoft.com/.default", **data
    )


def test_client_credentials_for_a_consented_tenant(m365sim, contoso_consented):
    response = client_credentials(m365sim, "contoso.onmicrosoft.com")  # a verified domain works as the tenant

    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 3000
    assert "ext_expires_in" in body
    token = claims(body["access_token"])
    assert token["tid"] == str(contoso_consented.id)
    assert token["idtyp"] == "app"
    assert "User.Read.All" in token["roles"]


def test_the_wrong_secret_is_7000215(m365sim, contoso_consented):
    assert_aad_error(
        client_credentials(m365sim, str(contoso_consented.id), client_secret="nope"), 401, "invalid_client", 7000215
    )


def test_an_expired_secret_is_7000222(m365sim, contoso_consented, portal_app):
    portal_app.secrets.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_aad_error(client_credentials(m365sim, str(contoso_consented.id)), 401, "invalid_client", 7000222)


def test_an_unknown_client_is_700016(m365sim, contoso):
    response = client_credentials(m365sim, str(contoso.id), client_id="11111111-1111-1111-1111-111111111111")
    assert_aad_error(response, 400, "unauthorized_client", 700016)


def test_no_service_principal_is_7000229_and_a_disabled_one_7000112(m365sim, contoso_consented):
    sp = ServicePrincipal.objects.get()
    sp.account_enabled = False
    sp.save()
    assert_aad_error(client_credentials(m365sim, str(contoso_consented.id)), 400, "unauthorized_client", 7000112)
    sp.delete()
    assert_aad_error(client_credentials(m365sim, str(contoso_consented.id)), 401, "invalid_client", 7000229)


def test_error_description_is_microsofts_layout(m365sim, contoso):
    body = post_token(m365sim, str(contoso.id), grant_type="password").json()
    message, trace, correlation, timestamp = body["error_description"].split("\r\n")
    assert message.startswith("AADSTS70003: ")
    assert trace == f"Trace ID: {body['trace_id']}"
    assert correlation == f"Correlation ID: {body['correlation_id']}"
    assert timestamp == f"Timestamp: {body['timestamp']}"


def test_client_credentials_needs_a_tenant_and_dot_default(m365sim, contoso_consented):
    assert_aad_error(client_credentials(m365sim, "organizations"), 400, "invalid_request", 900023)
    response = post_token(m365sim, str(contoso_consented.id), grant_type="client_credentials", scope="User.Read.All")
    assert_aad_error(response, 400, "invalid_scope", 1002012)


def test_unknown_tenant_and_grant_type(m365sim, contoso):
    assert_aad_error(client_credentials(m365sim, "fabrikam.com"), 400, "invalid_tenant", 90002)
    assert_aad_error(post_token(m365sim, str(contoso.id), grant_type="password"), 400, "unsupported_grant_type", 70003)


def test_token_failures_answer_500_then_recover(m365sim, contoso_consented):
    m365sim.control("POST", "tenants/contoso/faults", {"token_failures_next": 1})

    assert_aad_error(client_credentials(m365sim, str(contoso_consented.id)), 500, "temporarily_unavailable", 90033)
    assert client_credentials(m365sim, str(contoso_consented.id)).status_code == 200


@pytest.fixture
def code(contoso_consented, portal_app, contoso_admin):  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    verifier = secrets.token_urlsafe(43)
    row = AuthorizationCode.objects.create(
        code="the-code",
        application=portal_app,
        user=contoso_admin,
        redirect_uri=portal_app.redirect_uris[0],
        scopes=["User.Read", "openid", "profile", "offline_access"],
        nonce=hashlib.sha256(b"nonce").hexdigest(),
        code_challenge=tokens.pkce_s256(verifier),
        expires_at=timezone.now() + dt.timedelta(minutes=10),
    )
    return row, verifier


def redeem(m365sim, code_row, verifier, **overrides):
    data = {
        "grant_type": "authorization_code",
        "code": code_row.code,
        "redirect_uri": code_row.redirect_uri,
        "code_verifier": verifier,
        "client_info": "1",
        **overrides,
    }
    return post_token(m365sim, str(code_row.user.tenant_id), **data)


def test_authorization_code_gives_id_token_and_refresh_token(m365sim, code, contoso_admin):
    code_row, verifier = code
    body = redeem(m365sim, code_row, verifier).json()

    id_token = claims(body["id_token"])
    assert id_token["aud"] == settings.MICROSOFT_CLIENT_ID
    assert id_token["tid"] == str(contoso_admin.tenant_id)
    assert id_token["oid"] == str(contoso_admin.id)
    assert id_token["preferred_username"] == "admin@contoso.onmicrosoft.com"
    assert id_token["nonce"] == code_row.nonce
    assert "62e90394-69f5-4237-9190-012177145e10" in id_token["wids"]
    assert {"iss", "iat", "nbf", "exp", "sub", "name", "email"} <= id_token.keys()
    assert json.loads(base64.urlsafe_b64decode(body["client_info"] + "==")) == {
        "uid": str(contoso_admin.id),
        "utid": str(contoso_admin.tenant_id),
    }
    assert body["scope"].split()[0] == "User.Read"

    refreshed = post_token(m365sim, "organizations", grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200
    assert "access_token" in refreshed.json()


def test_a_code_is_single_use(m365sim, code):
    code_row, verifier = code
    assert redeem(m365sim, code_row, verifier).status_code == 200
    assert_aad_error(redeem(m365sim, code_row, verifier), 400, "invalid_grant", 54005)


def test_a_wrong_code_verifier_is_50148(m365sim, code):
    code_row, _ = code
    assert_aad_error(redeem(m365sim, code_row, "wrong-verifier"), 400, "invalid_grant", 50148)


def test_the_redirect_uri_must_match(m365sim, code):
    code_row, verifier = code
    assert_aad_error(
        redeem(m365sim, code_row, verifier, redirect_uri="http://127.0.0.1:8000/other/"), 400, "invalid_grant", 70000
    )


def test_an_expired_code_is_70008(m365sim, code):
    code_row, verifier = code
    AuthorizationCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert_aad_error(redeem(m365sim, code_row, verifier), 400, "invalid_grant", 70008)
