"""The simulated Graph endpoints: shapes, parameters, permissions and errors."""

import time

import pytest

from m365sim import services as sim
from m365sim.models import Group, ServicePrincipal, User
from m365sim.views import graph_request
from tests.m365sim.tokens import app_token

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

GRAPH = "graph/v1.0"


@pytest.fixture
def get(m365sim, contoso_consented):
    token = app_token(m365sim, str(contoso_consented.id))
    browser = m365sim.browser()

    def get(path: str, *, token: str | None = token, **headers: str):
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return browser.get(f"{m365sim.url}/{GRAPH}/{path}", headers={**auth, **headers})

    return get


def assert_graph_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert {"date", "request-id", "client-request-id"} <= error["innerError"].keys()
    return error


def test_responses_carry_request_ids(get):
    response = get("organization", **{"client-request-id": "mine"})
    assert response.headers["client-request-id"] == "mine"
    assert response.headers["request-id"]


def test_organization_has_verified_domains(get, contoso_consented):
    org = get("organization").json()["value"][0]
    assert org["id"] == str(contoso_consented.id)
    assert {d["name"]: d["isInitial"] for d in org["verifiedDomains"]} == {
        "contoso.com": False,
        "contoso.onmicrosoft.com": True,
    }


def test_tokens_are_checked(get):
    assert_graph_error(get("users", token=None), 401, "InvalidAuthenticationToken")
    assert_graph_error(get("users", token="not.a.token"), 401, "InvalidAuthenticationToken")


def test_a_token_issued_after_the_consent_was_revoked_is_403(get, m365sim, contoso_consented):
    sim.revoke_consent(ServicePrincipal.objects.get())
    assert_graph_error(
        get("users", token=app_token(m365sim, str(contoso_consented.id))), 403, "Authorization_RequestDenied"
    )


def test_me_needs_a_delegated_token(get):
    assert_graph_error(get("me"), 400, "Request_BadRequest")


@pytest.mark.parametrize("top", ["0", "1000"])
def test_top_is_1_to_999(get, top):
    assert get("users?$top=999").status_code == 200
    error = assert_graph_error(get(f"users?$top={top}"), 400, "Request_UnsupportedQuery")
    assert error["message"] == f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive."


def test_top_must_be_an_integer(get):
    error = assert_graph_error(get("users?$top=x"), 400, "BadRequest")
    assert error["message"].startswith("Invalid value 'x' for $top query option found.")


def test_json_answers_carry_odata_headers(get):
    response = get("users")
    assert response.headers["Content-Type"] == (
        "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
    )
    assert response.headers["OData-Version"] == "4.0"


@pytest.mark.parametrize(
    ("path", "segment"),
    [("shoes", "shoes"), ("users/admin@contoso.onmicrosoft.com/shoes", "shoes"), ("groups/delta/x", "x")],
)
def test_an_unknown_segment_is_graphs_400(get, path, segment):
    error = assert_graph_error(get(path), 400, "BadRequest")
    assert error["message"] == f"Resource not found for the segment '{segment}'."


def test_users_default_page_is_100_and_select_picks_properties(get):
    body = get("users").json()
    assert len(body["value"]) == 23
    assert "@odata.nextLink" not in body
    assert set(body["value"][0]) == {
        *["businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation"],
        *["preferredLanguage", "surname", "userPrincipalName", "id"],
    }
    selected = get("users?$select=displayName,accountEnabled,assignedLicenses").json()["value"][0]
    assert set(selected) == {"id", "displayName", "accountEnabled", "assignedLicenses"}
    assert_graph_error(get("users?$select=shoeSize"), 400, "Request_BadRequest")


def test_filters(get):
    by_upn = get("users?$filter=userPrincipalName eq 'ALEX@contoso.onmicrosoft.com'").json()["value"]
    assert [u["displayName"] for u in by_upn] == ["Alex Wilber"]
    group = Group.objects.order_by("id")[0]
    found = get(f"groups?$filter=startswith(displayName,'{group.display_name[:5]}')").json()["value"]
    assert group.display_name in {g["displayName"] for g in found}
    assert_graph_error(get("users?$filter=jobTitle ne 'x'"), 400, "Request_UnsupportedQuery")


