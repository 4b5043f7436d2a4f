"""Service Status' queries, pinned: an organization with its four services granted and a sync history."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from directory.models import SyncRun, SyncStatus
from organizations.models import ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

KINDS = ("exchange-online", "sharepoint-online", "onedrive", "teams")


@pytest.fixture
def granted(cast, driver):
    """Every service granted through consent at the simulator; the first grant's sync and a later one ran."""
    for kind in KINDS:
        assert driver.grant(kind).status_code == 302
        driver.tasks.run()
    driver.portal("post", reverse("sync_now", args=[cast.organization.slug]))
    driver.tasks.run()
    return cast


def test_service_status_of_four_granted_services_runs_eight_queries(granted, owner_client):
    organization = granted.organization
    assert set(ProtectedService.objects.filter(organization=organization).values_list("status", flat=True)) == {
        ServiceStatus.PROTECTED
    }
    assert SyncRun.objects.filter(organization=organization, status=SyncStatus.SUCCEEDED).count() >= 2
    url = reverse("service_status", args=[organization.slug])
    owner_client.get(url)  # the first visit remembers the organization; later visits do not write
    with CaptureQueriesContext(connection) as ctx:
        response = owner_client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert all(name in body for name in ("Exchange Online", "SharePoint Online", "OneDrive", "Microsoft Teams"))
    assert "Grant Access" not in body  # every service granted
    tables = [query["sql"].split(" FROM ", 1)[1].split()[0].strip('"') for query in ctx.captured_queries]
    # Exactly these: a query more fails here. Not cached, each read from PostgreSQL on every request.
    assert tables == [
        "django_session",  # the session
        "accounts_user",  # its user
        "tenants_membership",  # the memberships with their organizations: the check and the switcher at once
        # The four services, one row each, joined to their verified coverage and the sync option (all users or
        # certain users): three tables in one query.
        "tenants_protectedservice",
        "provisioning_grantattempt",  # grants in progress, with who started them
        "provisioning_syncrun",  # the latest run: the last sync, or the one running
        "provisioning_connectionincident",  # the organization's open connection incident (the banner)
        "provisioning_appcredentialhealth",  # whether Microsoft rejects the portal's own credential (the banner)
    ]
