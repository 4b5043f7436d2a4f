"""Consent revoked in Microsoft 365 in the middle of a sync: the run fails with the explanation, data is kept."""

import pytest

from connection.health import CONSENT_BROKEN
from directory.models import SyncStatus
from m365sim import services as sim
from microsoft.identity import token_cache_key
from organizations.models import ProtectedService, ServiceStatus
from tests.connected import connect
from tests.faults.live import (
    assert_no_stuck_lease,
    assert_nothing_invented,
    assert_progress_tells_failure,
    fast_env,
    finished,
    syncing,
    wait_for_pages,
)
from tests.processes import flushed_redis, requires_real_services, wait_for

pytestmark = [requires_real_services, pytest.mark.django_db(databases=["default", "m365sim"], transaction=True)]


@pytest.mark.usefixtures("m365sim_live")
def test_consent_revoked_mid_sync_fails_the_run_with_the_explanation_and_keeps_the_data(cast):
    connected = connect(cast.organization, users=3000)
    sim.set_faults(connected.sim_tenant, latency_ms=10)
    env = fast_env(SYNC_PAGE_SIZE="100", SYNC_PAGES_PER_BATCH="2", SYNC_MAX_RETRIES="3")
    run = connected.run()
    with flushed_redis() as shared, syncing(env, run, name="revoked") as worker:
        wait_for_pages(run, 4, worker=worker)
        sim.revoke_consent(connected.service_principal())
        # Microsoft honours the worker's token, issued before the revocation, until it expires: here, mid-sync.
        for key in shared.scan_iter(f"*{token_cache_key(str(connected.sim_tenant.id))}"):
            shared.delete(key)
        wait_for(lambda: finished(run), timeout=90, what="the run to stop", log=worker.output)
    run.refresh_from_db()
    assert run.status == SyncStatus.FAILED
    assert CONSENT_BROKEN in run.error
    kept = cast.organization.directory_users.count()
    assert kept >= 300  # the pages written before the revocation are kept
    assert_nothing_invented(cast, connected.sim_tenant)
    assert ProtectedService.objects.get(pk=connected.service.pk).status == ServiceStatus.ACCESS_TOKEN_INVALID
    assert_no_stuck_lease(run)
    assert_progress_tells_failure(cast, run)
