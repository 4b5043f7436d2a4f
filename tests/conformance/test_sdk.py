"""azure-identity and msgraph-sdk drive the simulator as an integrator's code would (see tests/conformance/sdk.py)."""

import base64
import json

import pytest
from azure.core.exceptions import ClientAuthenticationError
from django.conf import settings
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User as GraphUser
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import PageIterator

from m365sim import directory
from m365sim.models import Group, Membership, User
from tests.conformance.sdk import GRAPH_BASE, GRAPH_SCOPE, credential, run_graph

pytestmark = [pytest.mark.conformance, pytest.mark.django_db(transaction=True, databases=["default", "m365sim"])]


def users_top(top: int) -> RequestConfiguration:
    return RequestConfiguration(query_parameters=UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(top=top))


def live_user_ids() -> set[str]:
    return {str(pk) for pk in User.objects.filter(deleted_at__isnull=True).values_list("id", flat=True)}


def test_client_secret_credential_gets_an_app_only_token(reroute, tenant):
    token = credential(reroute, str(tenant.id)).get_token(GRAPH_SCOPE)
    claims = json.loads(base64.urlsafe_b64decode(token.token.split(".")[1] + "=="))
    assert (claims["tid"], claims["idtyp"], claims["aud"]) == (str(tenant.id), "app", directory.GRAPH_AUDIENCE)
    assert "User.Read.All" in claims["roles"]
    assert reroute.sent[-1] == f"https://login.microsoftonline.com/{tenant.id}/oauth2/v2.0/token"
    assert not any("discovery/instance" in url for url in reroute.sent)


def test_a_missing_service_principal_is_a_client_authentication_error(reroute, tenant, m365sim_live):
    path = f"tenants/contoso/service-principals/{settings.MICROSOFT_CLIENT_ID}"
    m365sim_live.control("POST", path, {"action": "delete"})
    with pytest.raises(ClientAuthenticationError) as excinfo:
        credential(reroute, str(tenant.id)).get_token(GRAPH_SCOPE)
    assert "AADSTS7000229" in excinfo.value.message


def test_organization(reroute, tenant):
    async def scenario(graph):
        return await graph.organization.get()

    (org,) = run_graph(reroute, str(tenant.id), scenario).value
    assert org.id == str(tenant.id)
    assert {d.name for d in org.verified_domains} == {"contoso.com", "contoso.onmicrosoft.com"}


def test_users_top_999_works_and_1000_is_request_unsupported_query(reroute, tenant):
    async def scenario(graph):
        page = await graph.users.get(request_configuration=users_top(999))
        with pytest.raises(ODataError) as excinfo:
            await graph.users.get(request_configuration=users_top(1000))
        return page, excinfo.value

    page, error = run_graph(reroute, str(tenant.id), scenario)
    assert len(page.value) == 253
    assert page.odata_next_link is None
    assert error.response_status_code == 400
    assert error.error.code == "Request_UnsupportedQuery"
    assert error.error.message == "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."


def test_page_iterator_walks_every_user_once(reroute, tenant):
    async def scenario(graph):
        seen: list[str] = []

        def collect(user: GraphUser) -> bool:
            seen.append(str(user.id))
            return True

        first = await graph.users.get(request_configuration=users_top(100))
        iterator = PageIterator(first, graph.request_adapter)
        iterator.parsable_factory = UserCollectionResponse
        await iterator.iterate(collect)
        return seen

    seen = run_graph(reroute, str(tenant.id), scenario)
    assert len(seen) == len(set(seen)) == 253
    assert set(seen) == live_user_ids()
    assert len([p for p in reroute.graph_paths() if p.startswith("/users?")]) == 3


def test_groups_their_members_and_a_users_member_of(reroute, tenant):
    group = Group.objects.order_by("id")[0]
    expected = {
        str(m.member_user_id or m.member_group_id) for m in Membership.objects.filter(group=group, removed=False)
    }
    member_id = str(Membership.objects.filter(group=group, member_user__isnull=False)[0].member_user_id)

    async def scenario(graph):
        groups = await graph.groups.get()
        members = await graph.groups.by_group_id(str(group.id)).members.get()
        member_of = await graph.users.by_user_id(member_id).member_of.get()
        return groups, members, member_of

    groups, members, member_of = run_graph(reroute, str(tenant.id), scenario)
    assert {g.display_name for g in groups.value} == set(Group.objects.values_list("display_name", flat=True))
    assert {m.id for m in members.value} == expected
    assert all(m.odata_type in ("#microsoft.graph.user", "#microsoft.graph.group") for m in members.value)
    assert str(group.id) in {g.id for g in member_of.value}


def test_directory_roles_and_their_members(reroute, tenant):
    admin = User.objects.get(user_principal_name="admin@contoso.onmicrosoft.com")
    template = directory.GLOBAL_ADMINISTRATOR

    async def scenario(graph):
        roles = await graph.directory_roles.get()
        by_template = await graph.directory_roles_with_role_template_id(template).get()
        members = await graph.directory_roles.by_directory_role_id(by_template.id).members.get()
        members_by_template = (
            await graph.directory_roles.by_directory_role_id(by_template.id)
            .members.with_url(f"{GRAPH_BASE}/directoryRoles(roleTemplateId='{template}')/members")
            .get()
        )
        return roles, by_template, members, members_by_template

    roles, by_template, members, members_by_template = run_graph(reroute, str(tenant.id), scenario)
    assert template in {r.role_template_id for r in roles.value}
    assert (by_template.display_name, by_template.role_template_id) == ("Global Administrator", template)
    assert [m.id for m in members.value] == [m.id for m in members_by_template.value] == [str(admin.id)]


