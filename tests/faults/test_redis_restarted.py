"""Redis (broker and cache) restarted without persistence in the middle of a sync: the sync still completes."""

import pytest

from directory.models import SyncStatus
from m365sim import services as sim
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
from tests.processes import PrivateRedis, requires_real_services

pytestmark = [requires_real_services, pytest.mark.django_db(databases=["default", "m365sim"], transaction=True)]


@pytest.mark.usefixtures("m365sim_live")
def test_a_redis_restart_mid_sync_loses_no_data_and_the_sync_completes(cast):
    connected = connect(cast.organization, users=1500)
    sim.set_faults(connected.sim_tenant, latency_ms=10)
    server = PrivateRedis()
    try:
        env = fast_env(REDIS_URL=server.url, SYNC_PAGE_SIZE="100", SYNC_PAGES_PER_BATCH="2")
        run = connected.run()
        with syncing(env, run, name="redis-restart") as worker:
            wait_for_pages(run, 4, worker=worker)
            server.restart(down_for=3.0)
            wait_with_watchdog(env, run, timeout=60, log=worker.output)
    finally:
        server.stop()
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error_detail
    assert_exactly_the_simulators_users(cast, connected.sim_tenant)
    assert_no_stuck_lease(run)
    assert_progress_tells_success(cast)
