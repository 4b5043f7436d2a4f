"""Real workers syncing a connected organization: start, kill, watch, and check what they wrote."""

import html
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.test import Client

from directory.models import TERMINAL_SYNC_STATUSES, DirectoryUser, SyncRun
from directory.progress import SUCCESS_SENTENCE
from m365sim.models import Tenant as SimTenant
from m365sim.models import User as SimUser
from tests.processes import Worker, manage, process_env, wait_for

# Small enough for CI: leases, countdowns and the broker's redelivery in seconds.
FAST = {
    "CELERY_VISIBILITY_TIMEOUT": "8",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "SYNC_LEASE_SECONDS": "3",
    "SYNC_MAX_COUNTDOWN_SECONDS": "5",
    "SYNC_STALL_SECONDS": "6",
}


def fast_env(**overrides: str) -> dict[str, str]:
    return process_env(**{**FAST, **overrides})


def start_sync(env: dict[str, str], run: SyncRun) -> None:
    manage(env, f"from directory.engine import sync_batch; sync_batch.delay({run.pk}, 0)")


@contextmanager
def syncing(env: dict[str, str], run: SyncRun, *, name: str) -> Iterator[Worker]:
    """A worker of the test's own with the run's first batch queued for it; the worker stops on the way out."""
    worker = Worker(env, name=name)
    try:
        start_sync(env, run)
        yield worker
    finally:
        worker.stop()


def wait_for_pages(run: SyncRun, pages: int, *, worker: Worker, timeout: float = 60) -> None:
    wait_for(
        lambda: SyncRun.objects.get(pk=run.pk).pages >= pages,
        timeout=timeout,
        what=f"the sync {pages} pages in",
        log=worker.output,
    )


def finished(run: SyncRun) -> bool:
    return SyncRun.objects.get(pk=run.pk).status in TERMINAL_SYNC_STATUSES


def wait_with_watchdog(env: dict[str, str], run: SyncRun, *, timeout: float, log) -> None:
    """Wait for the run to finish, running the stalled-sync watchdog every few seconds as beat would."""
    deadline = time.monotonic() + timeout
    while not finished(run):
        if time.monotonic() > deadline:
            raise AssertionError(f"the sync did not finish within {timeout} s\n--- worker log ---\n{log()[-4000:]}")
        manage(env, "from directory.engine import resume_stalled_syncs; resume_stalled_syncs()")
        time.sleep(1)


def assert_exactly_the_simulators_users(cast, sim_tenant: SimTenant) -> None:
    live = set(SimUser.objects.filter(tenant=sim_tenant, deleted_at__isnull=True).values_list("id", flat=True))
    synced = list(DirectoryUser.objects.filter(organization=cast.organization).values_list("microsoft_id", flat=True))
    assert len(synced) == len(set(synced)), "duplicate directory users"
    assert set(synced) == live


def assert_nothing_invented(cast, sim_tenant: SimTenant) -> None:
    """Whatever was stored before a failure is the simulator's own data, once: no loss of what was written."""
    live = set(SimUser.objects.filter(tenant=sim_tenant).values_list("id", flat=True))
    synced = list(DirectoryUser.objects.filter(organization=cast.organization).values_list("microsoft_id", flat=True))
    assert len(synced) == len(set(synced))
    assert set(synced) <= live


def assert_no_stuck_lease(run: SyncRun) -> None:
    run.refresh_from_db()
    assert run.status in TERMINAL_SYNC_STATUSES, f"run left {run.status}"
    assert run.lease_expires_at is None, "lease still held by a finished run"


def progress_page(cast) -> str:
    client = Client()
    client.force_login(cast.owner.user)
    response = client.get(f"/o/{cast.organization.slug}/services/exchange-online/progress/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def assert_progress_tells_success(cast) -> None:
    assert SUCCESS_SENTENCE in progress_page(cast)


def assert_progress_tells_failure(cast, run: SyncRun) -> None:
    page = progress_page(cast)
    assert run.error
    assert run.error in page
    assert SUCCESS_SENTENCE not in page
