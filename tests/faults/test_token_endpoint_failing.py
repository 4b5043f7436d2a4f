"""The identity platform's token endpoint failing (HTTP 500) for a while: the sync waits it out and completes."""

import pytest

from directory.models import SyncStatus
from m365sim import services as sim
from m365sim.models import Tenant as SimTenant
from organizations.models import ProtectedService, ServiceStatus
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
def test_a_sync_outlives_a_failing_token_endpoint(cast):
    connected = connect(cast.organization, users=1000)
    sim.set_faults(connected.sim_tenant, token_failures_next=3)
    env = fast_env(SYNC_PAGE_SIZE="200", SYNC_PAGES_PER_BATCH="2", SYNC_MAX_RETRIES="10")
    run = connected.run()
    with flushed_redis(), syncing(env, run, name="token-failing") as worker:
        wait_for(lambda: finished(run), timeout=120, what="the sync to finish", log=worker.output)
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error_detail
    assert SimTenant.objects.get(pk=connected.sim_tenant.pk).token_failures_next == 0  # the failures were met
    assert_exactly_the_simulators_users(cast, connected.sim_tenant)
    assert_no_stuck_lease(run)
    assert ProtectedService.objects.get(pk=connected.service.pk).status == ServiceStatus.PROTECTED
    assert_progress_tells_success(cast)
