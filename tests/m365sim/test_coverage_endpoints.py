"""What an app-only token reaches of each protected service: mailboxes, drives, sites and teams, and the Exchange
application access policies that narrow the mailboxes."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from m365sim import services as sim
from m365sim.models import AccessPolicy, Application, Group, ServicePrincipal, Site, User
from m365sim.seed import seed_tenant
from tests.m365sim.tokens import app_token, graph_getter

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

ALEX = "alex@contoso.onmicrosoft.com"
ADMIN = "admin@contoso.onmicrosoft.com"
NO_MAILBOX = "The mailbox is either inactive, soft-deleted, or is hosted on-premise."


def assert_graph_error(response, status: int, code: str, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if message is not None:
        assert error["message"] == message
    assert {"date", "request-id", "client-request-id"} <= error["innerError"].keys()


def inbox(get, user: str):
    return get(f"users/{user}/mailFolders/inbox?$select=id")


def policy_scope(m365sim, name: str, *members: str) -> str:
    """A mail-enabled security group holding the given users."""
    group = m365sim.directory("contoso", "add_group", display_name=name, mail_enabled=True)["id"]
    for member in members:
        m365sim.directory("contoso", "add_member", group=group, user=member)
    return group


def time_passes(seconds: int) -> None:
    """As if `seconds` went by for the policies' pending changes."""
    for policy in AccessPolicy.objects.all():
        policy.effective_at -= dt.timedelta(seconds=seconds)
        if policy.lifted_at is not None:
            policy.lifted_at -= dt.timedelta(seconds=seconds)
        policy.save()


# Mailboxes.


def test_a_licensed_users_inbox_answers_its_id(get):
    by_upn = inbox(get, ALEX)
    assert by_upn.status_code == 200, by_upn.text
    body = by_upn.json()
    assert set(body) == {"@odata.context", "id"}
    alex = User.objects.get(user_principal_name=ALEX)
    assert inbox(get, str(alex.id)).json()["id"] == body["id"]
    assert get(f"users/{ALEX}/mailFolders/inbox").json()["displayName"] == "Inbox"


@pytest.mark.parametrize("state", ["none", "on_premises", "soft_deleted", "pending"])
def test_a_user_without_an_exchange_online_mailbox_answers_404(m365sim, get, state):
    m365sim.set_mailbox("contoso", ALEX, state)
    assert_graph_error(inbox(get, ALEX), 404, "MailboxNotEnabledForRESTAPI", NO_MAILBOX)


def test_an_unlicensed_user_has_no_mailbox_until_licensed(m365sim, get):
    m365sim.directory("contoso", "set_licensed", user=ALEX, licensed=False)
    assert_graph_error(inbox(get, ALEX), 404, "MailboxNotEnabledForRESTAPI", NO_MAILBOX)
    m365sim.directory("contoso", "set_licensed", user=ALEX, licensed=True)
    assert inbox(get, ALEX).status_code == 200


def test_a_licensed_users_mailbox_appears_after_the_provisioning_delay(m365sim, get):
    m365sim.directory("contoso", "set_licensed", user=ALEX, licensed=False)
    m365sim.control("POST", "tenants/contoso/faults", {"mailbox_provisioning_seconds": 600})
    m365sim.directory("contoso", "set_licensed", user=ALEX, licensed=True)
    assert_graph_error(inbox(get, ALEX), 404, "MailboxNotEnabledForRESTAPI", NO_MAILBOX)
    User.objects.filter(user_principal_name=ALEX).update(mailbox_ready_at=timezone.now())
    assert inbox(get, ALEX).status_code == 200


def test_a_pending_mailbox_appears_when_its_time_comes(m365sim, get):
    m365sim.set_mailbox("contoso", ALEX, "pending", ready_in_seconds=3600)
    assert inbox(get, ALEX).status_code == 404
    m365sim.set_mailbox("contoso", ALEX, "pending", ready_in_seconds=0)
    assert inbox(get, ALEX).status_code == 200
    m365sim.set_mailbox("contoso", ALEX, "provisioned")
    m365sim.directory("contoso", "set_licensed", user=ALEX, licensed=False)
    assert inbox(get, ALEX).status_code == 200  # a mailbox kept without a licence (its grace period)


