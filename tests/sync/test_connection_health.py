import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from audit.models import Action, AuditEvent
from connection.health import probe_connections
from connection.models import AppCredentialHealth, ConnectionIncident, CredentialStatus
from directory.models import SyncRun, SyncStatus
from m365sim import services as sim
from m365sim.models import Application, ServicePrincipal
from microsoft.identity import token_cache_key
from organizations.models import ProtectedService, ServiceStatus
from tests.sync.conftest import portal_state

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def statuses(organization) -> dict[str, str]:
    return dict(ProtectedService.objects.filter(organization=organization).values_list("kind", "status"))


@pytest.fixture
def two_services(protected, driver):
    assert driver.grant("sharepoint-online").status_code == 302
    driver.tasks.run()
    return protected


def test_consent_revoked_mid_sync_breaks_the_connection_keeps_the_data_and_recreate_repairs_it(
    two_services, driver, contoso, settings
):
    cast = two_services
    settings.SYNC_PAGE_SIZE = 5
    settings.SYNC_PAGES_PER_BATCH = 1
    sim.expire_delta_tokens(contoso)  # a full round: many batches, the consent goes away in between
    before = portal_state(cast.organization)
    mail.outbox.clear()
    driver.portal("post", reverse("sync_now", args=[cast.organization.slug]))
    queued, task = driver.tasks.pending.pop(0)
    task.apply(args=queued.args, throw=True)
    sim.revoke_consent(ServicePrincipal.objects.get(tenant=contoso))
    # Microsoft honours the token issued before the revocation until it expires; it expires here, mid-sync.
    cache.delete(token_cache_key(str(contoso.id)))
    driver.tasks.run()

    run = SyncRun.objects.filter(organization=cast.organization).latest("queued_at")
    assert run.status == SyncStatus.FAILED
    assert statuses(cast.organization)["exchange-online"] == ServiceStatus.ACCESS_TOKEN_INVALID
    assert statuses(cast.organization)["sharepoint-online"] == ServiceStatus.ACCESS_TOKEN_INVALID
    assert statuses(cast.organization)["onedrive"] == ServiceStatus.NOT_GRANTED
    assert portal_state(cast.organization) == before
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [cast.owner.user.email]
    assert "Recreate Access Token" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action=Action.CONNECTION_BROKEN, organization=cast.organization).count() == 1

    for page_name in ("dashboard", "service_status", "policies"):
        page = driver.client.get(reverse(page_name, args=[cast.organization.slug])).content.decode()
        assert "no longer lets casportal access your Microsoft 365 tenant" in page
    assert (
        "Recreate Access Token"
        in driver.client.get(reverse("service_status", args=[cast.organization.slug])).content.decode()
    )

    # The hourly probe finds the same incident: no second email.
    probe_connections.apply()
    driver.tasks.run()
    assert len(mail.outbox) == 1

    assert driver.grant("exchange-online").status_code == 302  # Recreate Access Token: both legs again
    driver.tasks.run()
    assert statuses(cast.organization)["exchange-online"] == ServiceStatus.PROTECTED
    assert statuses(cast.organization)["sharepoint-online"] == ServiceStatus.PROTECTED
    assert not ConnectionIncident.objects.filter(organization=cast.organization, closed_at__isnull=True).exists()
    assert (
        "no longer lets casportal"
        not in driver.client.get(reverse("dashboard", args=[cast.organization.slug])).content.decode()
    )
    assert AuditEvent.objects.filter(action=Action.CONNECTION_RESTORED, organization=cast.organization).exists()


def test_the_health_probe_finds_a_disabled_service_principal_between_syncs(protected, driver, contoso):
    sim.set_service_principal_enabled(ServicePrincipal.objects.get(tenant=contoso), False)
    assert probe_connections.apply().get() == 1
    driver.tasks.run()
    assert statuses(protected.organization)["exchange-online"] == ServiceStatus.ACCESS_TOKEN_INVALID
    assert ConnectionIncident.objects.filter(organization=protected.organization, closed_at__isnull=True).exists()


def test_an_expired_application_secret_alerts_staff_and_marks_nothing_invalid(protected, driver, settings):
    settings.STAFF_ALERT_EMAILS = ["oncall@casportal.test"]
    mail.outbox.clear()
    sim.expire_secrets(Application.objects.get())
    cache.clear()  # the app-only token in the shared cache has expired: the next one needs the secret
    driver.portal("post", reverse("sync_now", args=[protected.organization.slug]))
    driver.tasks.run()
    run = SyncRun.objects.filter(organization=protected.organization).latest("queued_at")
    assert run.status == SyncStatus.FAILED
    assert "temporarily unavailable" in run.error
    assert statuses(protected.organization)["exchange-online"] == ServiceStatus.PROTECTED
    assert not ConnectionIncident.objects.exists()
    assert AppCredentialHealth.objects.get().status == CredentialStatus.REJECTED
    assert [m.to for m in mail.outbox] == [["oncall@casportal.test"]]
