"""Delta queries as Microsoft answers them: capped pages, a large group's members over several pages, replays,
synchronization resets, expired page tokens, @removed in an initial round, no members@delta without members."""

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from m365sim import services as sim
from m365sim.models import Group, Membership, Tenant, User
from m365sim.seed import seed_tenant
from tests.admin.staff import mfa_client

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def follow(get, first: str, **headers: str) -> list[dict]:
    """Every page of a round, from its first request to its deltaLink."""
    pages = [get(first, **headers).json()]
    while "@odata.nextLink" in pages[-1]:
        response = get(pages[-1]["@odata.nextLink"], **headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    assert "@odata.deltaLink" in pages[-1]
    return pages


def live_user_ids(tenant: Tenant) -> set[str]:
    return {str(pk) for pk in User.objects.filter(tenant=tenant, deleted_at__isnull=True).values_list("id", flat=True)}


def a_group_with_members(tenant: Tenant, name: str, count: int) -> Group:
    group = sim.add_group(tenant, display_name=name)
    for user in User.objects.filter(tenant=tenant, deleted_at__isnull=True).order_by("id")[:count]:
        sim.add_member(group, user)
    return group


# Page caps.


def test_users_delta_pages_hold_at_most_200_users_whatever_prefer_asks(get, contoso_consented):
    seed_tenant("contoso", users=450, groups=0, members_per_group=0)  # 453 users with the named ones
    first = get("users/delta", Prefer="odata.maxpagesize=999")
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=200"  # the size applied, not the one asked
    pages = follow(get, "users/delta", Prefer="odata.maxpagesize=999")
    assert [len(page["value"]) for page in pages] == [200, 200, 53]
    assert {user["id"] for page in pages for user in page["value"]} == live_user_ids(contoso_consented)

    # Without Prefer, the cap is the page size too; a smaller Prefer is honoured.
    unasked = get("users/delta")
    assert len(unasked.json()["value"]) == 200
    assert "Preference-Applied" not in unasked.headers
    assert len(get("users/delta", Prefer="odata.maxpagesize=50").json()["value"]) == 50
    # /users keeps its own limit: $top up to 999.
    assert len(get("users?$top=999").json()["value"]) == 453


def test_the_cap_is_a_setting_and_a_tenant_can_override_it(get, contoso_consented, settings):
    settings.M365SIM_USERS_DELTA_PAGE_CAP = 7
    assert [len(p["value"]) for p in follow(get, "users/delta", Prefer="odata.maxpagesize=999")] == [7, 7, 7, 2]
    sim.set_faults(contoso_consented, users_delta_page_cap=10)
    response = get("users/delta", Prefer="odata.maxpagesize=999")
    assert response.headers["Preference-Applied"] == "odata.maxpagesize=10"
    assert len(response.json()["value"]) == 10


def members_of(pages: list[dict], group_id: str) -> list[dict]:
    return [m for page in pages for g in page["value"] if g["id"] == group_id for m in g.get("members@delta", [])]


def test_a_large_groups_members_continue_on_the_next_pages_with_the_group_repeated(get, contoso_consented):
    sim.set_faults(contoso_consented, members_delta_page_cap=6)
    large = a_group_with_members(contoso_consented, "Everyone", 15)
    pages = follow(get, "groups/delta?$select=displayName,members", Prefer="odata.maxpagesize=999")

    # At most 6 members@delta entries on a page, counted across all its groups.
    assert all(sum(len(g.get("members@delta", [])) for g in page["value"]) <= 6 for page in pages)
    on = [
        (number, page["value"].index(g))
        for number, page in enumerate(pages)
        for g in page["value"]
        if g["id"] == str(large.id)
    ]
    assert len(on) >= 3  # 15 members, 6 a page
    assert [number for number, _ in on] == list(range(on[0][0], on[0][0] + len(on)))  # on consecutive pages
    assert all(position == 0 for _, position in on[1:])  # continued at the top of the next page
    assert all(position == len(pages[number]["value"]) - 1 for number, position in on[:-1])  # it ended its page
    appearances = [pages[number]["value"][position] for number, position in on]
    assert all(g["displayName"] == "Everyone" for g in appearances)  # the same properties each time
    entries = members_of(pages, str(large.id))
    assert len(entries) == len({e["id"] for e in entries}) == 15
    expected = {str(m) for m in large.memberships.values_list("member_user_id", flat=True)}
    assert {e["id"] for e in entries} == expected

    # Every group and every membership of the tenant, once.
    groups = Group.objects.filter(tenant=contoso_consented, deleted_at__isnull=True)
    assert {g["id"] for page in pages for g in page["value"]} == {str(g.id) for g in groups}
    total = Membership.objects.filter(group__tenant=contoso_consented, removed=False).count()
    assert sum(len(g.get("members@delta", [])) for page in pages for g in page["value"]) == total


def test_the_members_cap_defaults_to_500_entries_a_page(get, contoso_consented):
    seed_tenant("contoso", users=700, groups=0, members_per_group=0)
    large = a_group_with_members(contoso_consented, "All staff", 650)
    pages = follow(get, "groups/delta?$select=displayName,members", Prefer="odata.maxpagesize=999")
    total = Membership.objects.filter(group__tenant=contoso_consented, removed=False).count()
    # Filled to the cap, whichever groups the entries belong to; the large group on both pages.
    assert [sum(len(g.get("members@delta", [])) for g in page["value"]) for page in pages] == [500, total - 500]
    assert all(members_of([page], str(large.id)) for page in pages)


def test_a_group_without_members_or_without_member_changes_has_no_members_property(get, contoso_consented):
    empty = sim.add_group(contoso_consented, display_name="Nobody yet")
    pages = follow(get, "groups/delta?$select=displayName,members")
    (initial,) = [g for page in pages for g in page["value"] if g["id"] == str(empty.id)]
    assert "members@delta" not in initial
    member_full = [g for page in pages for g in page["value"] if g.get("members@delta")]
    assert member_full  # groups with members do carry it

    renamed = Group.objects.filter(tenant=contoso_consented, memberships__isnull=False).distinct()[0]
    sim.update_group(renamed, display_name="Renamed")
    changes = follow(get, pages[-1]["@odata.deltaLink"])
    assert [(g["id"], g["displayName"], "members@delta" in g) for p in changes for g in p["value"]] == [
        (str(renamed.id), "Renamed", False)
    ]


# Replays and synchronization resets.


def test_a_replay_repeats_the_previous_pages_changes(get, contoso_consented):
    first = get("users/delta", Prefer="odata.maxpagesize=5").json()
    sim.set_faults(contoso_consented, delta_replay_next=1)
    second = get(first["@odata.nextLink"], Prefer="odata.maxpagesize=5").json()
    assert second["value"] == first["value"]  # the same changes again
    assert Tenant.objects.get().delta_replay_next == 0
    third = get(second["@odata.nextLink"], Prefer="odata.maxpagesize=5").json()
    assert {u["id"] for u in third["value"]}.isdisjoint(u["id"] for u in first["value"])  # then it moves on

    pages = [first, second, third]
    while "@odata.nextLink" in pages[-1]:
        pages.append(get(pages[-1]["@odata.nextLink"], Prefer="odata.maxpagesize=5").json())
    assert {u["id"] for page in pages for u in page["value"]} == live_user_ids(contoso_consented)


def test_a_replay_inside_a_split_group_repeats_its_members(get, contoso_consented):
    sim.set_faults(contoso_consented, members_delta_page_cap=4)
    large = a_group_with_members(contoso_consented, "Big", 10)
    pages = [get("groups/delta?$select=displayName,members", Prefer="odata.maxpagesize=1").json()]
    while not any(g["id"] == str(large.id) for g in pages[-1]["value"]):
        pages.append(get(pages[-1]["@odata.nextLink"], Prefer="odata.maxpagesize=1").json())
    sim.set_faults(contoso_consented, delta_replay_next=1)
    replayed = get(pages[-1]["@odata.nextLink"], Prefer="odata.maxpagesize=1").json()
    assert replayed["value"] == pages[-1]["value"]
    rest = [replayed]
    while "@odata.nextLink" in rest[-1]:
        rest.append(get(rest[-1]["@odata.nextLink"], Prefer="odata.maxpagesize=1").json())
    assert {e["id"] for e in members_of(pages + rest, str(large.id))} == {
        str(m) for m in large.memberships.values_list("member_user_id", flat=True)
    }


def test_a_synchronization_reset_is_410_with_a_fresh_initial_round_in_location(get, contoso_consented):
    first = get("groups/delta?$select=displayName,members", Prefer="odata.maxpagesize=2").json()
    sim.set_faults(contoso_consented, delta_reset_next=1)
    gone = get(first["@odata.nextLink"], Prefer="odata.maxpagesize=2")
    assert gone.status_code == 410, gone.text
    assert gone.json()["error"]["code"] == "resyncRequired"
    location = urlsplit(gone.headers["Location"])
    assert location.geturl().startswith("https://graph.microsoft.com/v1.0/groups/delta?")
    query = parse_qs(location.query, keep_blank_values=True)
    assert query.keys() == {"$select", "$deltatoken"}
    assert query["$deltatoken"] == [""]  # the initial query, with an empty token
    assert set(query["$select"][0].split(",")) == {"displayName", "members", "id"}
    assert Tenant.objects.get().delta_reset_next == 0

    pages = follow(get, gone.headers["Location"], Prefer="odata.maxpagesize=2")
    groups = Group.objects.filter(tenant=contoso_consented, deleted_at__isnull=True)
    assert {g["id"] for page in pages for g in page["value"]} == {str(g.id) for g in groups}  # a full round
    total = Membership.objects.filter(group__tenant=contoso_consented, removed=False).count()
    assert sum(len(g.get("members@delta", [])) for page in pages for g in page["value"]) == total  # with members


def test_a_reset_answers_a_delta_link_too_but_never_a_first_request(get, contoso_consented):
    delta_link = follow(get, "users/delta")[-1]["@odata.deltaLink"]
    sim.set_faults(contoso_consented, delta_reset_next=1)
    assert get("users/delta").status_code == 200  # nothing to reset: it is already a first request
    assert get(delta_link).status_code == 410
    assert get(delta_link).status_code == 200


# Page tokens expired at once.


@pytest.mark.parametrize(
    ("path", "headers"), [("users?$top=5", {}), ("users/delta", {"Prefer": "odata.maxpagesize=5"})]
)
def test_expire_page_tokens_now(get, m365sim, path, headers):
    next_link = get(path, **headers).json()["@odata.nextLink"]
    state = m365sim.control("POST", "tenants/contoso/faults", {"expire_page_tokens": True})
    assert state["page_tokens_valid_after"]
    expired = get(next_link, **headers)
    assert expired.status_code == 400
    assert expired.json()["error"]["code"] == "Directory_ExpiredPageToken"
    fresh = get(get(path, **headers).json()["@odata.nextLink"], **headers)  # a listing begun since works
    assert fresh.status_code == 200, fresh.text


# @removed in an initial round.


def test_an_initial_round_lists_recently_deleted_objects_as_removed(get, contoso_consented):
    users = list(User.objects.filter(tenant=contoso_consented, password="").order_by("id")[:3])
    recent, gone_for_good, long_ago = users
    sim.delete_user(recent)
    sim.delete_user(gone_for_good, permanent=True)
    sim.delete_user(long_ago)
    User.objects.filter(pk=long_ago.pk).update(deleted_at=timezone.now() - dt.timedelta(days=31))
    group = sim.add_group(contoso_consented, display_name="Short-lived")
    sim.delete_group(group)

    removed = {
        entry["id"]: entry["@removed"]
        for page in follow(get, "users/delta") + follow(get, "groups/delta")
        for entry in page["value"]
        if "@removed" in entry
    }
    # Restorable for 30 days: "changed". Permanently deleted, or past the 30 days: not listed.
    assert removed == {str(recent.id): {"reason": "changed"}, str(group.id): {"reason": "changed"}}


def test_the_admin_action_expires_page_tokens_now(get, contoso_consented, admin_user):
    next_link = get("users?$top=5").json()["@odata.nextLink"]
    staff = mfa_client(admin_user)
    response = staff.post(
        reverse("admin:m365sim_tenant_changelist"),
        {"action": "expire_page_tokens", "_selected_action": [contoso_consented.pk]},
        follow=True,
    )
    assert "Page tokens expired." in response.content.decode()
    assert get(next_link).json()["error"]["code"] == "Directory_ExpiredPageToken"