def test_count_needs_consistency_level_eventual(get):
    assert_graph_error(get("users?$count=true"), 400, "Request_BadRequest")
    assert get("users?$count=true&$top=1", ConsistencyLevel="eventual").json()["@odata.count"] == 23


@pytest.mark.usefixtures("m365sim")
def test_paging_by_opaque_skiptoken(get):
    first = get("users?$top=10").json()
    assert len(first["value"]) == 10
    link = first["@odata.nextLink"]
    assert link.startswith("https://graph.microsoft.com/v1.0/users?$top=10&$skiptoken=")
    second = get(link.split("/v1.0/", 1)[1]).json()
    assert not {u["id"] for u in first["value"]} & {u["id"] for u in second["value"]}


def test_a_user_by_id_or_upn_and_a_missing_one(get, contoso_admin):
    assert get(f"users/{contoso_admin.id}").json()["userPrincipalName"] == contoso_admin.user_principal_name
    assert get("users/admin@contoso.onmicrosoft.com").json()["id"] == str(contoso_admin.id)
    assert_graph_error(get("users/nobody@contoso.onmicrosoft.com"), 404, "Request_ResourceNotFound")


def test_members_memberof_and_transitive_members(get):
    parent = Group.objects.order_by("id")[0]
    child = Group.objects.exclude(pk=parent.pk).order_by("id")[0]
    sim.add_member(parent, child)

    direct = get(f"groups/{parent.id}/members").json()["value"]
    assert {m["@odata.type"] for m in direct} == {"#microsoft.graph.user", "#microsoft.graph.group"}
    transitive = {m["id"] for m in get(f"groups/{parent.id}/transitiveMembers").json()["value"]}
    child_users = {str(m.member_user_id) for m in child.memberships.filter(member_user__isnull=False)}
    assert child_users <= transitive
    assert str(child.id) in transitive

    user_id = direct[0]["id"] if direct[0]["@odata.type"].endswith("user") else direct[1]["id"]
    assert str(parent.id) in {g["id"] for g in get(f"users/{user_id}/memberOf").json()["value"]}


def test_directory_role_members(get, contoso_admin):
    members = get("directoryRoles(roleTemplateId='62e90394-69f5-4237-9190-012177145e10')/members").json()["value"]
    assert [m["id"] for m in members] == [str(contoso_admin.id)]
    roles = {r["roleTemplateId"]: r for r in get("directoryRoles").json()["value"]}
    admins = roles["62e90394-69f5-4237-9190-012177145e10"]
    assert admins["displayName"] == "Global Administrator"
    assert admins["id"] != admins["roleTemplateId"]
    assert get(f"directoryRoles/{admins['id']}").json()["roleTemplateId"] == admins["roleTemplateId"]
    assert [m["id"] for m in get(f"directoryRoles/{admins['id']}/members").json()["value"]] == [str(contoso_admin.id)]
    assert_graph_error(
        get("directoryRoles(roleTemplateId='fe930be7-5e62-47db-91af-98c3a49a38b1')/members"),
        404,
        "Request_ResourceNotFound",
    )


def test_delta_pages_by_maxpagesize_and_ends_in_a_delta_link(get):
    response = get("users/delta?$select=displayName", Prefer="odata.maxpagesize=10")
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=10"
    pages = [response.json()]
    while "@odata.nextLink" in pages[-1]:
        pages.append(get(pages[-1]["@odata.nextLink"].split("/v1.0/", 1)[1], Prefer="odata.maxpagesize=10").json())
    assert [len(p["value"]) for p in pages] == [10, 10, 3]
    assert pages[-1]["@odata.deltaLink"].startswith("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=")
    assert set(pages[0]["value"][0]) == {"id", "displayName"}
    assert_graph_error(get("users/delta?$top=5"), 400, "Request_BadRequest")


