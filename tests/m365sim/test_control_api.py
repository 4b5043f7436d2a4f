"""The control API that tests and developers use to inspect the simulator and inject faults."""

import io

import pytest
from django.conf import settings
from django.core.management import call_command

from m365sim.management.commands import m365sim_serve
from m365sim.models import ClientSecret, Group, Membership, ServicePrincipal, Tenant, User

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def test_tenant_state(m365sim, contoso_consented):
    state = m365sim.control("GET", "tenants/contoso")
    assert state["id"] == str(contoso_consented.id)
    assert state["faults"]["throttle_next"] == 0
    assert state["service_principals"][0]["client_id"] == settings.MICROSOFT_CLIENT_ID
    assert m365sim.control("GET", f"tenants/{contoso_consented.id}")["slug"] == "contoso"


@pytest.mark.usefixtures("contoso")
def test_faults_are_set_and_reset(m365sim):
    state = m365sim.control("POST", "tenants/contoso/faults", {"throttle_next": 3, "latency_ms": 5})
    assert (state["faults"]["throttle_next"], state["faults"]["latency_ms"]) == (3, 5)

    state = m365sim.control("POST", "tenants/contoso/faults", {"decline_as_access_denied": True})
    assert state["faults"]["decline_as_access_denied"] is True

    state = m365sim.control("POST", "tenants/contoso/faults", {"reset": True})
    assert (state["faults"]["throttle_next"], state["faults"]["latency_ms"]) == (0, 0)
    assert state["faults"]["decline_as_access_denied"] is False


@pytest.mark.usefixtures("contoso")
def test_bad_requests_are_400_and_unknown_tenants_404(m365sim):
    browser = m365sim.control_session()
    assert browser.post(f"{m365sim.url}/_m365sim/tenants/contoso/faults", json={"shoe_size": 1}).status_code == 400
    assert browser.post(f"{m365sim.url}/_m365sim/tenants/contoso/directory", json={"op": "dance"}).status_code == 400
    assert browser.get(f"{m365sim.url}/_m365sim/tenants/nowhere").status_code == 404


@pytest.mark.parametrize(
    ("action", "check"),
    [
        ("revoke_consent", lambda: not ServicePrincipal.objects.get().has_admin_consent),
        ("disable", lambda: not ServicePrincipal.objects.get().account_enabled),
        ("delete", lambda: not ServicePrincipal.objects.exists()),
    ],
)
@pytest.mark.usefixtures("contoso_consented")
def test_service_principal_faults(m365sim, action, check):
    m365sim.control("POST", f"tenants/contoso/service-principals/{settings.MICROSOFT_CLIENT_ID}", {"action": action})
    assert check()


def test_secrets_expire_per_application(m365sim, portal_app):
    m365sim.control("POST", f"applications/{portal_app.client_id}/secrets", {"action": "expire"})
    assert all(secret.expired for secret in ClientSecret.objects.all())


@pytest.mark.usefixtures("contoso")
def test_directory_changes(m365sim):
    path = "tenants/contoso/directory"
    user_id = m365sim.control(
        "POST", path, {"op": "add_user", "user_principal_name": "new@contoso.com", "display_name": "New"}
    )["id"]
    m365sim.control(
        "POST",
        path,
        {"op": "update_user", "user": "new@contoso.com", "display_name": "Renamed", "account_enabled": False},
    )
    group_id = m365sim.control("POST", path, {"op": "add_group", "display_name": "Pilots"})["id"]
    m365sim.control("POST", path, {"op": "add_member", "group": "Pilots", "user": user_id})
    assert Membership.objects.filter(group_id=group_id, member_user_id=user_id, removed=False).exists()

    m365sim.control("POST", path, {"op": "remove_member", "group": group_id, "user": user_id})
    m365sim.control("POST", path, {"op": "delete_user", "user": user_id, "permanent": True})
    m365sim.control("POST", path, {"op": "update_group", "group": group_id, "display_name": "Aviators"})
    m365sim.control("POST", path, {"op": "delete_group", "group": group_id})

    user, group = User.objects.get(pk=user_id), Group.objects.get(pk=group_id)
    assert (user.display_name, user.account_enabled, user.hard_deleted) == ("Renamed", False, True)
    assert group.display_name == "Aviators"
    assert group.deleted_at is not None
    assert Membership.objects.get(group=group).removed
    assert Tenant.objects.get().change_seq == 8


