"""Scale-out on one machine: two real workers, 20 organizations queued at once, one of them with 50,000 users.

Every organization is synchronized exactly once, no two batches of one organization's sync run at once (fence
and lease; one active run per organization), and the small organizations finish before the large one although
its sync was queued first: each batch re-queues its successor at the back of the queue, so the large sync's
batches interleave with the small ones instead of holding a worker until it is done.
"""

import pytest
import redis
from django.db import connections

from audit.models import Action, AuditEvent
from directory.models import ACTIVE_SYNC_STATUSES, DirectoryUser, SyncRun, SyncStatus
from m365sim.models import User as SimUser
from organizations.models import Organization
from tests.connected import connect
from tests.factories import OrganizationFactory
from tests.processes import Worker, manage, process_env, redis_url, requires_real_services, wait_for

pytestmark = [requires_real_services, pytest.mark.django_db(databases=["default", "m365sim"], transaction=True)]

LARGE_USERS = 50_000
SMALL_ORGANIZATIONS = 19
# A Redis database of this test's own, so that it can run beside the other worker tests.
REDIS_DB = 12


def organization(slug: str) -> Organization:
    return OrganizationFactory.create(name=slug.title(), slug=slug)


@pytest.mark.usefixtures("m365sim_live")
def test_two_workers_sync_twenty_organizations_fairly_and_each_once():
    large = connect(organization("large"), slug="large", users=LARGE_USERS).run()
    small = [
        connect(organization(slug), slug=slug, users=50 + 20 * i).run()
        for i, slug in enumerate(f"small{i:02}" for i in range(SMALL_ORGANIZATIONS))
    ]
    runs = [large, *small]
    env = process_env(
        REDIS_URL=f"{redis_url().rsplit('/', 1)[0]}/{REDIS_DB}",
        SYNC_PAGE_SIZE="999",
        SYNC_PAGES_PER_BATCH="2",
        SYNC_LEASE_SECONDS="30",
        SYNC_MAX_COUNTDOWN_SECONDS="30",
    )
    broker = redis.Redis.from_url(env["REDIS_URL"])
    broker.flushdb()
    connections.close_all()
    workers = [Worker(env, name=f"scale{i}") for i in (1, 2)]
    try:
        # All at once, the large organization first; every first batch twice, as a broker may deliver it.
        ids = [run.pk for run in runs]
        manage(env, f"from directory.engine import sync_batch\nfor pk in {ids * 2}: sync_batch.delay(pk, 0)")
        wait_for(
            lambda: not SyncRun.objects.filter(status__in=ACTIVE_SYNC_STATUSES).exists(),
            timeout=150,
            what="every organization's sync to finish",
            log=lambda: "\n".join(worker.output()[-2000:] for worker in workers),
        )
    finally:
        for worker in workers:
            worker.stop()
        broker.flushdb()

    finished = {run.pk: run for run in SyncRun.objects.select_related("organization")}
    assert len(finished) == len(runs)  # exactly one run per organization
    for run in finished.values():
        assert run.status == SyncStatus.SUCCEEDED, (run.organization.slug, run.error_detail)
        assert run.organization.microsoft_tenant_id is not None
        live = SimUser.objects.filter(tenant_id=run.organization.microsoft_tenant_id, deleted_at__isnull=True).count()
        assert DirectoryUser.objects.filter(organization=run.organization).count() == run.users_synced == live, (
            run.organization.slug
        )
        assert AuditEvent.objects.filter(organization=run.organization, action=Action.SYNC_SUCCEEDED).count() == 1
    assert finished[large.pk].users_synced > LARGE_USERS

    large_run = finished[large.pk]
    small_runs = [finished[run.pk] for run in small]
    assert large_run.started_at is not None
    assert large_run.finished_at is not None
    last_small = max(run.finished_at for run in small_runs if run.finished_at)
    # The large sync was under way while the small ones ran, and they all finished before it.
    assert large_run.started_at < last_small < large_run.finished_at
