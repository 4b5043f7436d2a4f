"""All organizations: an MSP's overview of the organizations they belong to, and only those."""

import html
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from connection.models import ConnectionIncident
from directory.models import SyncRun, SyncStatus
from organizations.models import Membership, Organization, ProtectedService, Role, ServiceKind, ServiceStatus
from organizations.views import ORGANIZATIONS_PAGE_SIZE
from tests.cast import client_for
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("all_organizations")


def organizations_for(user, count: int, prefix: str = "Client") -> list[Organization]:
    """`count` organizations of `user`, in bulk: each with its services, a sync run, every third one broken."""
    organizations = Organization.objects.bulk_create(
        Organization(name=f"{prefix} {i:03}", slug=f"{prefix.lower()}-{i:03}", microsoft_tenant_id=None)
        for i in range(count)
    )
    ProtectedService.objects.bulk_create(
        ProtectedService(
            organization=organization, kind=kind, status=ServiceStatus.PROTECTED if i % 2 else ServiceStatus.NOT_GRANTED
        )
        for i, organization in enumerate(organizations)
        for kind in ServiceKind.values
    )
    Membership.objects.bulk_create(
        Membership(organization=organization, user=user, role=Role.ADMIN) for organization in organizations
    )
    SyncRun.objects.bulk_create(
        SyncRun(
            organization=organization,
            kind="full",
            trigger="grant",
            status=SyncStatus.SUCCEEDED,
            finished_at=timezone.now(),
        )
        for organization in organizations[1::2]
    )
    ConnectionIncident.objects.bulk_create(
        ConnectionIncident(organization=organization, reason="revoked") for organization in organizations[::3]
    )
    return organizations


def names_on(page) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/o/[^/]+/">([^<]+)</a>', page.content.decode())


def queries_for(client, url: str = URL, params: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params or {}).status_code == 200
    return len(captured)


def client_for_user(user: User) -> Client:
    membership = Membership.objects.filter(user=user).first()
    assert membership is not None
    return client_for(membership)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"page": "2"},
        {"sort": "-last_sync", "page": "2"},
        {"health": "broken", "status": "protected", "sort": "name", "page": "2"},
        {"page": "bogus"},
    ],
)
def test_the_number_of_queries_does_not_grow_with_the_organizations(params):
    fewer, more = UserFactory.create(), UserFactory.create()
    organizations_for(fewer, 60, prefix="Fewer")
    organizations_for(more, 120, prefix="More")
    fewer_client, more_client = client_for_user(fewer), client_for_user(more)
    queries_for(fewer_client)  # the session's first request touches it once
    queries_for(more_client)
    assert queries_for(more_client, params=params) == queries_for(fewer_client, params=params)
    # One page of rows, never all of them.
    assert len(names_on(more_client.get(URL))) == ORGANIZATIONS_PAGE_SIZE


def test_only_the_users_own_organizations_show(cast):
    mine = organizations_for(cast.owner.user, 2)
    # A stranger shares Fabrikam.
    other = MembershipFactory.create(organization=cast.outsider.organization, user=UserFactory.create())
    ConnectionIncident.objects.create(organization=other.organization, reason="revoked")
    page = client_for(cast.owner).get(URL)
    assert sorted(names_on(page)) == sorted([cast.organization.name, *(organization.name for organization in mine)])
    assert cast.outsider.organization.name not in page.content.decode()
    # Each organization once, whatever its other members.
    assert len(names_on(client_for(cast.reader).get(URL))) == 1


def test_broken_connections_come_first_then_the_page_sorts_and_filters(cast):
    user = cast.owner.user
    organizations_for(user, 6)  # Client 000 and 003 are broken; 001, 003 and 005 synchronized
    client = client_for(cast.owner)
    assert names_on(client.get(URL)) == [
        "Client 000",
        "Client 003",
        "Client 001",
        "Client 002",
        "Client 004",
        "Client 005",
        "Contoso",
    ]
    assert names_on(client.get(URL, {"sort": "-name"}))[:2] == ["Contoso", "Client 005"]
    assert set(names_on(client.get(URL, {"sort": "-last_sync"}))[:3]) == {"Client 001", "Client 003", "Client 005"}
    assert names_on(client.get(URL, {"sort": "last_sync"}))[:4] == ["Client 000", "Client 002", "Client 004", "Contoso"]
    assert names_on(client.get(URL, {"health": "broken"})) == ["Client 000", "Client 003"]
    assert names_on(client.get(URL, {"status": "protected"})) == ["Client 003", "Client 001", "Client 005"]
    assert names_on(client.get(URL, {"health": "bogus", "sort": "bogus"}))[0] == "Client 000"


def test_each_row_shows_the_services_health_and_last_sync_and_links_in(cast):
    (broken,) = organizations_for(cast.owner.user, 1)
    page = client_for(cast.owner).get(URL).content.decode()
    assert f'href="/o/{broken.slug}/"' in page
    assert "Access token invalid" in page
    assert page.count("Not granted") >= 4
    assert "Never" in page


