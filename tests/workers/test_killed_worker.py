"""A worker killed with SIGKILL in the middle of a sync: after a restart the sync completes, exactly once."""

import pytest
from django.db import connections
from django.utils import timezone

from m365sim import services as sim
from m365sim.models import Application
from m365sim.models import User as SimUser
from m365sim.seed import seed_tenant
from provisioning.models import DirectoryUser, ServiceAccount, SyncKind, SyncRun, SyncStatus, SyncTrigger
from tenants.models import ProtectedService, ServiceStatus
from tests.processes import Worker, flushed_redis, manage, process_env, requires_real_services, wait_for

pytestmark = [requires_real_services, pytest.mark.django_db(databases=["default", "m365sim"], transaction=True)]


@pytest.fixture
def connected(cast, m365sim_live):
    """Contoso with a few thousand users, consented and bound to the organization, not yet synchronized."""
    result = seed_tenant("contoso", users=3000, groups=20, members_per_group=50)
    admin = SimUser.objects.get(user_principal_name="admin@contoso.onmicrosoft.com")
    sim.grant_admin_consent(result.tenant, Application.objects.get(), user=admin)
    sim.set_faults(result.tenant, latency_ms=15)
    cast.tenant.microsoft_tenant_id = result.tenant.id
    cast.tenant.save(update_fields=["microsoft_tenant_id"])
    service = ProtectedService.objects.get(tenant=cast.tenant, kind="exchange-online")
    ServiceAccount.objects.create(
        tenant=cast.tenant,
        service=service,
        microsoft_tenant_id=result.tenant.id,
        authorized_account=admin.user_principal_name,
        authorized_object_id=admin.id,
        granted_at=timezone.now(),
    )
    ProtectedService.objects.filter(pk=service.pk).update(status=ServiceStatus.PROVISIONING)
    return service, result.tenant


def test_a_killed_worker_loses_at_most_one_batch_and_the_sync_completes_once(cast, connected):
    service, sim_tenant = connected
    env = process_env(
        CELERY_VISIBILITY_TIMEOUT="8",
        SYNC_LEASE_SECONDS="3",
        SYNC_MAX_COUNTDOWN_SECONDS="5",
        SYNC_PAGE_SIZE="100",
        SYNC_PAGES_PER_BATCH="2",
    )
    run = SyncRun.objects.create(tenant=cast.tenant, service=service, kind=SyncKind.FULL, trigger=SyncTrigger.GRANT)
    connections.close_all()
    with flushed_redis():
        worker = Worker(env, name="first")
        try:
            manage(env, f"from provisioning.tasks import sync_batch; sync_batch.delay({run.pk}, 0)")
            wait_for(
                lambda: SyncRun.objects.get(pk=run.pk).pages >= 6,
                timeout=60,
                what="the sync to be under way",
                log=worker.output,
            )
            worker.kill()
        finally:
            worker.stop()
        killed_at = SyncRun.objects.get(pk=run.pk)
        assert killed_at.status == SyncStatus.RUNNING
        replacement = Worker(env, name="second")
        try:
            wait_for(
                lambda: SyncRun.objects.get(pk=run.pk).status != SyncStatus.RUNNING,
                timeout=120,
                what="the restarted worker to finish the sync",
            )
        finally:
            replacement.stop()
    run.refresh_from_db()
    assert run.status == SyncStatus.SUCCEEDED, run.error_detail
    live = set(SimUser.objects.filter(tenant=sim_tenant, deleted_at__isnull=True).values_list("id", flat=True))
    synced = list(DirectoryUser.objects.filter(tenant=cast.tenant).values_list("microsoft_id", flat=True))
    assert len(synced) == len(set(synced)) == len(live)
    assert set(synced) == live
    assert SyncRun.objects.filter(tenant=cast.tenant).count() == 1
    assert ProtectedService.objects.get(pk=service.pk).status == ServiceStatus.PROTECTED
