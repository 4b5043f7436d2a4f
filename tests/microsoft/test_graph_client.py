"""The Graph client against the simulator: typed results, paging, delta rounds, errors."""

import pytest

from m365sim import services as sim
from m365sim.models import Group, User
from m365sim.seed import seed_tenant
from microsoft import errors, graph
from microsoft.graph import GraphClient

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture
def client(m365sim, contoso_consented) -> GraphClient:  # noqa: ARG001 (needed for its side effect: fixtures cannot take usefixtures)
    return GraphClient(str(contoso_consented.id))


@pytest.mark.usefixtures("m365sim")
def test_2500_users_at_999_a_page_are_three_pages(portal_app):
    tenant = seed_tenant("fabrikam", users=2497, groups=0, members_per_group=0).tenant  # + admin, pra, alex
    sim.grant_admin_consent(
        tenant, portal_app, user=User.objects.get(user_principal_name="admin@fabrikam.onmicrosoft.com")
    )
    client = GraphClient(str(tenant.id))

    pages, link = [], None
    while True:
        page = client.users_page(link, page_size=999)
        pages.append(page)
        if not page.next_link:
            break
        link = page.next_link

    assert [len(p.items) for p in pages] == [999, 999, 502]
    assert len({u.id for p in pages for u in p.items}) == 2500
    assert pages[0].next_link is not None
    assert pages[0].next_link.startswith("https://graph.microsoft.com/v1.0/users?")


def test_a_page_of_1000_is_a_400(client):
    with pytest.raises(errors.GraphError) as excinfo:
        client.users_page(page_size=1000)
    assert excinfo.value.status == 400
    assert "Must be between 1 and 999" in excinfo.value.message


def test_users_and_groups_are_typed(client):
    user = client.find_user_by_upn("ALEX@contoso.onmicrosoft.com")
    assert isinstance(user, graph.DirectoryUser)
    assert user.display_name == "Alex Wilber"
    assert user.account_enabled is True
    assert client.user(user.id) == user
    assert client.count_users() == 23

    first_group = Group.objects.first()
    assert first_group is not None
    groups = client.search_groups(first_group.display_name[:4])
    assert groups
    assert all(isinstance(g, graph.DirectoryGroup) for g in groups)
    members = list(client.iter_group_members(groups[0].id))
    assert members
    assert all(isinstance(m, graph.DirectoryUser) for m in members)
    assert groups[0].id in {g.id for g in client.iter_member_of_groups(members[0].id)}


def test_unknown_user_is_none(client):
    assert client.find_user_by_upn("nobody@contoso.onmicrosoft.com") is None
    assert client.user("nobody@contoso.onmicrosoft.com") is None


def test_unknown_group_is_not_found(client):
    with pytest.raises(errors.NotFound):
        list(client.iter_group_members("00000000-0000-0000-0000-000000000003"))


def test_directory_role_members(client, contoso_admin):
    assert client.directory_role_member_ids("62e90394-69f5-4237-9190-012177145e10") == {str(contoso_admin.id)}
    with pytest.raises(errors.NotFound):  # a role nobody holds is not activated in the tenant
        client.directory_role_member_ids("fe930be7-5e62-47db-91af-98c3a49a38b1")


def _round(fetch, link=None):
    changes = []
    while True:
        page = fetch(link, page_size=7)
        changes += page.items
        if page.delta_link:
            return changes, page.delta_link
        link = page.next_link


def test_delta_round_reports_exactly_the_changes_since_the_last(client, contoso):
    changes, delta_link = _round(client.users_delta)
    assert len(changes) == 23
    assert all(c.user for c in changes)
    assert _round(client.users_delta, delta_link)[0] == []

    renamed, deleted = User.objects.filter(tenant=contoso, password="").order_by("id")[:2]
    sim.update_user(renamed, display_name="Renamed Person")
    sim.delete_user(deleted)
    changes, _ = _round(client.users_delta, delta_link)

    assert {c.id for c in changes} == {str(renamed.id), str(deleted.id)}
    by_id = {c.id: c for c in changes}
    assert by_id[str(renamed.id)].user.display_name == "Renamed Person"
    assert by_id[str(deleted.id)].user is None
    assert by_id[str(deleted.id)].removed == "changed"


@pytest.mark.usefixtures("contoso")
def test_group_delta_carries_memberships(client):
    changes, delta_link = _round(client.groups_delta)
    assert len(changes) == 4
    assert all(len(c.members_added) == 5 for c in changes)

    group = Group.objects.order_by("id").first()
    assert group is not None
    membership = group.memberships.filter(member_user__isnull=False).first()
    assert membership is not None
    leaving = membership.member_user
    assert leaving is not None
    sim.remove_member(group, leaving)
    changes, _ = _round(client.groups_delta, delta_link)

    assert [(c.id, c.members_added, c.members_removed) for c in changes] == [
        (str(group.id), (), (graph.MemberRef(id=str(leaving.id), kind="user"),))
    ]


@pytest.mark.usefixtures("contoso")
def test_expired_delta_token_must_start_over(m365sim, client):
    _, delta_link = _round(client.users_delta)
    m365sim.control("POST", "tenants/contoso/delta-tokens/expire")

    with pytest.raises(errors.DeltaTokenExpired):
        client.users_delta(delta_link)


def test_throttling_gives_throttled_with_retry_after(client, contoso):
    sim.set_faults(contoso, throttle_next=1, throttle_retry_after=7)

    with pytest.raises(errors.Throttled) as excinfo:
        client.tenant_details()
    assert excinfo.value.retry_after == 7
    assert client.tenant_details().display_name == "Contoso"


def test_service_unavailable_is_throttled_too(client, contoso):
    sim.set_faults(contoso, throttle_next=1, throttle_status=503, throttle_retry_after=2)

    with pytest.raises(errors.Throttled) as excinfo:
        client.tenant_details()
    assert excinfo.value.status == 503
    assert isinstance(excinfo.value, errors.TransientError)
