"""Full, then delta rounds: the portal's directory equals the simulator's after each."""

import pytest
from django.urls import reverse

from directory.models import SyncKind, SyncRun, SyncSettings, SyncStatus, SyncTrigger
from m365sim import services as sim
from m365sim.models import Group as SimGroup
from m365sim.models import User as SimUser
from tests.sync.conftest import portal_state, run_users_batch, simulator_state, users_chain

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def sync_now(driver, cast):
    response = driver.portal("post", reverse("sync_now", args=[cast.organization.slug]))
    assert response.status_code == 302
    driver.tasks.run()
    return SyncRun.objects.filter(organization=cast.organization).latest("queued_at")


def test_the_full_round_equals_the_simulator_and_stores_delta_links(protected, contoso):
    assert portal_state(protected.organization) == simulator_state(contoso)
    settings_row = SyncSettings.objects.get(organization=protected.organization)
    assert "delta" in settings_row.users_delta_link
    assert settings_row.groups_delta_link


def test_a_delta_round_picks_up_renames_deletions_and_membership_changes(protected, driver, contoso):
    users = list(SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True).order_by("user_principal_name"))
    groups = list(SimGroup.objects.filter(tenant=contoso, deleted_at__isnull=True).order_by("display_name"))
    sim.update_user(users[3], display_name="Renamed Person")
    sim.delete_user(users[4])
    sim.add_user(contoso, user_principal_name="newcomer@contoso.onmicrosoft.com", display_name="Newcomer")
    sim.add_member(groups[0], users[5])
    member = groups[1].memberships.filter(removed=False, member_user__isnull=False).first()
    assert member is not None
    assert member.member_user is not None
    sim.remove_member(groups[1], member.member_user)
    sim.update_group(groups[2], display_name="Renamed group")
    sim.delete_group(groups[3])

    run = sync_now(driver, protected)
    assert run.kind == SyncKind.DELTA
    assert run.trigger == SyncTrigger.MANUAL
    assert run.status == SyncStatus.SUCCEEDED
    assert portal_state(protected.organization) == simulator_state(contoso)
    assert run.removed >= 2  # the deleted user and group
    assert run.added >= 1


def test_an_expired_delta_token_falls_back_to_a_full_round_recorded_as_such(protected, driver, contoso):
    sim.expire_delta_tokens(contoso)
    user = SimUser.objects.filter(tenant=contoso).first()
    assert user is not None
    sim.update_user(user, display_name="Changed after expiry")
    run = sync_now(driver, protected)
    assert run.status == SyncStatus.SUCCEEDED
    assert run.kind == SyncKind.FULL
    assert "delta token" in run.fallback_reason
    assert portal_state(protected.organization) == simulator_state(contoso)


def test_a_partial_failure_removes_nothing(protected, driver, contoso, settings):
    settings.SYNC_MAX_RETRIES = 0
    settings.SYNC_PAGE_SIZE = 5
    before = portal_state(protected.organization)
    first_user = SimUser.objects.filter(tenant=contoso).order_by("user_principal_name").first()
    assert first_user is not None
    sim.delete_user(first_user)
    sim.expire_delta_tokens(contoso)  # a full round: at its end it would remove what it did not see
    driver.portal("post", reverse("sync_now", args=[protected.organization.slug]))
    queued, task = driver.tasks.pending.pop(0)
    task.apply(args=queued.args, throw=True)  # the round has started and written its first page
    sim.set_faults(contoso, throttle_next=1000, throttle_retry_after=1)
    driver.tasks.run()
    run = SyncRun.objects.filter(organization=protected.organization).latest("queued_at")
    assert run.status == SyncStatus.FAILED
    assert run.kind == SyncKind.FULL
    assert portal_state(protected.organization) == before  # the user deleted at Microsoft is still here, too


def test_a_storm_of_throttling_completes(protected, driver, contoso, settings):
    settings.SYNC_PAGE_SIZE = 10
    settings.SYNC_MAX_RETRIES = 30
    # The first two for certain, then 30 % at random: never a lucky run with none throttled.
    sim.set_faults(contoso, throttle_next=2, throttle_fraction=0.3, throttle_retry_after=1)
    sim.expire_delta_tokens(contoso)
    run = sync_now(driver, protected)
    assert run.status == SyncStatus.SUCCEEDED
    assert run.throttled > 0
    sim.reset_faults(contoso)
    assert portal_state(protected.organization) == simulator_state(contoso)


def test_two_requests_at_once_become_one_run(protected, driver):
    url = reverse("sync_now", args=[protected.organization.slug])
    first, second = driver.portal("post", url), driver.portal("post", url)
    active = SyncRun.objects.get(organization=protected.organization, status__in=["queued", "running"])
    # Both lead to the live progress of the one run.
    progress = reverse("sync_run_progress", args=[protected.organization.slug, active.public_id])
    assert (first.status_code, first["Location"]) == (second.status_code, second["Location"]) == (302, progress)
    page = driver.client.get(progress)
    assert "A synchronization is already running; your request is part of it." in page.content.decode()
    assert driver.tasks.names == ["provisioning.sync_batch"]
    driver.tasks.run()
    assert SyncRun.objects.filter(organization=protected.organization).count() == 2  # the grant's, and this one


def test_batches_slow_down_while_graph_says_the_budget_is_nearly_spent(protected, driver, contoso, settings):
    settings.SYNC_PAGE_SIZE = 10
    settings.SYNC_PAGES_PER_BATCH = 1
    sim.expire_delta_tokens(contoso)
    driver.portal("post", reverse("sync_now", args=[protected.organization.slug]))
    run_users_batch(driver)  # the expired delta token: a full round instead, at once
    ((full_round, _),) = users_chain(driver)
    assert full_round.countdown == 0
    sim.set_faults(contoso, throttle_fraction=0.001, throttle_retry_after=1)
    run_users_batch(driver)
    ((follow_up, _),) = users_chain(driver)
    assert follow_up.countdown >= 1  # not at once: Graph said the budget is nearly spent
    sim.reset_faults(contoso)
    driver.tasks.run()
    assert portal_state(protected.organization) == simulator_state(contoso)
