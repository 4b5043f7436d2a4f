"""msgraph-sdk over the directory's shapes as Microsoft sends them: users delta pages capped at 200 under the SDK's
page iterator, a large group's members@delta over several pages, members that are contacts and devices, and a
synchronization reset (410 Gone with Location)."""

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.device import Device
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.org_contact import OrgContact
from msgraph.generated.models.user import User as GraphUser
from msgraph.generated.models.user_collection_response import UserCollectionResponse
from msgraph_core import PageIterator

from m365sim import services
from m365sim.models import Application, Group, Membership, Tenant, User
from m365sim.seed import seed_tenant
from tests.conformance.sdk import run_graph

pytestmark = [pytest.mark.conformance, pytest.mark.django_db(transaction=True, databases=["default", "m365sim"])]

PREFER = ("Prefer", "odata.maxpagesize=999")


@pytest.fixture
def large() -> Tenant:
    """Contoso with 450 users (453 with the named ones) and consent granted."""
    tenant = seed_tenant("contoso", users=450, groups=3, members_per_group=5).tenant
    admin = User.objects.get(user_principal_name="admin@contoso.onmicrosoft.com")
    services.grant_admin_consent(tenant, Application.objects.get(), user=admin)
    return tenant


def ask_for_999() -> RequestConfiguration:
    configuration: RequestConfiguration = RequestConfiguration()
    configuration.headers.add(*PREFER)
    return configuration


def test_the_page_iterator_walks_users_delta_in_pages_of_200_whatever_it_asks(reroute, large):
    async def scenario(graph):
        seen: list[str] = []

        def collect(user: GraphUser) -> bool:
            seen.append(str(user.id))
            return True

        first = await graph.users.delta.get(request_configuration=ask_for_999())
        iterator = PageIterator(first, graph.request_adapter)
        iterator.parsable_factory = UserCollectionResponse
        iterator.headers.add(*PREFER)
        await iterator.iterate(collect)
        return len(first.value), seen

    first_page, seen = run_graph(reroute, str(large.id), scenario)
    assert first_page == 200
    assert len(seen) == len(set(seen)) == 453
    assert set(seen) == {str(pk) for pk in User.objects.filter(deleted_at__isnull=True).values_list("id", flat=True)}
    assert len([p for p in reroute.graph_paths() if p.startswith("/users/delta()")]) == 3  # 200, 200 and 53


def test_a_large_groups_members_delta_comes_over_several_pages_and_merges_to_its_members(reroute, large, m365sim_live):
    m365sim_live.control("POST", "tenants/contoso/faults", {"members_delta_page_cap": 50})
    everyone = services.add_group(large, display_name="Everyone")
    for user in User.objects.filter(tenant=large).order_by("id")[:120]:
        services.add_member(everyone, user)

    async def scenario(graph):
        builder = graph.groups.delta
        page = await builder.get(
            request_configuration=RequestConfiguration(
                query_parameters=builder.DeltaRequestBuilderGetQueryParameters(select=["displayName", "members"])
            )
        )
        pages = [page]
        while page.odata_next_link:
            page = await builder.with_url(page.odata_next_link).get()
            pages.append(page)
        return pages

    pages = run_graph(reroute, str(large.id), scenario)
    appearances = [g for page in pages for g in page.value if g.id == str(everyone.id)]
    assert len(appearances) >= 3  # 120 members, at most 50 entries a page
    assert {g.display_name for g in appearances} == {"Everyone"}
    merged = [m["id"] for g in appearances for m in g.additional_data["members@delta"]]
    assert len(merged) == len(set(merged)) == 120
    for page in pages:
        assert sum(len(g.additional_data.get("members@delta", [])) for g in page.value) <= 50


def test_the_sdk_parses_contacts_and_devices_among_a_groups_members(reroute, large, m365sim_live):
    group = Group.objects.order_by("id")[0]
    path = "tenants/contoso/directory"
    contact = m365sim_live.control("POST", path, {"op": "add_contact", "display_name": "Desk", "mail": "d@x.example"})
    device = m365sim_live.control("POST", path, {"op": "add_device", "display_name": "KIOSK-01"})
    for obj in (contact, device):
        m365sim_live.control("POST", path, {"op": "add_member", "group": str(group.id), "object": obj["id"]})

    async def scenario(graph):
        return await graph.groups.by_group_id(str(group.id)).members.get()

    members = {m.id: m for m in run_graph(reroute, str(large.id), scenario).value}
    assert isinstance(members[contact["id"]], OrgContact)
    assert isinstance(members[device["id"]], Device)
    assert members[contact["id"]].odata_type == "#microsoft.graph.orgContact"
    # Without OrgContact.Read.All or Device.Read.All, Graph sends their type and id, their properties null.
    assert members[contact["id"]].display_name is None
    assert members[device["id"]].device_id is None
    users = {str(m.member_user_id) for m in Membership.objects.filter(group=group, member_user__isnull=False)}
    assert {i for i, m in members.items() if isinstance(m, GraphUser)} == users


def test_a_synchronization_reset_is_an_odata_error_410_whose_location_starts_a_full_round(reroute, large, m365sim_live):
    async def scenario(graph):
        builder = graph.users.delta
        first = await builder.get()
        m365sim_live.control("POST", "tenants/contoso/faults", {"delta_reset_next": 1})
        with pytest.raises(ODataError) as excinfo:
            await builder.with_url(first.odata_next_link).get()
        headers = excinfo.value.response_headers
        assert headers is not None
        page = await builder.with_url(headers["Location"]).get()
        ids = [u.id for u in page.value]
        while page.odata_next_link:
            page = await builder.with_url(page.odata_next_link).get()
            ids.extend(u.id for u in page.value)
        return excinfo.value, ids, page.odata_delta_link

    error, ids, delta_link = run_graph(reroute, str(large.id), scenario)
    assert (error.response_status_code, error.error.code) == (410, "resyncRequired")
    assert len(ids) == len(set(ids)) == 453  # every user again: a full round
    assert delta_link
