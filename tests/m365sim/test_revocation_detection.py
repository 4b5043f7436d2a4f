"""With Microsoft honouring a token issued before a revocation until it expires, the portal finds a revoked consent
through the health probe, which asks for a fresh token, not through the synchronization's cached one."""

import pytest
from django.urls import reverse

from connection.health import CONSENT_BROKEN, probe_connections
from connection.models import ConnectionIncident
from directory.models import SyncRun, SyncStatus
from m365sim import services as sim
from m365sim.models import ServicePrincipal
from organizations.models import ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def sync_now(cast, driver) -> SyncRun:
    driver.portal("post", reverse("sync_now", args=[cast.organization.slug]))
    driver.tasks.run()
    return SyncRun.objects.filter(organization=cast.organization).latest("queued_at")


def exchange_online(cast) -> ProtectedService:
    return ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")


def test_the_cached_token_still_syncs_and_the_fresh_token_probe_finds_the_revocation(cast, driver, contoso):
    assert driver.grant().status_code == 302
    driver.tasks.run()
    assert exchange_online(cast).status == ServiceStatus.PROTECTED

    sim.revoke_consent(ServicePrincipal.objects.get(tenant=contoso))
    assert sync_now(cast, driver).status == SyncStatus.SUCCEEDED  # the token issued before still has its roles
    assert exchange_online(cast).status == ServiceStatus.PROTECTED

    assert probe_connections.apply().get() == 1
    driver.tasks.run()
    service = exchange_online(cast)
    assert (service.status, service.last_error) == (ServiceStatus.ACCESS_TOKEN_INVALID, CONSENT_BROKEN)
    assert ConnectionIncident.objects.filter(organization=cast.organization, closed_at__isnull=True).exists()