def test_an_unknown_or_deleted_user_is_an_invalid_user(m365sim, get):
    assert_graph_error(
        inbox(get, "nobody@contoso.onmicrosoft.com"),
        404,
        "ErrorInvalidUser",
        "The requested user 'nobody@contoso.onmicrosoft.com' is invalid.",
    )
    m365sim.directory("contoso", "delete_user", user=ALEX)
    assert_graph_error(inbox(get, ALEX), 404, "ErrorInvalidUser")


def test_an_unknown_folder_is_not_found_in_the_store(get):
    assert_graph_error(get(f"users/{ALEX}/mailFolders/AAMkNope"), 404, "ErrorItemNotFound")


def token_with_roles(m365sim, tenant, roles: list[str]):
    ServicePrincipal.objects.update(granted_roles=roles)
    token = app_token(m365sim, str(tenant.id))
    browser = m365sim.browser()
    return lambda path: browser.get(f"{m365sim.url}/graph/v1.0/{path}", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    ("path", "role"),
    [
        (f"users/{ALEX}/mailFolders/inbox?$select=id", "Mail.ReadBasic.All"),
        (f"users/{ALEX}/drive?$select=id", "Files.Read.All"),
        ("sites/getAllSites?$select=id", "Sites.Read.All"),
        ("teams", "Team.ReadBasic.All"),
    ],
)
def test_each_service_needs_its_role(m365sim, contoso_consented, path, role):
    without = token_with_roles(m365sim, contoso_consented, ["User.Read.All"])
    assert_graph_error(without(path), 403, "Authorization_RequestDenied")
    assert token_with_roles(m365sim, contoso_consented, [role])(path).status_code == 200


# Application access policies.


def test_a_restrict_access_policy_keeps_the_app_to_its_groups_mailboxes(m365sim, get):
    group = policy_scope(m365sim, "Protected mailboxes", ALEX)
    policy = m365sim.apply_access_policy("contoso", group, "RestrictAccess")
    assert (policy["access_right"], policy["active"], policy["client_id"]) == (
        "RestrictAccess",
        True,
        settings.MICROSOFT_CLIENT_ID,
    )
    assert inbox(get, ALEX).status_code == 200
    assert_graph_error(inbox(get, ADMIN), 403, "ErrorAccessDenied", "Access to OData is disabled.")
    # Members of nested groups are in scope.
    outer = policy_scope(m365sim, "Outer scope")
    inner = policy_scope(m365sim, "Inner scope", ADMIN)
    m365sim.directory("contoso", "add_member", group=outer, member_group=inner)
    m365sim.apply_access_policy("contoso", outer, "RestrictAccess")
    assert inbox(get, ADMIN).status_code == 200


def test_a_deny_access_policy_refuses_its_groups_mailboxes(m365sim, get):
    group = policy_scope(m365sim, "No scanning", ALEX)
    m365sim.apply_access_policy("contoso", group, "DenyAccess")
    assert_graph_error(inbox(get, ALEX), 403, "ErrorAccessDenied", "Access to OData is disabled.")
    assert inbox(get, ADMIN).status_code == 200


def test_a_policy_takes_effect_and_lifts_after_the_delay(m365sim, get):
    m365sim.control("POST", "tenants/contoso/faults", {"access_policy_delay_seconds": 3600})
    group = policy_scope(m365sim, "Protected mailboxes", ALEX)
    policy = m365sim.apply_access_policy("contoso", group)
    assert policy["active"] is False
    assert inbox(get, ADMIN).status_code == 200
    time_passes(3600)
    assert inbox(get, ADMIN).status_code == 403

    lifted = m365sim.lift_access_policy("contoso", policy["id"], delay_seconds=60)
    assert lifted["active"] is True
    assert lifted["lifted_at"]
    assert inbox(get, ADMIN).status_code == 403
    time_passes(60)
    assert inbox(get, ADMIN).status_code == 200
    assert m365sim.control("GET", "tenants/contoso/access-policies")["policies"][0]["active"] is False


