"""Celery tasks: they take ids, call the services and the sync engine, and are safe to run twice."""

from contextlib import suppress

from celery import shared_task
from django.db import DatabaseError
from kombu.exceptions import OperationalError as KombuOperationalError

from casportal.logcontext import bind
from provisioning import directory_sync, health, schedule, services
from provisioning.models import ServiceAccount


@shared_task(
    name="provisioning.sync_batch",
    # The database or the broker gone for a moment: try the batch again (the fence keeps it single).
    autoretry_for=(DatabaseError, KombuOperationalError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def sync_batch(sync_run_id: int, fence: int) -> None:
    """One batch of a sync run; queues the next batch (or itself, later, when throttled)."""
    with bind(sync_run=sync_run_id):
        after = directory_sync.run_batch(sync_run_id, fence)
    if after.fence is not None:
        sync_batch.apply_async((sync_run_id, after.fence), countdown=after.countdown)


@shared_task(name="provisioning.resume_stalled_syncs")
def resume_stalled_syncs() -> int:
    """The watchdog: hand every stalled run to a new batch, which takes over from its last saved position."""
    stalled = directory_sync.stalled_runs()
    for run in stalled:
        sync_batch.delay(run.pk, run.fence)
    return len(stalled)


@shared_task(name="provisioning.check_grant_access")
def check_grant_access(attempt_id: int) -> None:
    """One more try at proving access after consent; requeues itself while Microsoft is still activating it."""
    with suppress(services.GrantRefused):  # recorded on the attempt, which the admin's page shows
        services.check_grant_access(attempt_id=attempt_id)


@shared_task(name="provisioning.dispatch_scheduled_syncs")
def dispatch_scheduled_syncs() -> int:
    return schedule.dispatch_due_syncs()


@shared_task(name="provisioning.probe_connections")
def probe_connections() -> int:
    """Queue a health probe for every connected organization, so a revoked consent is found between syncs."""
    tenant_ids = set(ServiceAccount.objects.values_list("tenant_id", flat=True))
    for tenant_id in tenant_ids:
        probe_connection.delay(tenant_id)
    return len(tenant_ids)


@shared_task(name="provisioning.probe_connection")
def probe_connection(tenant_id: int) -> str:
    return health.probe_connection(tenant_id)


# Celery discovers `tasks` modules only: the lifecycle tasks (purge, secret expiry) are registered from here.
from provisioning import lifecycle_tasks  # noqa: F401,E402