@pytest.mark.parametrize("function", ["delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"])
def test_delta_answers_every_spelling_and_links_keep_it(get, function):
    pages = [get(f"groups/{function}", Prefer="odata.maxpagesize=3").json()]
    while "@odata.nextLink" in pages[-1]:
        assert pages[-1]["@odata.nextLink"].startswith(f"https://graph.microsoft.com/v1.0/groups/{function}?")
        pages.append(get(pages[-1]["@odata.nextLink"].split("/v1.0/", 1)[1], Prefer="odata.maxpagesize=3").json())
    assert len(pages) == 2
    assert sum(len(p["value"]) for p in pages) == 4
    assert pages[-1]["@odata.deltaLink"].startswith(f"https://graph.microsoft.com/v1.0/groups/{function}?$deltatoken=")


@pytest.mark.usefixtures("contoso")
def test_delta_removed_reasons(get):
    delta_link = get("users/delta", Prefer="odata.maxpagesize=999").json()["@odata.deltaLink"]
    soft, hard = User.objects.filter(password="").order_by("id")[:2]
    sim.delete_user(soft)
    sim.delete_user(hard, permanent=True)

    changes = get(delta_link.split("/v1.0/", 1)[1]).json()["value"]
    assert {c["id"]: c["@removed"]["reason"] for c in changes} == {str(soft.id): "changed", str(hard.id): "deleted"}


def test_an_unknown_delta_token_is_sync_state_not_found(get):
    assert_graph_error(get("users/delta?$deltatoken=bogus"), 400, "syncStateNotFound")


EXPIRED_PAGE_TOKEN = "The specified page token value has expired and can no longer be included in your request."


@pytest.mark.parametrize(
    ("path", "headers"), [("users?$top=10", {}), ("users/delta", {"Prefer": "odata.maxpagesize=10"})]
)
def test_a_page_token_older_than_its_lifetime_is_directory_expired_page_token(get, settings, path, headers):
    next_link = get(path, **headers).json()["@odata.nextLink"].split("/v1.0/", 1)[1]
    assert get(next_link, **headers).status_code == 200
    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 0
    error = assert_graph_error(get(next_link, **headers), 400, "Directory_ExpiredPageToken")
    assert error["message"] == EXPIRED_PAGE_TOKEN
    assert get(path, **headers).status_code == 200  # the listing itself, from its start, still answers


def test_a_delta_link_is_no_page_token(get, settings):
    delta_link = get("users/delta", Prefer="odata.maxpagesize=999").json()["@odata.deltaLink"]
    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 0
    assert get(delta_link.split("/v1.0/", 1)[1]).status_code == 200


def test_throttling_and_retry_after(get, contoso_consented):
    sim.set_faults(contoso_consented, throttle_next=2, throttle_retry_after=3)
    throttled = get("users")
    assert_graph_error(throttled, 429, "TooManyRequests")
    assert throttled.headers["Retry-After"] == "3"
    assert get("users").status_code == 429
    assert get("users").status_code == 200


def test_a_fraction_of_requests_throttled(get, contoso_consented):
    sim.set_faults(contoso_consented, throttle_fraction=1.0, throttle_status=503)
    assert_graph_error(get("users"), 503, "serviceNotAvailable")


def test_latency(get, contoso_consented):
    sim.set_faults(contoso_consented, latency_ms=60)
    started = time.monotonic()
    get("organization")
    assert time.monotonic() - started >= 0.06


def test_latency_is_the_whole_time_to_answer_the_simulators_own_work_included(get, contoso_consented, monkeypatch):
    sim.set_faults(contoso_consented, latency_ms=300)
    slept: list[float] = []
    monkeypatch.setattr(graph_request.time, "sleep", slept.append)
    get("organization")
    (waited,) = slept
    assert 0 < waited < 0.3


def test_requests_are_counted_per_endpoint(get, m365sim):
    get("users")
    get("users")
    get("organization")
    counts = m365sim.control("GET", "tenants/contoso/requests")["requests"]
    assert (counts["users"], counts["organization"], counts["token"]) == (2, 1, 1)