def test_a_policy_for_another_app_or_a_lifted_one_changes_nothing(m365sim, get):
    group = policy_scope(m365sim, "Protected mailboxes", ALEX)
    m365sim.apply_access_policy("contoso", group, client_id="11111111-2222-3333-4444-555555555555")
    assert inbox(get, ADMIN).status_code == 200
    policy = m365sim.apply_access_policy("contoso", group)
    m365sim.lift_access_policy("contoso", policy["id"])
    assert inbox(get, ADMIN).status_code == 200


@pytest.mark.usefixtures("contoso")
def test_a_policy_needs_a_mail_enabled_security_group(m365sim):
    browser = m365sim.control_session()
    url = f"{m365sim.url}/_m365sim/tenants/contoso/access-policies"
    security_only = m365sim.directory("contoso", "add_group", display_name="Plain security")["id"]
    unified = m365sim.directory("contoso", "add_group", display_name="Team", mail_enabled=True, unified=True)["id"]
    for group in (security_only, unified):
        response = browser.post(url, json={"action": "apply", "group": group})
        assert response.status_code == 400
        assert "mail-enabled security group" in response.json()["error"]
    assert browser.post(url, json={"action": "lift", "policy": 999}).status_code == 400
    assert browser.post(url, json={"action": "dance"}).status_code == 400
    assert m365sim.control("GET", "tenants/contoso")["access_policies"] == []


# OneDrive.


def test_a_provisioned_drive_answers_and_a_missing_one_is_mysite_not_found(m365sim, get):
    drive = get(f"users/{ALEX}/drive?$select=id")
    assert drive.status_code == 200, drive.text
    assert set(drive.json()) == {"@odata.context", "id"}
    assert get(f"users/{ALEX}/drive").json()["driveType"] == "business"

    m365sim.set_drive("contoso", ALEX, "not_provisioned")
    assert_graph_error(get(f"users/{ALEX}/drive?$select=id"), 404, "ResourceNotFound", "User's mysite not found.")
    m365sim.directory("contoso", "provision_drive", user=ALEX)
    assert get(f"users/{ALEX}/drive?$select=id").json()["id"] == drive.json()["id"]

    m365sim.set_drive("contoso", ALEX, "auto")
    m365sim.directory("contoso", "set_licensed", user=ALEX, licensed=False)
    assert_graph_error(get(f"users/{ALEX}/drive"), 404, "ResourceNotFound")
    assert_graph_error(get("users/nobody@contoso.onmicrosoft.com/drive"), 404, "Request_ResourceNotFound")


@pytest.mark.usefixtures("contoso")
def test_mailbox_and_drive_states_are_checked(m365sim):
    browser = m365sim.control_session()
    url = f"{m365sim.url}/_m365sim/tenants/contoso/directory"
    assert browser.post(url, json={"op": "set_mailbox", "user": ALEX, "state": "lost"}).status_code == 400
    assert browser.post(url, json={"op": "set_drive", "user": ALEX, "state": "lost"}).status_code == 400


# SharePoint.


def all_pages(get, path: str) -> list[dict]:
    found, response = [], get(path)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        found += body["value"]
        if "@odata.nextLink" not in body:
            return found
        response = get(body["@odata.nextLink"])


def test_get_all_sites_lists_the_tenants_sites_in_pages(m365sim, get, contoso):
    sites = all_pages(get, "sites/getAllSites?$select=id,webUrl,isPersonalSite&$top=2")
    expected = Site.objects.filter(tenant=contoso)
    assert {s["id"] for s in sites} == set(expected.values_list("id", flat=True))
    assert len(sites) >= 5
    assert all(set(s) == {"id", "webUrl", "isPersonalSite"} and s["isPersonalSite"] is False for s in sites)
    assert "https://contoso.sharepoint.com" in {s["webUrl"] for s in sites}
    assert all(s["id"].startswith("contoso.sharepoint.com,") for s in sites)

    added = m365sim.directory("contoso", "add_site", display_name="Board")["id"]
    assert get(f"sites/{added}?$select=id").json()["id"] == added
    m365sim.directory("contoso", "delete_site", site=added)
    assert_graph_error(get(f"sites/{added}?$select=id"), 404, "itemNotFound")


