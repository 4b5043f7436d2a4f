"""The worker's PostgreSQL connections terminated (pg_terminate_backend) while it writes pages: nothing lost."""

import time

import pytest
from django.db import connection

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
from tests.processes import flushed_redis, requires_real_services

pytestmark = [requires_real_services, pytest.mark.django_db(databases=["default", "m365sim"], transaction=True)]


def terminate_worker_connections() -> int:
    """Every other backend on the portal's test database: the worker's (this process holds only its own)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return len(cursor.fetchall())


@pytest.mark.usefixtures("m365sim_live")
def test_terminated_database_connections_mid_page_lose_nothing_and_the_sync_completes(cast):
    connected = connect(cast.organization, users=1500)
    sim.set_faults(connected.sim_tenant, latency_ms=10)
    env = fast_env(SYNC_PAGE_SIZE="100", SYNC_PAGES_PER_BATCH="2")
    run = connected.run()
    terminated = 0
    with flushed_redis(), syncing(env, run, name="pg-terminated") as worker:
        for depth in (3, 6, 9):
            wait_for_pages(run, depth, worker=worker, timeout=30)
            terminated += terminate_worker_connections()
            time.sleep(0.3)
        wait_with_watchdog(env, run, timeout=60, log=worker.output)
    assert terminated >= 1
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error_detail
    assert_exactly_the_simulators_users(cast, connected.sim_tenant)
    assert_no_stuck_lease(run)
    assert_progress_tells_success(cast)