def test_the_navigation_offers_the_page_from_two_organizations_on(cast):
    dashboard = reverse("dashboard", args=[cast.organization.slug])
    assert "All organizations" not in client_for(cast.owner).get(dashboard).content.decode()
    MembershipFactory.create(user=cast.owner.user)
    assert "All organizations" in client_for(cast.owner).get(dashboard).content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


# Pagination: ORGANIZATIONS_PAGE_SIZE rows a page, like the Directory's pages.

PAGE = ORGANIZATIONS_PAGE_SIZE


def shown_count(page) -> tuple[str, ...] | None:
    """The page's "Showing X to Y of Z organizations" (an en dash between X and Y), as (X, Y, Z)."""
    found = re.search(r"Showing ([\d,]+)\u2013([\d,]+) of ([\d,]+) organizations?<", page.content.decode())
    return found.groups() if found else None


def page_label(page) -> str | None:
    found = re.search(r"Page \d+ of \d+", page.content.decode())
    return found.group() if found else None


def link(page, rel: str) -> str:
    """The query string of the page's Previous (rel="prev") or Next (rel="next") link."""
    found = re.search(rf'<a class="page-link" href="([^"]*)" rel="{rel}">', page.content.decode())
    assert found, f"no {rel} link"
    return html.unescape(found.group(1))


def broken_first(organizations: list[Organization]) -> list[str]:
    """The page's default order for organizations_for's: every third one is broken, those first, then by name."""
    return [
        organization.name
        for _, organization in sorted(enumerate(organizations), key=lambda it: (it[0] % 3 != 0, it[1].name))
    ]


def test_the_first_page_shows_the_first_rows_by_the_sort_and_the_next_page_the_rest():
    user = UserFactory.create()
    organizations = organizations_for(user, PAGE + 10)
    client = client_for_user(user)
    expected = broken_first(organizations)

    first = client.get(URL)
    assert names_on(first) == expected[:PAGE]
    assert shown_count(first) == ("1", str(PAGE), str(PAGE + 10))
    assert page_label(first) == "Page 1 of 2"
    assert 'rel="prev"' not in first.content.decode()

    second = client.get(URL + link(first, "next"))
    assert names_on(second) == expected[PAGE:]
    assert shown_count(second) == (str(PAGE + 1), str(PAGE + 10), str(PAGE + 10))
    assert page_label(second) == "Page 2 of 2"
    assert 'rel="next"' not in second.content.decode()
    assert names_on(client.get(URL + link(second, "prev"))) == expected[:PAGE]


def test_the_sort_and_the_filters_survive_paging_and_changing_them_goes_back_to_page_one():
    user = UserFactory.create()
    organizations = organizations_for(user, 2 * PAGE + 10)  # the odd ones are protected: PAGE + 5 of them
    client = client_for_user(user)
    protected = sorted((organization.name for organization in organizations[1::2]), reverse=True)

    first = client.get(URL, {"status": "protected", "sort": "-name"})
    assert names_on(first) == protected[:PAGE]
    assert shown_count(first) == ("1", str(PAGE), str(PAGE + 5))
    next_link = link(first, "next")
    assert "status=protected" in next_link
    assert "sort=-name" in next_link
    assert "page=2" in next_link

    second = client.get(URL + next_link)
    assert names_on(second) == protected[PAGE:]
    assert shown_count(second) == (str(PAGE + 1), str(PAGE + 5), str(PAGE + 5))
    body = second.content.decode()
    # Sorting from page 2 keeps the filter but starts again at page 1; so does filtering (the form has no page).
    assert 'href="?status=protected&amp;sort=name"' in body
    assert 'href="?status=protected&amp;sort=-last_sync"' in body
    assert 'name="page"' not in body
    # The count says how many match the filter, not how many organizations there are.
    broken = str(len(organizations[::3]))
    assert shown_count(client.get(URL, {"health": "broken"})) == ("1", broken, broken)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # As every paginated page of the portal (Paginator.get_page): not a number is the first page,
        # out of range (0, negative, beyond the last) is the last page.
        ("", 1),
        ("bogus", 1),
        ("1.5", 1),
        ("2", 2),
        ("0", 2),
        ("-1", 2),
        ("3", 2),
        ("99999999999999999999999", 2),
    ],
)
def test_a_bad_page_number_shows_the_first_or_the_last_page(value, shown):
    user = UserFactory.create()
    expected = broken_first(organizations_for(user, PAGE + 10))
    page = client_for_user(user).get(URL, {"page": value})
    assert page.status_code == 200
    assert page_label(page) == f"Page {shown} of 2"
    assert names_on(page) == (expected[:PAGE] if shown == 1 else expected[PAGE:])


def test_one_page_has_no_page_links_and_no_match_has_no_count(cast):
    organizations_for(cast.owner.user, 6)
    client = client_for(cast.owner)
    page = client.get(URL)
    assert shown_count(page) == ("1", "7", "7")
    assert page_label(page) is None
    assert shown_count(client_for(cast.reader).get(URL)) == ("1", "1", "1")
    empty = client.get(URL, {"health": "connected", "page": "4"})
    assert empty.status_code == 200
    assert shown_count(empty) is None
    assert page_label(empty) is None
    assert "No organization matches." in empty.content.decode()