# Teams.


def test_teams_lists_the_groups_provisioned_as_teams(m365sim, get, contoso):
    team = m365sim.directory("contoso", "add_group", display_name="Launch", mail_enabled=True, unified=True)["id"]
    assert_graph_error(get(f"teams/{team}?$select=id"), 404, "NotFound", f"No team found with Group Id {team}")
    assert get(f"groups/{team}?$select=resourceProvisioningOptions").json()["resourceProvisioningOptions"] == []

    m365sim.directory("contoso", "set_team", group=team, team=True)
    assert get(f"teams/{team}?$select=id").json() == {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#teams/$entity",
        "id": team,
    }
    assert get(f"groups/{team}").json()["resourceProvisioningOptions"] == ["Team"]
    listed = all_pages(get, "teams?$select=id,displayName,description&$top=1")
    expected = Group.objects.filter(tenant=contoso, is_team=True, deleted_at__isnull=True)
    assert {t["id"] for t in listed} == {str(g.id) for g in expected}
    assert {"id", "displayName", "description"} == set(listed[0])

    m365sim.directory("contoso", "delete_group", group=team)
    assert get(f"teams/{team}").status_code == 404
    assert_graph_error(get("teams/not-a-guid"), 404, "NotFound")


@pytest.mark.usefixtures("contoso")
def test_only_a_microsoft_365_group_becomes_a_team(m365sim):
    group = m365sim.directory("contoso", "add_group", display_name="Security only")["id"]
    response = m365sim.control_session().post(
        f"{m365sim.url}/_m365sim/tenants/contoso/directory", json={"op": "set_team", "group": group}
    )
    assert response.status_code == 400


# Seeding.


def test_the_seed_mixes_mailboxes_drives_teams_and_sites():
    tenant = seed_tenant("fabrikam", users=300, groups=40, members_per_group=3).tenant
    users = User.objects.filter(tenant=tenant)
    assert users.filter(mailbox="pending").count() == 2
    assert users.filter(mailbox="on_premises").count() == 2
    assert users.filter(drive="not_provisioned").count() == 12
    teams = Group.objects.filter(tenant=tenant, is_team=True)
    assert 0 < teams.count() < Group.objects.filter(tenant=tenant, group_types=["Unified"]).count()
    assert Site.objects.filter(tenant=tenant).count() == 5 + teams.count()
    assert Site.objects.filter(tenant=tenant, group__in=teams).count() == teams.count()


def test_a_seeded_tenant_answers_each_state(m365sim):
    tenant = seed_tenant("fabrikam", users=160, groups=0, members_per_group=0).tenant
    admin = User.objects.get(user_principal_name="admin@fabrikam.onmicrosoft.com")
    sim.grant_admin_consent(tenant, Application.objects.get(), user=admin)
    get = graph_getter(m365sim, str(tenant.id))
    users = User.objects.filter(tenant=tenant)
    licensed = users.exclude(assigned_licenses=[])
    pending = licensed.filter(mailbox="pending")[0]
    on_premises = licensed.filter(mailbox="on_premises")[0]
    reachable = licensed.filter(mailbox="auto", drive="auto")[0]
    unlicensed = users.filter(assigned_licenses=[])[0]
    for user in (pending, on_premises, unlicensed):
        assert inbox(get, str(user.id)).status_code == 404
    assert inbox(get, str(reachable.id)).status_code == 200
    assert get(f"users/{reachable.id}/drive?$select=id").status_code == 200
    assert get(f"users/{unlicensed.id}/drive?$select=id").status_code == 404
