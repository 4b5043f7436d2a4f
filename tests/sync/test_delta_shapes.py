"""The shapes Microsoft's delta rounds take, through the real sync: a large group's members over several pages,
replays, synchronization resets (410 Gone), @removed in an initial round, groups without members@delta."""

import pytest
from django.urls import reverse

from directory.engine import EXPIRED_GAVE_UP, RESET_GAVE_UP, RESET_REASON
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership, SyncKind, SyncRun, SyncStatus, SyncStep
from m365sim import services as sim
from m365sim.models import Group as SimGroup
from m365sim.models import Tenant as SimTenant
from m365sim.models import User as SimUser
from tests.sync.conftest import portal_state, run_users_batch, simulator_state

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


def sync_now(driver, cast) -> None:
    assert driver.portal("post", reverse("sync_now", args=[cast.organization.slug])).status_code == 302


def latest_run(cast) -> SyncRun:
    return SyncRun.objects.filter(organization=cast.organization).latest("queued_at")


def live_users(tenant) -> list[SimUser]:
    return list(SimUser.objects.filter(tenant=tenant, deleted_at__isnull=True).order_by("id"))


def test_a_large_groups_members_over_several_pages_all_arrive_and_the_group_counts_once(
    protected, driver, contoso, settings
):
    sim.set_faults(contoso, members_delta_page_cap=4)
    everyone = sim.add_group(contoso, display_name="Everyone")
    for user in live_users(contoso):
        sim.add_member(everyone, user)
    sim.expire_delta_tokens(contoso)  # a full round
    sync_now(driver, protected)
    driver.tasks.run()

    run = latest_run(protected)
    assert (run.status, run.kind) == (SyncStatus.SUCCEEDED, SyncKind.FULL)
    assert portal_state(protected.organization) == simulator_state(contoso)
    members = set(
        GroupMembership.objects.filter(organization=protected.organization, group_id=everyone.id).values_list(
            "member_id", flat=True
        )
    )
    assert members == {user.id for user in live_users(contoso)}  # 23 members, 4 a page: none lost
    groups = SimGroup.objects.filter(tenant=contoso, deleted_at__isnull=True).count()
    assert run.groups_synced == groups  # each group once, though "Everyone" came on several pages
    assert run.pages >= run.users_synced // settings.SYNC_PAGE_SIZE + 6  # 23 + 20 entries, 4 a page: 11 pages


def test_a_delta_round_adds_a_split_groups_members_and_keeps_those_of_a_group_without_members_delta(
    protected, driver, contoso
):
    sim.set_faults(contoso, members_delta_page_cap=3)
    grown = SimGroup.objects.filter(tenant=contoso).order_by("id")[0]
    renamed = SimGroup.objects.filter(tenant=contoso).order_by("-id")[0]
    for user in live_users(contoso):
        sim.add_member(grown, user)
    sim.update_group(renamed, display_name="Renamed, members untouched")
    kept = set(
        GroupMembership.objects.filter(organization=protected.organization, group_id=renamed.id).values_list(
            "member_id", flat=True
        )
    )
    assert kept
    sync_now(driver, protected)
    driver.tasks.run()

    run = latest_run(protected)
    assert (run.status, run.kind) == (SyncStatus.SUCCEEDED, SyncKind.DELTA)
    assert portal_state(protected.organization) == simulator_state(contoso)
    assert (
        set(
            GroupMembership.objects.filter(organization=protected.organization, group_id=renamed.id).values_list(
                "member_id", flat=True
            )
        )
        == kept
    )
    assert DirectoryGroup.objects.get(microsoft_id=renamed.id).display_name == "Renamed, members untouched"
    assert run.groups_synced == 2  # the grown group once, over several pages, and the renamed one


def test_replays_change_nothing_and_count_nothing_twice(protected, driver, contoso, settings):
    settings.SYNC_PAGE_SIZE = 5
    sim.set_faults(contoso, delta_replay_next=3)
    sim.expire_delta_tokens(contoso)
    sync_now(driver, protected)
    driver.tasks.run()

    run = latest_run(protected)
    assert run.status == SyncStatus.SUCCEEDED
    assert SimTenant.objects.get(pk=contoso.pk).delta_replay_next == 0  # three pages came twice
    assert portal_state(protected.organization) == simulator_state(contoso)
    assert run.users_synced == len(live_users(contoso))
    assert (run.added, run.removed) == (0, 0)
    assert run.updated == run.users_synced + run.groups_synced


def test_a_synchronization_reset_makes_the_delta_round_a_full_one_counted_as_a_restart(protected, driver, contoso):
    before_reset = live_users(contoso)[-1]
    sim.update_user(before_reset, display_name="Changed before the reset")
    sim.set_faults(contoso, delta_reset_next=1)
    sync_now(driver, protected)
    driver.tasks.run()

    run = latest_run(protected)
    assert (run.status, run.kind, run.listing_restarts) == (SyncStatus.SUCCEEDED, SyncKind.FULL, 1)
    assert run.fallback_reason == RESET_REASON
    assert portal_state(protected.organization) == simulator_state(contoso)
    assert DirectoryUser.objects.get(microsoft_id=before_reset.id).display_name == "Changed before the reset"


