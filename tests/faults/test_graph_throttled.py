"""30 % of Graph requests answered 429 with Retry-After: the sync backs off and completes."""

import pytest

from directory.models import SyncStatus
from m365sim import services as sim
from tests.connected import connect
from tests.faults.live import (
    assert_exactly_the_simulators_users,
    assert_no_stuck_lease,
    assert_progress_tells_success,
    fast_env,
    finished,
    syncing,
)
from tests.processes import flushed_redis, requires_real_services, wait_for

pytestmark = [requires_real_services, pytest.mark.django_db(databases=["default", "m365sim"], transaction=True)]


@pytest.mark.usefixtures("m365sim_live")
def test_a_sync_with_30_percent_of_graph_requests_throttled_completes(cast):
    connected = connect(cast.organization, users=2000)
    # The first two for certain, then 30 % at random: never a lucky run with none throttled.
    sim.set_faults(connected.sim_tenant, throttle_next=2, throttle_fraction=0.3, throttle_retry_after=1)
    env = fast_env(SYNC_PAGE_SIZE="200", SYNC_PAGES_PER_BATCH="2", SYNC_MAX_RETRIES="30")
    run = connected.run()
    with flushed_redis(), syncing(env, run, name="throttled") as worker:
        wait_for(lambda: finished(run), timeout=120, what="the throttled sync to finish", log=worker.output)
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error_detail
    assert run.throttled > 0
    assert_exactly_the_simulators_users(cast, connected.sim_tenant)
    assert_no_stuck_lease(run)
    assert_progress_tells_success(cast)
