"""Service Status, Dashboard and All organizations say what is true: a testing scope reads as testing, a broken
connection is explained once, Sync now is offered only when it can work, a running sync shows with a link to its
progress, and the banner goes once Recreate Access Token has repaired the connection."""

import re

import pytest
from django.urls import reverse

from audit.models import Action, AuditEvent
from connection.health import CONSENT_BROKEN, record_connection_broken
from directory.models import SelectedUser, SyncKind, SyncRun, SyncStep, SyncTrigger
from organizations.models import ProtectedService, ServiceStatus
from tests.cast import client_for

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

# The grant's own words, before coverage is verified (tests/coverage has the words after): the verification each
# sync starts is held as if no worker had taken it yet.
BEFORE_COVERAGE = ("coverage.verify_step",)
TESTING_BADGE = re.compile(r'<span class="badge text-bg-warning status-badge">Testing · (\d+) users?</span>')
PROTECTED_BADGE = '<span class="badge text-bg-success status-badge">Protected</span>'


def text_of(response) -> str:
    return response.content.decode()


@pytest.fixture
def protected(cast, driver):
    """Contoso granted Exchange Online for all users and synchronized once."""
    assert driver.grant().status_code == 302
    driver.tasks.run(hold=BEFORE_COVERAGE)
    return cast


@pytest.fixture
def testing(cast, driver):
    """Contoso granted Exchange Online for three users chosen for testing, synchronized once."""
    response = driver.grant(mode="certain")
    picker = driver.portal("get", response["Location"])["Location"]
    for upn in ("alex@contoso.onmicrosoft.com", "admin@contoso.onmicrosoft.com", "pra@contoso.onmicrosoft.com"):
        driver.portal("post", picker.replace("/users/", "/users/add/"), {"user_principal_name": upn})
    assert SelectedUser.objects.filter(organization=cast.organization).count() == 3
    driver.portal("post", picker.replace("/users/", "/users/start/"))
    driver.tasks.run(hold=BEFORE_COVERAGE)
    service = ProtectedService.objects.get(organization=cast.organization, kind="exchange-online")
    assert service.status == ServiceStatus.PROTECTED
    return cast


def test_a_testing_scope_reads_testing_with_its_users_on_every_page_and_offers_extend(testing, driver, reader_client):
    slug = testing.organization.slug
    for url in (
        reverse("service_status", args=[slug]),
        reverse("dashboard", args=[slug]),
        reverse("all_organizations"),
    ):
        page = text_of(driver.portal("get", url))
        assert TESTING_BADGE.findall(page) == ["3"], url
        assert PROTECTED_BADGE not in page, url
        assert reverse("extend_to_all_users", args=[slug]) in page, url
    dashboard = text_of(driver.portal("get", reverse("dashboard", args=[slug])))
    assert "casportal protects only the 3 users chosen for testing" in dashboard
    # A read-only member reads the same scope, without a button they cannot use.
    reader_page = text_of(reader_client.get(reverse("dashboard", args=[slug])))
    assert TESTING_BADGE.findall(reader_page) == ["3"]
    assert reverse("extend_to_all_users", args=[slug]) not in reader_page


def test_a_whole_tenant_reads_protected(protected, driver):
    slug = protected.organization.slug
    for url in (
        reverse("service_status", args=[slug]),
        reverse("dashboard", args=[slug]),
        reverse("all_organizations"),
    ):
        page = text_of(driver.portal("get", url))
        assert page.count(PROTECTED_BADGE) == 1, url
        assert not TESTING_BADGE.findall(page), url


def test_an_invalid_access_token_is_explained_once_and_sync_now_is_not_offered(protected, driver):
    record_connection_broken(organization=protected.organization, reason=CONSENT_BROKEN)
    status_url = reverse("service_status", args=[protected.organization.slug])
    page = text_of(driver.portal("get", status_url))
    assert page.count(CONSENT_BROKEN) == 1
    banner = re.search(r'<div class="alert alert-danger" role="alert" id="connection-banner">(.*?)</div>', page, re.S)
    assert banner is not None
    assert f'href="{status_url}"' not in banner.group(1), "the banner does not link to the page it is on"
    assert ">Recreate Access Token<span" in page
    assert ">Sync now<" not in page
    assert "Sync now is available again once Recreate Access Token has restored access." in page
    # Elsewhere the banner leads to Service Status.
    dashboard = text_of(driver.portal("get", reverse("dashboard", args=[protected.organization.slug])))
    assert f'<a class="alert-link" href="{status_url}">Go to Service Status</a>' in dashboard


def test_after_recreate_access_token_the_banner_is_gone_and_sync_now_is_back(protected, driver):
    record_connection_broken(organization=protected.organization, reason=CONSENT_BROKEN)
    response = driver.grant()  # Recreate Access Token
    assert response.status_code == 302
    progress_url = reverse("sync_progress", args=[protected.organization.slug, "exchange-online"])
    # The page of the repair under way shows no stale banner above the synchronization that ends it.
    assert CONSENT_BROKEN not in text_of(driver.portal("get", progress_url))
    driver.tasks.run(hold=BEFORE_COVERAGE)
    assert CONSENT_BROKEN not in text_of(driver.portal("get", progress_url))
    page = text_of(driver.portal("get", reverse("service_status", args=[protected.organization.slug])))
    assert CONSENT_BROKEN not in page
    assert page.count(PROTECTED_BADGE) == 1
    assert ">Sync now<" in page


def test_a_running_sync_shows_with_its_progress_and_a_link_instead_of_sync_now(protected, driver):
    service = ProtectedService.objects.get(organization=protected.organization, kind="exchange-online")
    run = SyncRun.objects.create(
        organization=protected.organization,
        service=service,
        kind=SyncKind.DELTA,
        trigger=SyncTrigger.MANUAL,
        status="running",
        step=SyncStep.USERS,
        users_synced=120,
        users_total=303,
    )
    page = text_of(driver.portal("get", reverse("service_status", args=[protected.organization.slug])))
    running = re.search(r'<div class="alert alert-info" id="running-sync">(.*?)</div>', page, re.S)
    assert running is not None
    assert "120 of 303" in running.group(1)
    progress_url = reverse("sync_run_progress", args=[protected.organization.slug, run.public_id])
    assert f'href="{progress_url}">View its progress</a>' in running.group(1)
    assert ">Sync now<" not in page
    assert "Last run:" not in page


def test_sync_now_offered_leads_to_a_run(protected, driver):
    page = text_of(driver.portal("get", reverse("service_status", args=[protected.organization.slug])))
    assert ">Sync now<" in page
    driver.portal("post", reverse("sync_now", args=[protected.organization.slug]))
    assert AuditEvent.objects.filter(action=Action.SYNC_QUEUED, details__trigger="manual").exists()


def test_a_read_only_member_sees_the_state_and_no_button(protected, cast):
    record_connection_broken(organization=protected.organization, reason=CONSENT_BROKEN)
    page = text_of(client_for(cast.reader).get(reverse("service_status", args=[protected.organization.slug])))
    assert page.count(CONSENT_BROKEN) == 1
    assert ">Recreate Access Token<" not in page
    assert ">Sync now<" not in page
