"""After a consent, the simulator's tenant goes through Microsoft's propagation phases one after another: no
service principal at the token endpoint, tokens without the roles, Graph refusing the tokens; then access."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from m365sim import services as sim
from m365sim.models import ServicePrincipal, Tenant
from m365sim.propagation import Phase, phase
from tests.m365sim.test_token_endpoint import assert_aad_error, claims, client_credentials

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

PHASES = {"token_propagation_seconds": 60, "consent_propagation_seconds": 60, "graph_propagation_seconds": 60}


def consented_ago(seconds: int) -> None:
    ServicePrincipal.objects.update(admin_consented_at=timezone.now() - dt.timedelta(seconds=seconds))


def graph_users(m365sim, token: str):
    return m365sim.browser().get(f"{m365sim.url}/graph/v1.0/users", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def propagating(contoso_consented) -> Tenant:
    return sim.set_faults(contoso_consented, **PHASES)


def test_first_the_token_endpoint_has_no_service_principal(m365sim, propagating):
    consented_ago(30)
    response = client_credentials(m365sim, str(propagating.id))
    assert_aad_error(response, 401, "invalid_client", 7000229)
    assert "is missing service principal in the tenant" in response.json()["error_description"]


def test_then_tokens_come_without_the_roles_and_graph_answers_403(m365sim, propagating):
    consented_ago(90)
    response = client_credentials(m365sim, str(propagating.id))
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert "roles" not in claims(token)
    answer = graph_users(m365sim, token)
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "Authorization_RequestDenied")


def test_then_tokens_carry_the_roles_but_graph_answers_401(m365sim, propagating):
    consented_ago(150)
    token = client_credentials(m365sim, str(propagating.id)).json()["access_token"]
    assert "User.Read.All" in claims(token)["roles"]
    answer = graph_users(m365sim, token)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "InvalidAuthenticationToken")


def test_at_last_graph_answers(m365sim, propagating):
    consented_ago(181)
    token = client_credentials(m365sim, str(propagating.id)).json()["access_token"]
    assert graph_users(m365sim, token).status_code == 200


def test_phases_of_zero_seconds_are_skipped(contoso_consented):
    sim.set_faults(contoso_consented, token_propagation_seconds=0, consent_propagation_seconds=5)
    sp = ServicePrincipal.objects.get()
    assert sp.admin_consented_at is not None
    assert phase(sp, contoso_consented) == Phase.ROLES
    assert phase(sp, contoso_consented, now=sp.admin_consented_at + dt.timedelta(seconds=5)) == Phase.PROPAGATED


def test_a_new_consent_propagates_again(m365sim, propagating, portal_app, contoso_admin):
    consented_ago(3600)
    assert graph_users(m365sim, client_credentials(m365sim, str(propagating.id)).json()["access_token"]).ok
    sim.grant_admin_consent(propagating, portal_app, user=contoso_admin)
    assert_aad_error(client_credentials(m365sim, str(propagating.id)), 401, "invalid_client", 7000229)


def test_the_seed_command_gives_a_seeded_tenant_a_realistic_propagation_unless_told_otherwise():
    call_command("m365sim_seed", "--tenant", "contoso", "--users", "0", "--groups", "0", "--members-per-group", "0")
    seeded = Tenant.objects.get(slug="contoso")
    phases = (seeded.token_propagation_seconds, seeded.consent_propagation_seconds, seeded.graph_propagation_seconds)
    assert all(seconds > 0 for seconds in phases)
    assert sum(phases) < 120  # well inside the portal's default wait (GRANT_ACCESS_WAIT_SECONDS)

    call_command(
        "m365sim_seed",
        "--tenant",
        "contoso",
        "--users",
        "0",
        "--groups",
        "0",
        "--members-per-group",
        "0",
        "--token-propagation-seconds",
        "0",
        "--consent-propagation-seconds",
        "3",
        "--graph-propagation-seconds",
        "0",
    )
    seeded.refresh_from_db()
    assert (seeded.token_propagation_seconds, seeded.consent_propagation_seconds, seeded.graph_propagation_seconds) == (
        0,
        3,
        0,
    )

    call_command(
        "m365sim_seed",
        "--tenant",
        "contoso",
        "--users",
        "0",
        "--groups",
        "0",
        "--members-per-group",
        "0",
        "--no-propagation",
    )
    seeded.refresh_from_db()
    assert (seeded.token_propagation_seconds, seeded.consent_propagation_seconds, seeded.graph_propagation_seconds) == (
        0,
        0,
        0,
    )
