"""A run's users and groups chains run at the same time, each with its own fenced batches and position: the run ends
when both are done, by whichever ends last, exact, and removes only after both complete rounds."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import Action, AuditEvent
from directory import progress
from directory.engine import GROUPS, RESET_REASON, request_sync, resume_stalled_syncs, sync_batch
from directory.models import (
    ChainState,
    DirectoryUser,
    GroupMembership,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncStep,
    SyncTrigger,
)
from m365sim import services as sim
from m365sim.models import User as SimUser
from tests.sync.conftest import portal_state, run_users_batch, simulator_state, users_chain

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture(autouse=True)
def _several_pages_a_chain(settings, contoso):
    settings.SYNC_PAGE_SIZE = 5
    settings.SYNC_PAGES_PER_BATCH = 1
    sim.set_faults(contoso, members_delta_page_cap=5)  # 20 memberships: groups over several pages too


def groups_chain(driver) -> list:
    return [(queued, task) for queued, task in driver.tasks.pending if queued.args[2:] == (GROUPS,)]


def run_groups_batch(driver) -> SyncRun:
    queued, task = groups_chain(driver)[0]
    driver.tasks.pending.remove((queued, task))
    task.apply(args=queued.args, throw=True)
    return SyncRun.objects.get(pk=queued.args[0])


def full_sync(driver, cast) -> SyncRun:
    service = cast.organization.services.get(kind="exchange-online")
    with driver.capture(execute=True):
        return request_sync(service=service, kind=SyncKind.FULL, trigger=SyncTrigger.MANUAL, actor=None).run


def states(run: SyncRun) -> list[str]:
    return [phase.state for phase in progress.describe_progress(run, service_name="", policy_name=None).phases]


def deleted_at_microsoft(contoso) -> SimUser:
    user = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True).order_by("-id").first()
    assert user is not None
    sim.delete_user(user, permanent=True)  # only "not seen by a complete round" removes it
    return user


def test_the_users_chain_begins_the_groups_chain_and_both_advance_at_once(protected, driver, contoso):
    run = full_sync(driver, protected)
    run = run_users_batch(driver)  # the organization, and the users round's first page
    assert (run.step, run.groups_chain) == (SyncStep.USERS, ChainState.RUNNING)
    assert len(groups_chain(driver)) == len(users_chain(driver)) == 1
    run = run_groups_batch(driver)
    run = run_users_batch(driver)
    assert (run.users_synced, run.groups_synced, run.memberships_synced) == (10, 1, 5)
    assert run.cursor != run.groups_cursor != ""
    assert states(run) == ["running", "running", "running"]  # each phase counted by its own chain

    driver.tasks.run()
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED
    assert portal_state(protected.organization) == simulator_state(contoso)
    users = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True).count()
    assert (run.users_synced, run.memberships_synced) == (users, GroupMembership.objects.count())
    assert run.pages == 5 + 4  # 23 users by 5; 20 members@delta entries by 5: each page read once
    assert AuditEvent.objects.filter(action=Action.SYNC_SUCCEEDED, details__run=str(run.public_id)).count() == 1


def test_the_groups_chain_may_end_first_with_members_the_users_chain_has_not_written_yet(driver, contoso):
    assert driver.grant().status_code == 302  # the first sync: no user is stored yet
    run_users_batch(driver)
    while groups_chain(driver):
        run = run_groups_batch(driver)
    assert (run.status, run.step, run.groups_chain) == (SyncStatus.RUNNING, SyncStep.USERS, ChainState.DONE)
    assert DirectoryUser.objects.count() == 5
    assert GroupMembership.objects.count() == len(simulator_state(contoso)[2])
    assert states(run) == ["running", "done", "done"]

    driver.tasks.run()  # the users chain's last page ends the run
    run.refresh_from_db()
    assert (run.status, run.step) == (SyncStatus.SUCCEEDED, SyncStep.DONE)
    assert portal_state(run.organization) == simulator_state(contoso)


def test_the_users_chain_may_end_first_and_nothing_is_removed_before_the_groups_round_is_complete(
    protected, driver, contoso
):
    deleted = deleted_at_microsoft(contoso)
    run = full_sync(driver, protected)
    while users_chain(driver):
        run = run_users_batch(driver)
    assert (run.status, run.step, run.groups_chain) == (SyncStatus.RUNNING, SyncStep.GROUPS, ChainState.RUNNING)
    assert DirectoryUser.objects.filter(microsoft_id=deleted.id).exists()  # unseen, but the run is not complete
    assert states(run)[0] == "done"

    driver.tasks.run()  # the groups chain's last page ends the run
    run.refresh_from_db()
    assert (run.status, run.removed) == (SyncStatus.SUCCEEDED, 1)
    assert portal_state(protected.organization) == simulator_state(contoso)


def test_sequential_chains_begin_the_groups_chain_once_the_users_chain_is_done(protected, driver, contoso, settings):
    settings.SYNC_CONCURRENT_CHAINS = False
    deleted_at_microsoft(contoso)
    run = full_sync(driver, protected)
    while users_chain(driver):
        assert not groups_chain(driver)
        run = run_users_batch(driver)
        assert states(run)[1] == ("running" if run.step == SyncStep.GROUPS else "pending")
    assert run.step == SyncStep.GROUPS
    assert len(groups_chain(driver)) == 1
    driver.tasks.run()
    run.refresh_from_db()
    assert (run.status, run.removed) == (SyncStatus.SUCCEEDED, 1)
    assert portal_state(protected.organization) == simulator_state(contoso)


def test_an_expired_page_token_of_the_groups_chain_begins_only_the_groups_round_again(
    protected, driver, contoso, settings
):
    deleted = deleted_at_microsoft(contoso)
    full_sync(driver, protected)
    run_users_batch(driver)
    first = run_groups_batch(driver)  # its nextLink stored
    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 0
    run = run_groups_batch(driver)
    assert (run.listing_restarts, run.groups_chain, run.groups_cursor, run.groups_synced) == (
        1,
        ChainState.RUNNING,
        "",
        0,
    )
    assert run.groups_round_started_at is not None
    assert first.groups_round_started_at is not None
    assert run.groups_round_started_at > first.groups_round_started_at
    assert (run.step, run.cursor, run.users_synced, run.round_started_at) == (
        first.step,
        first.cursor,
        first.users_synced,
        first.round_started_at,
    )  # the users chain's round goes on

    settings.M365SIM_PAGE_TOKEN_LIFETIME_SECONDS = 3600
    driver.tasks.run()
    run.refresh_from_db()
    assert (run.status, run.listing_restarts) == (SyncStatus.SUCCEEDED, 1)
    assert not DirectoryUser.objects.filter(microsoft_id=deleted.id).exists()
    assert portal_state(protected.organization) == simulator_state(contoso)


def test_a_reset_of_the_groups_delta_begins_both_chains_as_a_full_round(protected, driver, contoso):
    deleted = deleted_at_microsoft(contoso)  # a delta round reports it; a full one removes it as unseen
    for number, user in enumerate(SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True)[:12]):
        sim.update_user(user, display_name=f"Renamed {number}")  # the users delta round over several pages
    service = protected.organization.services.get(kind="exchange-online")
    with driver.capture(execute=True):
        run = request_sync(service=service, kind=SyncKind.DELTA, trigger=SyncTrigger.MANUAL, actor=None).run
    run_users_batch(driver)
    sim.set_faults(contoso, delta_reset_next=1)
    run = run_groups_batch(driver)
    assert (run.kind, run.fallback_reason, run.listing_restarts) == (SyncKind.FULL, RESET_REASON, 1)
    assert (run.step, run.groups_chain, run.users_synced) == (SyncStep.DOMAINS, ChainState.PENDING, 0)
    (stale, _), (fresh, _) = users_chain(driver)  # the users batch queued before the reset, and one after it
    position = SyncRun.objects.values_list("fence", "cursor", "step").get(pk=run.pk)
    assert stale.args[1] < fresh.args[1] == position[0]
    run_users_batch(driver)  # the stale one: its fence moved on, it does nothing
    assert SyncRun.objects.values_list("fence", "cursor", "step").get(pk=run.pk) == position

    driver.tasks.run()
    run.refresh_from_db()
    assert (run.status, run.kind) == (SyncStatus.SUCCEEDED, SyncKind.FULL)
    assert not DirectoryUser.objects.filter(microsoft_id=deleted.id).exists()
    assert portal_state(protected.organization) == simulator_state(contoso)


def test_a_duplicate_groups_delivery_does_nothing(protected, driver):
    run = full_sync(driver, protected)
    run_users_batch(driver)
    ((queued, _),) = groups_chain(driver)
    run_groups_batch(driver)
    position = SyncRun.objects.values_list("groups_fence", "groups_cursor", "memberships_synced").get(pk=run.pk)
    sync_batch.apply(args=queued.args, throw=True)  # delivered again, as a broker may
    assert SyncRun.objects.values_list("groups_fence", "groups_cursor", "memberships_synced").get(pk=run.pk) == position


def test_a_chain_that_fails_ends_the_run_and_the_other_writes_nothing_more(protected, driver, contoso, settings):
    settings.SYNC_MAX_RETRIES = 0
    deleted = deleted_at_microsoft(contoso)
    run = full_sync(driver, protected)
    run_users_batch(driver)
    sim.set_faults(contoso, throttle_next=1, throttle_retry_after=1)
    run = run_groups_batch(driver)
    assert (run.status, run.error) == (
        SyncStatus.FAILED,
        "Synchronizing groups failed: Microsoft 365 stayed too busy to answer, even after waiting. Try again later.",
    )
    position = SyncRun.objects.values_list("fence", "cursor", "users_synced").get(pk=run.pk)
    driver.tasks.run()  # the users chain's next batch finds the run ended
    assert SyncRun.objects.values_list("fence", "cursor", "users_synced").get(pk=run.pk) == position
    assert run.removed == 0
    assert DirectoryUser.objects.filter(microsoft_id=deleted.id).exists()  # nothing removed after a partial run


def test_the_watchdog_resumes_both_chains_of_a_run_whose_messages_were_lost(protected, driver, contoso, settings):
    run = full_sync(driver, protected)
    run_users_batch(driver)
    run_groups_batch(driver)
    driver.tasks.pending.clear()  # the broker lost both chains' next messages
    SyncRun.objects.filter(pk=run.pk).update(
        progressed_at=timezone.now() - timedelta(seconds=settings.SYNC_STALL_SECONDS + 1)
    )
    assert resume_stalled_syncs.apply().get() == 1
    assert len(users_chain(driver)) == len(groups_chain(driver)) == 1
    driver.tasks.run()
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED
    assert portal_state(protected.organization) == simulator_state(contoso)
