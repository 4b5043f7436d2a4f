import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from organizations.models import ProtectedService, Role, ServiceStatus
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_every_catalog_service_has_a_row_with_grant_access_for_admins(cast, owner_client):
    response = owner_client.get(reverse("service_status", args=[cast.organization.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    for label in ("Exchange Online", "SharePoint Online", "OneDrive", "Microsoft Teams"):
        assert label in body
    assert body.count(">Grant Access<") == 4
    for kind in ("exchange-online", "sharepoint-online", "onedrive", "teams"):
        assert f'href="/o/{cast.organization.slug}/services/{kind}/grant/"' in body


def test_read_only_member_sees_statuses_but_no_action(cast, reader_client):
    response = reader_client.get(reverse("service_status", args=[cast.organization.slug]))
    assert response.status_code == 200
    assert "Not granted" in response.content.decode()
    assert "Grant Access" not in response.content.decode()


def test_protected_service_shows_authorized_account_and_no_grant_action(cast, owner_client):
    ProtectedService.objects.filter(organization=cast.organization, kind="exchange-online").update(
        status=ServiceStatus.PROTECTED, authorized_account="admin@contoso.onmicrosoft.com"
    )
    body = owner_client.get(reverse("service_status", args=[cast.organization.slug])).content.decode()
    assert "admin@contoso.onmicrosoft.com" in body
    assert "Protected" in body
    assert body.count(">Grant Access<") == 3


def test_service_status_runs_a_bounded_number_of_queries(cast, owner_client):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert owner_client.get(reverse("service_status", args=[cast.organization.slug])).status_code == 200
        return len(ctx.captured_queries)

    count_queries()  # the first visit remembers the organization; later visits do not write
    baseline = count_queries()
    # Many more organizations, members and policies must not add queries.
    for _ in range(15):
        other = OrganizationFactory.create()
        MembershipFactory.create(organization=other, user=cast.owner.user, role=Role.READ_ONLY)
        MembershipFactory.create(organization=cast.organization, user=UserFactory.create(), role=Role.READ_ONLY)
    grown = count_queries()
    assert grown == baseline


def test_service_status_reads_each_table_once(cast, owner_client):
    url = reverse("service_status", args=[cast.organization.slug])
    owner_client.get(url)  # remembers the organization
    with CaptureQueriesContext(connection) as ctx:
        assert owner_client.get(url).status_code == 200
    tables = [query["sql"].split(" FROM ", 1)[1].split()[0].strip('"') for query in ctx.captured_queries]
    # The session and its user, the memberships (the check and the switcher at once), then the page's own rows
    # (the services with their coverage and the sync settings in one; grant attempts: those in progress); the
    # chosen users are counted only in certain-users mode.
    assert tables == [
        "django_session",
        "accounts_user",
        "tenants_membership",
        "tenants_protectedservice",
        "provisioning_grantattempt",
        "provisioning_syncrun",
        "provisioning_connectionincident",
        "provisioning_appcredentialhealth",
    ]
