"""SIGKILL in the middle of a 20,000-user sync, then a restart: exactly the simulator's users, once, one run."""

import pytest

from directory.models import SyncRun, SyncStatus
from organizations.models import ProtectedService, ServiceStatus
from tests.connected import connect
from tests.faults.live import (
    assert_exactly_the_simulators_users,
    assert_no_stuck_lease,
    assert_progress_tells_success,
    fast_env,
    syncing,
    wait_for_pages,
    wait_with_watchdog,
)
from tests.processes import Worker, flushed_redis, requires_real_services

pytestmark = [requires_real_services, pytest.mark.django_db(databases=["default", "m365sim"], transaction=True)]


@pytest.mark.parametrize("repetition", [1, 2, 3])
@pytest.mark.usefixtures("m365sim_live")
def test_a_worker_killed_mid_sync_of_20000_users_is_replaced_and_the_sync_completes_once(cast, repetition):
    connected = connect(cast.organization, users=20_000, groups=10, members_per_group=20)
    env = fast_env(SYNC_PAGE_SIZE="999", SYNC_PAGES_PER_BATCH="3")
    run = connected.run()
    with flushed_redis():
        with syncing(env, run, name=f"doomed{repetition}") as worker:
            # Kill at a different depth each time: 2, 7 and 12 pages into the 21 pages of users.
            wait_for_pages(run, 2 + 5 * (repetition - 1), worker=worker)
            worker.kill()
        assert SyncRun.objects.get(pk=run.pk).status == SyncStatus.RUNNING
        replacement = Worker(env, name=f"replacement{repetition}")
        try:
            # Killed between saving a batch and queueing the next, the chain is gone: the watchdog resumes it.
            wait_with_watchdog(env, run, timeout=150, log=replacement.output)
        finally:
            replacement.stop()
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error_detail
    assert_exactly_the_simulators_users(cast, connected.sim_tenant)
    assert run.users_total is not None
    assert run.users_synced >= run.users_total >= 20_000
    assert SyncRun.objects.filter(organization=cast.organization).count() == 1
    assert ProtectedService.objects.get(pk=connected.service.pk).status == ServiceStatus.PROTECTED
    assert_no_stuck_lease(run)
    assert_progress_tells_success(cast)
