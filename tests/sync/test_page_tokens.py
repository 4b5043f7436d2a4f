"""Microsoft expires a stored nextLink's page token: the round begins again from its start, a bounded number
of times, and removes only what a complete round did not see."""

import pytest
from django.urls import reverse

from directory.models import DirectoryUser, SyncKind, SyncRun, SyncStatus, SyncStep
from m365sim import services as sim
from m365sim.models import Group as SimGroup
from m365sim.models import User as SimUser
from tests.sync.conftest import portal_state, run_users_batch, simulator_state

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

GAVE_UP = "Microsoft kept expiring the directory listing; try again later."


def sync_now(driver, cast) -> None:
    assert driver.portal("post", reverse("sync_now", args=[cast.organization.slug])).status_code == 302


def test_an_expired_page_token_restarts_the_full_round_with_a_fresh_seen_set(protected, driver, contoso, settings):
    settings.SYNC_PAGE_SIZE = 5
    settings.SYNC_PAGES_PER_BATCH = 1
    sim.expire_delta_tokens(contoso)
    sync_now(driver, protected)
    run_users_batch(driver)  # the expired delta token: a full round instead
    run = run_users_batch(driver)  # the round's first page is written, its nextLink stored
    assert (run.kind, run.step, run.users_synced) == (SyncKind.FULL, SyncStep.USERS, 5)
    first_round_started_at = run.round_started_at
    # Seen by the first attempt, then deleted at Microsoft: only a fresh seen-set removes it.
    seen_then_deleted = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True).order_by("id").first()
    assert seen_then_deleted is not None
    sim.delete_user(seen_then_deleted)

    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 0
    run = run_users_batch(driver)
    assert (run.status, run.listing_restarts, run.step, run.cursor) == (SyncStatus.RUNNING, 1, SyncStep.DOMAINS, "")
    assert DirectoryUser.objects.filter(organization=protected.organization, microsoft_id=seen_then_deleted.id).exists()

    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 3600
    driver.tasks.run()
    run.refresh_from_db()
    assert (run.status, run.kind, run.listing_restarts) == (SyncStatus.SUCCEEDED, SyncKind.FULL, 1)
    assert run.round_started_at is not None
    assert first_round_started_at is not None
    assert run.round_started_at > first_round_started_at
    assert portal_state(protected.organization) == simulator_state(contoso)
    assert not DirectoryUser.objects.filter(microsoft_id=seen_then_deleted.id).exists()


def test_an_expired_page_token_restarts_a_delta_round_from_the_stored_delta_links(protected, driver, contoso, settings):
    settings.SYNC_PAGE_SIZE = 5
    settings.SYNC_PAGES_PER_BATCH = 1
    for number, user in enumerate(SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True)[:12]):
        sim.update_user(user, display_name=f"Renamed {number}")
    group = SimGroup.objects.filter(tenant=contoso).first()
    assert group is not None
    sim.delete_group(group)
    sync_now(driver, protected)
    run = run_users_batch(driver)  # the delta round's first page, its nextLink stored
    assert (run.kind, run.step) == (SyncKind.DELTA, SyncStep.USERS)
    assert "$skiptoken" in run.cursor

    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 0
    run = run_users_batch(driver)
    assert (run.listing_restarts, run.step) == (1, SyncStep.DOMAINS)

    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 3600
    driver.tasks.run()
    run.refresh_from_db()
    assert (run.status, run.kind, run.listing_restarts) == (SyncStatus.SUCCEEDED, SyncKind.DELTA, 1)
    assert portal_state(protected.organization) == simulator_state(contoso)


def test_a_page_token_that_keeps_expiring_fails_the_run_and_removes_nothing(protected, driver, contoso, settings):
    settings.SYNC_PAGE_SIZE = 5
    settings.SYNC_MAX_LISTING_RESTARTS = 3
    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 0
    before = portal_state(protected.organization)
    deleted = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True).order_by("-id").first()
    assert deleted is not None
    sim.delete_user(deleted)
    sim.expire_delta_tokens(contoso)  # a full round: at its end it would remove what it did not see

    sync_now(driver, protected)
    driver.tasks.run()
    run = SyncRun.objects.filter(organization=protected.organization).latest("queued_at")
    assert (run.status, run.kind, run.listing_restarts) == (SyncStatus.FAILED, SyncKind.FULL, 3)
    assert run.error == GAVE_UP
    assert "PageTokenExpired" in run.error_detail
    assert run.removed == 0
    assert portal_state(protected.organization) == before  # the user deleted at Microsoft is still here, too
