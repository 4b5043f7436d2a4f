"""The navigation's organization switcher: every organization for most users, the recently used ones for MSPs."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from organizations.models import Role
from organizations.scoping import SWITCHER_SIZE
from tests.cast import client_for
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

SWITCHER = re.compile(r'aria-labelledby="org-switcher">(.*?)</ul>', re.S)
ITEM = re.compile(r'<a class="dropdown-item( active)?" href="([^"]+)">([^<]+?)\s*<')


def switcher_items(page: str) -> list[tuple[str, bool]]:
    """(label, active) of each organization in the switcher's menu."""
    menu = SWITCHER.search(page)
    assert menu is not None
    all_organizations = reverse("all_organizations")
    return [
        (label.strip(), bool(active))
        for active, href, label in ITEM.findall(menu.group(1))
        if href != all_organizations
    ]


def more_link(page: str) -> bool:
    menu = SWITCHER.search(page)
    assert menu is not None
    return f'href="{reverse("all_organizations")}">All organizations…' in menu.group(1)


def visit(client, membership) -> str:
    response = client.get(reverse("service_status", args=[membership.organization.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_few_organizations_are_all_listed_by_name():
    user = UserFactory.create()
    memberships = [
        MembershipFactory.create(user=user, organization=OrganizationFactory.create(name=name), role=Role.ADMIN)
        for name in ("Zeta", "Alpha")
    ]
    page = visit(client_for(memberships[0]), memberships[0])
    assert switcher_items(page) == [("Alpha", False), ("Zeta", True)]
    assert not more_link(page)


def test_an_msp_sees_the_organizations_it_used_last_and_a_way_to_the_rest():
    user = UserFactory.create()
    memberships = [
        MembershipFactory.create(
            user=user, organization=OrganizationFactory.create(name=f"Client {n:02}"), role=Role.ADMIN
        )
        for n in range(SWITCHER_SIZE + 5)
    ]
    client = client_for(memberships[0])
    used = memberships[3:]  # in this order: the last SWITCHER_SIZE of them are the most recent
    for membership in used:
        visit(client, membership)
    page = visit(client, used[-1])
    expected = sorted(m.organization.name for m in used[-SWITCHER_SIZE:])
    assert [label for label, _ in switcher_items(page)] == expected
    assert ("Client 14", True) in switcher_items(page)
    assert more_link(page)

    never_used = memberships[0]
    items = switcher_items(visit(client, never_used))  # not among the recent ones: found, and listed, all the same
    assert ("Client 00", True) in items
    assert len(items) == SWITCHER_SIZE


def test_the_switcher_costs_the_same_for_2_or_60_organizations():
    user = UserFactory.create()
    current = MembershipFactory.create(
        user=user, organization=OrganizationFactory.create(name="Current"), role=Role.ADMIN
    )
    MembershipFactory.create(user=user, role=Role.READ_ONLY)
    client = client_for(current)

    def queries() -> list[str]:
        visit(client, current)
        with CaptureQueriesContext(connection) as ctx:
            visit(client, current)
        return [query["sql"] for query in ctx.captured_queries]

    few = queries()
    for _ in range(58):
        MembershipFactory.create(user=user, role=Role.READ_ONLY)
    many = queries()
    assert len(many) == len(few)
    memberships = [sql for sql in many if 'FROM "tenants_membership"' in sql]
    assert len(memberships) == 1
    assert memberships[0].endswith(f"LIMIT {SWITCHER_SIZE + 1}")


def test_login_lands_on_the_organization_used_last():
    user = UserFactory.create()
    used = MembershipFactory.create(user=user, organization=OrganizationFactory.create(name="Used"), role=Role.ADMIN)
    MembershipFactory.create(user=user, organization=OrganizationFactory.create(name="Never used"), role=Role.ADMIN)
    client = client_for(used)
    visit(client, used)
    assert client.get("/")["Location"] == reverse("dashboard", args=[used.organization.slug])


@pytest.mark.usefixtures("cast")
def test_pages_outside_an_organization_list_them_too(owner_client):
    page = owner_client.get(reverse("account")).content.decode()
    assert switcher_items(page) == [("Contoso", False)]
