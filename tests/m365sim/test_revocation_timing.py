"""Revocation takes effect when the token expires: continuous access evaluation does not cover multi-tenant apps,
so a token issued before the consent was withdrawn keeps its roles until its `exp`; new token requests fail at once."""

import time

import pytest

from m365sim import services as sim
from m365sim import tokens
from m365sim.models import ServicePrincipal
from m365sim.views.identity import ACCESS_TOKEN_LIFETIME_MAX, ACCESS_TOKEN_LIFETIME_MIN
from tests.m365sim.test_token_endpoint import assert_aad_error, claims, client_credentials

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def graph_users(m365sim, token: str):
    return m365sim.browser().get(f"{m365sim.url}/graph/v1.0/users", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def issued_before(m365sim, contoso_consented) -> str:
    """An app-only token issued while the consent stood."""
    response = client_credentials(m365sim, str(contoso_consented.id))
    assert response.status_code == 200
    return response.json()["access_token"]


def expired(token: str) -> str:
    """The same token at its expiry (the simulator signs its own tokens)."""
    past = claims(token) | {"exp": int(time.time()) - 1}
    return tokens.encode_jwt(past)


def test_a_token_issued_before_the_consent_was_revoked_works_until_it_expires(
    m365sim, contoso_consented, issued_before
):
    sim.revoke_consent(ServicePrincipal.objects.get())

    assert graph_users(m365sim, issued_before).status_code == 200
    at_expiry = graph_users(m365sim, expired(issued_before))
    assert at_expiry.status_code == 401
    assert at_expiry.json()["error"]["code"] == "InvalidAuthenticationToken"

    # A token requested now has no roles: Graph refuses it.
    fresh = client_credentials(m365sim, str(contoso_consented.id)).json()["access_token"]
    assert "roles" not in claims(fresh)
    assert graph_users(m365sim, fresh).status_code == 403


@pytest.mark.parametrize(
    "case", [("disable", 400, "unauthorized_client", 7000112), ("delete", 401, "invalid_client", 7000229)]
)
def test_a_disabled_or_deleted_service_principal_stops_new_tokens_not_issued_ones(
    m365sim, contoso_consented, issued_before, case
):
    action, status, error, code = case
    m365sim.control("POST", f"tenants/contoso/service-principals/{claims(issued_before)['appid']}", {"action": action})

    assert_aad_error(client_credentials(m365sim, str(contoso_consented.id)), status, error, code)
    assert graph_users(m365sim, issued_before).status_code == 200


def test_access_tokens_live_60_to_90_minutes(m365sim, contoso_consented):
    lifetimes = set()
    for _ in range(5):
        body = client_credentials(m365sim, str(contoso_consented.id)).json()
        token = claims(body["access_token"])
        assert token["exp"] - token["iat"] == body["expires_in"]
        lifetimes.add(body["expires_in"])
    assert all(ACCESS_TOKEN_LIFETIME_MIN <= seconds <= ACCESS_TOKEN_LIFETIME_MAX for seconds in lifetimes)
    assert (ACCESS_TOKEN_LIFETIME_MIN, ACCESS_TOKEN_LIFETIME_MAX) == (3600, 5400)
