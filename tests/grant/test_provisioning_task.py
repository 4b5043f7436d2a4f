from datetime import timedelta

import pytest
from django.utils import timezone

from directory.engine import resume_stalled_syncs, sync_batch
from directory.models import DirectoryUser, GroupMembership, SyncRun, SyncStatus
from directory.writes import write_users
from m365sim.models import User as SimUser
from microsoft import graph
from organizations.models import ProtectedService, ServiceStatus

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])


@pytest.fixture
def granted(cast, driver, settings) -> SyncRun:
    settings.SYNC_PAGE_SIZE = 5
    settings.SYNC_PAGES_PER_BATCH = 1
    assert driver.grant().status_code == 302
    return SyncRun.objects.get(organization=cast.organization)


def directory_snapshot(organization) -> tuple:
    return (
        sorted(
            DirectoryUser.objects.filter(organization=organization).values_list("microsoft_id", "user_principal_name")
        ),
        sorted(GroupMembership.objects.filter(organization=organization).values_list("group_id", "member_id")),
    )


@pytest.mark.usefixtures("cast")
def test_a_sync_is_a_chain_of_short_batches(driver, granted, contoso):
    ran = driver.tasks.run(hold=("coverage.verify_step",))  # the sync's batches alone
    run = SyncRun.objects.get(pk=granted.pk)
    assert run.status == SyncStatus.SUCCEEDED
    users = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True).count()
    assert ran >= users // 5  # one page of five per batch
    assert run.pages == ran  # one page per batch (the first also reads the organization)
    assert run.users_synced == users


def test_a_redelivered_task_after_success_does_nothing(cast, driver, granted):
    driver.tasks.run()
    before = directory_snapshot(cast.organization)
    finished_at = SyncRun.objects.get(pk=granted.pk).finished_at
    sync_batch.apply(args=(granted.pk, 0), throw=True)
    assert directory_snapshot(cast.organization) == before
    assert SyncRun.objects.get(pk=granted.pk).finished_at == finished_at


@pytest.mark.usefixtures("cast")
def test_a_stale_delivery_does_nothing(driver, granted):
    for _ in range(3):  # a few batches in: the run's fence has moved on
        queued, task = driver.tasks.pending.pop(0)
        task.apply(args=queued.args, throw=True)
    position = SyncRun.objects.values_list("fence", "cursor", "users_synced").get(pk=granted.pk)
    sync_batch.apply(args=(granted.pk, 1), throw=True)
    assert SyncRun.objects.values_list("fence", "cursor", "users_synced").get(pk=granted.pk) == position


def test_a_batch_that_died_is_taken_over_from_its_last_position(cast, driver, granted, contoso):
    for _ in range(3):
        queued, task = driver.tasks.pending.pop(0)
        task.apply(args=queued.args, throw=True)
    # The next batch's worker was killed after claiming the run: its lease runs out, the message comes back.
    SyncRun.objects.filter(pk=granted.pk).update(fence=99, lease_expires_at=timezone.now() - timedelta(seconds=1))
    driver.tasks.run()
    run = SyncRun.objects.get(pk=granted.pk)
    assert run.status == SyncStatus.SUCCEEDED
    live = SimUser.objects.filter(tenant=contoso, deleted_at__isnull=True)
    assert set(
        DirectoryUser.objects.filter(organization=cast.organization).values_list("microsoft_id", flat=True)
    ) == set(live.values_list("id", flat=True))
    assert (
        ProtectedService.objects.get(organization=cast.organization, kind="exchange-online").status
        == ServiceStatus.PROTECTED
    )


@pytest.mark.usefixtures("cast")
def test_a_delivery_while_a_batch_holds_the_run_comes_back_later(driver, granted):
    queued, task = driver.tasks.pending.pop(0)
    SyncRun.objects.filter(pk=granted.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=30))
    task.apply(args=queued.args, throw=True)
    ((requeued, _),) = driver.tasks.pending
    assert requeued.args == queued.args
    assert 25 <= requeued.countdown <= 32
    assert SyncRun.objects.get(pk=granted.pk).fence == 0


def test_directory_strings_are_normalized_for_storage(cast):
    user = graph.DirectoryUser(
        id="8d9d9a53-5b7a-4d55-9d4f-1f5a4f0e2b11",
        user_principal_name="alex@contoso.onmicrosoft.com",
        display_name="Alex\x00 \ud800Wilber",
        mail=None,
        account_enabled=True,
    )
    write_users(cast.organization.pk, [user])
    alex = DirectoryUser.objects.get(user_principal_name="alex@contoso.onmicrosoft.com")
    assert alex.display_name == "Alex \ufffdWilber"
    assert alex.normalized
    assert alex.mail == ""


@pytest.mark.usefixtures("cast")
def test_the_watchdog_resumes_a_run_whose_next_batch_was_lost(driver, granted, settings):
    for _ in range(2):
        queued, task = driver.tasks.pending.pop(0)
        task.apply(args=queued.args, throw=True)
    driver.tasks.pending.clear()  # the broker lost the next batch's message
    assert resume_stalled_syncs.apply().get() == 0  # not yet: the run moved a moment ago
    SyncRun.objects.filter(pk=granted.pk).update(
        progressed_at=timezone.now() - timedelta(seconds=settings.SYNC_STALL_SECONDS + 1)
    )
    assert resume_stalled_syncs.apply().get() == 1
    driver.tasks.run()
    assert SyncRun.objects.get(pk=granted.pk).status == SyncStatus.SUCCEEDED