@pytest.mark.usefixtures("contoso")
def test_request_counts_reset(m365sim):
    m365sim.control("POST", "tenants/contoso/faults", {"token_failures_next": 1})
    m365sim.browser().post(f"{m365sim.url}/contoso.com/oauth2/v2.0/token", data={})
    assert m365sim.control("GET", "tenants/contoso/requests")["requests"] == {"token": 1}
    assert m365sim.control("DELETE", "tenants/contoso/requests")["requests"] == {}


@pytest.mark.usefixtures("contoso")
@pytest.mark.parametrize(
    ("headers", "data"),
    [
        ({"Content-Type": "text/plain"}, '{"throttle_next": 9}'),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "throttle_next=9"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, '--x\r\n\r\n{"throttle_next": 9}\r\n--x--'),
        ({}, ""),
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, '{"throttle_next": 9}'),
    ],
    ids=["text-plain", "form", "multipart", "no-type", "other-origin"],
)
def test_what_another_sites_page_could_send_changes_nothing(m365sim, headers, data):
    response = m365sim.control_session().post(
        f"{m365sim.url}/_m365sim/tenants/contoso/faults", data=data, headers=headers
    )

    assert response.status_code == 403
    assert "error" in response.json()
    assert Tenant.objects.get(slug="contoso").throttle_next == 0


@pytest.mark.usefixtures("contoso")
def test_the_simulators_own_origin_may_post(m365sim):
    origin = m365sim.url
    response = m365sim.control_session().post(
        f"{m365sim.url}/_m365sim/tenants/contoso/faults", json={"throttle_next": 2}, headers={"Origin": origin}
    )

    assert response.status_code == 200
    assert Tenant.objects.get(slug="contoso").throttle_next == 2


@pytest.mark.usefixtures("contoso")
def test_a_bad_fault_beside_a_reset_changes_nothing(m365sim):
    m365sim.control("POST", "tenants/contoso/faults", {"throttle_next": 4})

    response = m365sim.control_session().post(
        f"{m365sim.url}/_m365sim/tenants/contoso/faults", json={"reset": True, "shoe_size": 1}
    )

    assert response.status_code == 400
    assert Tenant.objects.get(slug="contoso").throttle_next == 4


@pytest.mark.usefixtures("contoso")
@pytest.mark.parametrize("authorization", [None, "Bearer ", "Bearer wrong-token", "control-token-of-the-tests"])
def test_without_the_runs_token_the_control_api_answers_nothing_and_changes_nothing(m365sim, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    browser = m365sim.browser()

    read = browser.get(f"{m365sim.url}/_m365sim/tenants/contoso", headers=headers)
    write = browser.post(f"{m365sim.url}/_m365sim/tenants/contoso/faults", json={"throttle_next": 9}, headers=headers)

    assert (read.status_code, write.status_code) == (401, 401)
    assert "contoso" not in read.text
    assert Tenant.objects.get(slug="contoso").throttle_next == 0


def test_the_serve_command_makes_a_token_for_its_run_and_writes_it_for_the_developer(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "M365SIM_CONTROL_TOKEN", "")
    monkeypatch.setattr(m365sim_serve, "TOKEN_FILE", tmp_path / "m365sim-control-token")
    monkeypatch.setattr(m365sim_serve, "run", lambda *args, **kwargs: None)

    call_command("m365sim_serve", "--port", "8999", stdout=io.StringIO())

    token = (tmp_path / "m365sim-control-token").read_text().strip()
    assert len(token) >= 32
    assert token == settings.M365SIM_CONTROL_TOKEN
