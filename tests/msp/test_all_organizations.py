"""All organizations: an MSP's overview of the organizations they belong to, and only those."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from provisioning.models import ConnectionIncident, SyncRun, SyncStatus
from tenants.models import Membership, ProtectedService, Role, ServiceKind, ServiceStatus, Tenant
from tests.conftest import client_for
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("all_organizations")


def organizations_for(user, count: int, prefix: str = "Client") -> list[Tenant]:
    """`count` organizations of `user`, in bulk: each with its services, a sync run, every third one broken."""
    tenants = Tenant.objects.bulk_create(
        Tenant(name=f"{prefix} {i:03}", slug=f"{prefix.lower()}-{i:03}", microsoft_tenant_id=None) for i in range(count)
    )
    ProtectedService.objects.bulk_create(
        ProtectedService(
            tenant=tenant, kind=kind, status=ServiceStatus.PROTECTED if i % 2 else ServiceStatus.NOT_GRANTED
        )
        for i, tenant in enumerate(tenants)
        for kind in ServiceKind.values
    )
    Membership.objects.bulk_create(Membership(tenant=tenant, user=user, role=Role.ADMIN) for tenant in tenants)
    SyncRun.objects.bulk_create(
        SyncRun(tenant=tenant, kind="full", trigger="grant", status=SyncStatus.SUCCEEDED, finished_at=timezone.now())
        for tenant in tenants[1::2]
    )
    ConnectionIncident.objects.bulk_create(
        ConnectionIncident(tenant=tenant, reason="revoked") for tenant in tenants[::3]
    )
    return tenants


def names_on(page) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/o/[^/]+/">([^<]+)</a>', page.content.decode())


def queries_for(client, url: str = URL) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_number_of_queries_does_not_grow_with_the_organizations():
    few, many = UserFactory(), UserFactory()
    organizations_for(few, 2, prefix="Few")
    organizations_for(many, 200, prefix="Many")
    few_client, many_client = client_for_user(few), client_for_user(many)
    queries_for(few_client)  # the session's first request touches it once
    queries_for(many_client)
    assert queries_for(many_client) == queries_for(few_client)
    assert len(names_on(many_client.get(URL))) == 200


def client_for_user(user):
    return client_for(Membership.objects.filter(user=user).first())


def test_only_the_users_own_organizations_show(cast):
    mine = organizations_for(cast.owner.user, 2)
    other = MembershipFactory(tenant=cast.outsider.tenant, user=UserFactory())  # a stranger shares Fabrikam
    ConnectionIncident.objects.create(tenant=other.tenant, reason="revoked")
    page = client_for(cast.owner).get(URL)
    assert sorted(names_on(page)) == sorted([cast.tenant.name, *(tenant.name for tenant in mine)])
    assert cast.outsider.tenant.name not in page.content.decode()
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
    dashboard = reverse("dashboard", args=[cast.tenant.slug])
    assert "All organizations" not in client_for(cast.owner).get(dashboard).content.decode()
    MembershipFactory(user=cast.owner.user)
    assert "All organizations" in client_for(cast.owner).get(dashboard).content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