def test_a_reset_in_the_middle_of_a_full_round_begins_it_again_and_removes_only_after_a_complete_one(
    protected, driver, contoso, settings
):
    settings.SYNC_PAGE_SIZE = 5
    settings.SYNC_PAGES_PER_BATCH = 1
    sim.expire_delta_tokens(contoso)
    sync_now(driver, protected)
    run_users_batch(driver)  # the expired delta token: a full round instead
    run = run_users_batch(driver)  # its first page written, its nextLink stored
    assert (run.kind, run.step) == (SyncKind.FULL, SyncStep.USERS)
    deleted = live_users(contoso)[-1]
    sim.delete_user(deleted, permanent=True)
    sim.set_faults(contoso, delta_reset_next=1)
    run = run_users_batch(driver)
    assert (run.listing_restarts, run.step, run.kind, run.fallback_reason) == (
        1,
        SyncStep.DOMAINS,
        SyncKind.FULL,
        "Microsoft no longer knows the last delta token (it expires after about 7 days).",
    )
    assert DirectoryUser.objects.filter(microsoft_id=deleted.id).exists()  # nothing removed yet

    driver.tasks.run()
    run.refresh_from_db()
    assert (run.status, run.listing_restarts) == (SyncStatus.SUCCEEDED, 1)
    assert portal_state(protected.organization) == simulator_state(contoso)
    assert not DirectoryUser.objects.filter(microsoft_id=deleted.id).exists()


def test_resets_that_keep_coming_fail_the_run_and_remove_nothing(protected, driver, contoso, settings):
    settings.SYNC_MAX_LISTING_RESTARTS = 2
    settings.SYNC_PAGE_SIZE = 5
    before = portal_state(protected.organization)
    sim.delete_user(live_users(contoso)[0], permanent=True)  # gone for good: only "not seen" could remove it
    sim.set_faults(contoso, delta_reset_next=100)
    sync_now(driver, protected)
    driver.tasks.run()

    run = latest_run(protected)
    assert (run.status, run.listing_restarts) == (SyncStatus.FAILED, 2)
    assert run.error == RESET_GAVE_UP
    assert "HTTP 410 resyncRequired" in run.error_detail
    assert run.removed == 0
    assert portal_state(protected.organization) == before


def test_an_expired_state_token_in_a_full_round_counts_as_a_restart_too(protected, driver, contoso, settings):
    settings.SYNC_MAX_LISTING_RESTARTS = 1
    settings.SYNC_PAGE_SIZE = 5
    settings.SYNC_PAGES_PER_BATCH = 1
    sim.expire_delta_tokens(contoso)
    sync_now(driver, protected)
    run_users_batch(driver)  # the expired delta token: a full round
    run = run_users_batch(driver)  # its first page written, its nextLink stored
    for restarts in (1, 2):
        assert (run.step, run.kind) == (SyncStep.USERS, SyncKind.FULL)
        sim.expire_delta_tokens(contoso)  # the round's state is no longer known: its nextLink is syncStateNotFound
        run = run_users_batch(driver)
        if restarts == 1:
            assert (run.status, run.listing_restarts, run.step) == (SyncStatus.RUNNING, 1, SyncStep.DOMAINS)
            run = run_users_batch(driver)
    assert (run.status, run.error, run.listing_restarts) == (SyncStatus.FAILED, EXPIRED_GAVE_UP, 1)
    assert "HTTP 400 syncStateNotFound" in run.error_detail


def test_at_removed_in_an_initial_round_removes_the_user_at_once_and_never_stores_one(
    protected, driver, contoso, settings
):
    settings.SYNC_PAGES_PER_BATCH = 1
    synced_then_deleted = live_users(contoso)[0]
    sim.delete_user(synced_then_deleted)  # restorable: an initial round lists it as @removed
    never_synced = sim.add_user(contoso, user_principal_name="brief@contoso.onmicrosoft.com", display_name="Brief")
    sim.delete_user(never_synced)
    sim.expire_delta_tokens(contoso)
    sync_now(driver, protected)
    run = run_users_batch(driver)  # the expired delta token: a full round
    while run.step in {SyncStep.USERS, SyncStep.DOMAINS}:
        run = run_users_batch(driver)
    # The users step is over, the round is not: removed by the @removed entry, not at the end of the round.
    assert run.status == SyncStatus.RUNNING
    assert not DirectoryUser.objects.filter(microsoft_id=synced_then_deleted.id).exists()
    assert not DirectoryUser.objects.filter(microsoft_id=never_synced.id).exists()
    assert run.removed == 1
    driver.tasks.run()
    assert portal_state(protected.organization) == simulator_state(contoso)