async def follow_users_delta(graph, link: str | None = None):
    """One delta round to its deltaLink: (the changed users, the deltaLink)."""
    builder = graph.users.delta
    page = await (builder.with_url(link).get() if link else builder.get())
    changes = list(page.value)
    while page.odata_next_link:
        page = await builder.with_url(page.odata_next_link).get()
        changes.extend(page.value)
    return changes, page.odata_delta_link


def test_users_delta_to_the_end_then_a_change_in_the_next_round(reroute, tenant, m365sim_live):
    async def first_round(graph):
        return await follow_users_delta(graph)

    changes, delta_link = run_graph(reroute, str(tenant.id), first_round)
    assert {u.id for u in changes} == live_user_ids()
    assert delta_link.startswith(f"{GRAPH_BASE}/users/")
    # msgraph-sdk spells the function delta(); the links Graph answers with keep that spelling.
    # 253 users: without Prefer, a users delta page holds the cap, 200.
    assert [p.split("?")[0] for p in reroute.graph_paths()] == ["/users/delta()"] * 2

    added = m365sim_live.control(
        "POST",
        "tenants/contoso/directory",
        {"op": "add_user", "user_principal_name": "new@contoso.onmicrosoft.com", "display_name": "New Hire"},
    )

    async def next_round(graph):
        return await follow_users_delta(graph, delta_link)

    changes, next_link = run_graph(reroute, str(tenant.id), next_round)
    assert [(u.id, u.display_name) for u in changes] == [(added["id"], "New Hire")]
    assert next_link
    assert next_link != delta_link


def test_groups_delta_to_the_end_then_a_change_in_the_next_round(reroute, tenant, m365sim_live):
    async def round_(graph, link=None):
        builder = graph.groups.delta
        page = await (builder.with_url(link).get() if link else builder.get())
        changes = list(page.value)
        while page.odata_next_link:
            page = await builder.with_url(page.odata_next_link).get()
            changes.extend(page.value)
        return changes, page.odata_delta_link

    changes, delta_link = run_graph(reroute, str(tenant.id), round_)
    assert {g.id for g in changes} == {str(pk) for pk in Group.objects.values_list("id", flat=True)}
    group = Group.objects.order_by("id")[0]
    m365sim_live.control(
        "POST", "tenants/contoso/directory", {"op": "update_group", "group": str(group.id), "display_name": "Renamed"}
    )

    async def next_round(graph):
        return await round_(graph, delta_link)

    changes, _ = run_graph(reroute, str(tenant.id), next_round)
    assert [(g.id, g.display_name) for g in changes] == [(str(group.id), "Renamed")]


def test_the_retry_handler_honours_429_and_retry_after(reroute, tenant, m365sim_live):
    m365sim_live.control("POST", "tenants/contoso/faults", {"throttle_next": 2, "throttle_retry_after": 1})

    async def scenario(graph):
        return await graph.organization.get()

    assert run_graph(reroute, str(tenant.id), scenario).value[0].id == str(tenant.id)
    assert reroute.graph_paths() == ["/organization"] * 3
    assert m365sim_live.control("GET", "tenants/contoso")["faults"]["throttle_next"] == 0


@pytest.mark.parametrize(
    "case",
    [
        # A token issued after the consent was revoked has no roles.
        ("service-principals/{client_id}", {"action": "revoke_consent"}, 403, "Authorization_RequestDenied"),
        # Right after the consent, Graph refuses the application's tokens for a while.
        ("faults", {"graph_propagation_seconds": 600}, 401, "InvalidAuthenticationToken"),
    ],
)
def test_401_and_403_are_odata_errors(reroute, tenant, m365sim_live, case):
    path, change, status, code = case

    async def scenario(graph):
        # Before the SDK's first token: Microsoft honours a token issued earlier until it expires.
        m365sim_live.control("POST", "tenants/contoso/" + path.format(client_id=settings.MICROSOFT_CLIENT_ID), change)
        with pytest.raises(ODataError) as excinfo:
            await graph.users.get()
        return excinfo.value

    error = run_graph(reroute, str(tenant.id), scenario)
    assert (error.response_status_code, error.error.code) == (status, code)
    assert error.error.message
    assert error.error.inner_error.request_id


def test_a_token_issued_before_the_consent_was_revoked_keeps_working(reroute, tenant, m365sim_live):
    async def scenario(graph):
        await graph.organization.get()  # the SDK's token, issued while the consent stands
        m365sim_live.control(
            "POST", f"tenants/contoso/service-principals/{settings.MICROSOFT_CLIENT_ID}", {"action": "revoke_consent"}
        )
        return await graph.users.get()

    assert run_graph(reroute, str(tenant.id), scenario).value


def test_right_after_consent_the_credential_meets_a_missing_service_principal(reroute, tenant, m365sim_live):
    m365sim_live.control("POST", "tenants/contoso/faults", {"token_propagation_seconds": 600})
    with pytest.raises(ClientAuthenticationError) as excinfo:
        credential(reroute, str(tenant.id)).get_token(GRAPH_SCOPE)
    assert "AADSTS7000229" in excinfo.value.message


def test_an_unknown_segment_is_an_odata_error(reroute, tenant):
    async def scenario(graph):
        with pytest.raises(ODataError) as excinfo:
            await graph.users.with_url(f"{GRAPH_BASE}/shoes").get()
        return excinfo.value

    error = run_graph(reroute, str(tenant.id), scenario)
    assert (error.response_status_code, error.error.code) == (400, "BadRequest")
    assert error.error.message == "Resource not found for the segment 'shoes'."
