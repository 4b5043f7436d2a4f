"""Tasks answer to the names they were registered under, on the queues they were routed to: messages already
in the broker and beat's schedule (also kept in the database) name them so."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from casportal.celery import app
from directory.models import SyncRun, SyncStatus, SyncTrigger
from grant.models import GrantAttempt, GrantStep

pytestmark = pytest.mark.django_db(databases=["default", "m365sim"])

QUEUES = {
    "provisioning.sync_batch": "sync",
    "provisioning.check_grant_access": "default",
    "provisioning.probe_connection": "health",
    "provisioning.probe_connections": "health",
    "provisioning.dispatch_scheduled_syncs": "default",
    "provisioning.resume_stalled_syncs": "default",
    "provisioning.purge_expired_records": "default",
    "provisioning.warn_of_secret_expiry": "default",
    "coverage.dispatch_verifications": "default",
    "coverage.verify_step": "default",
}


@pytest.fixture(autouse=True)
def _tasks_as_a_worker_finds_them():
    app.loader.import_default_modules()


def enqueue(name: str, *args):
    """As a message naming the task would be run: by name, through the Celery app (eagerly, in tests)."""
    return app.tasks[name].apply_async(args).get()


@pytest.mark.parametrize("name", sorted(QUEUES))
def test_each_task_routes_to_its_queue_as_before(name):
    assert app.amqp.router.route({}, name)["queue"].name == QUEUES[name]


def test_a_worker_without_q_consumes_every_queue():
    assert {queue.name for queue in app.conf.task_queues} == set(QUEUES.values())


def test_sync_batch_runs_by_name(cast):
    run = SyncRun.objects.create(
        organization=cast.organization,
        service=cast.organization.services.get(kind="exchange-online"),
        kind="full",
        trigger=SyncTrigger.MANUAL,
    )
    enqueue("provisioning.sync_batch", run.pk, run.fence)
    run.refresh_from_db()
    assert run.status == SyncStatus.FAILED
    assert run.error == "The organization is no longer connected to a Microsoft 365 tenant."


@pytest.mark.usefixtures("m365sim")
def test_check_grant_access_runs_by_name(cast):
    attempt = GrantAttempt.objects.create(
        organization=cast.organization,
        service=cast.organization.services.get(kind="exchange-online"),
        user=cast.owner.user,
        session_key_hash="0" * 64,
        step=GrantStep.AWAITING_ACCESS,
        sync_mode="all",
        microsoft_tenant_id="00000000-0000-4000-8000-000000000001",
        admin_has_role_claims=True,
        expires_at=timezone.now() + dt.timedelta(minutes=10),
        access_deadline=timezone.now() - dt.timedelta(seconds=1),
    )
    enqueue("provisioning.check_grant_access", attempt.pk)
    attempt.refresh_from_db()
    assert attempt.step == GrantStep.REFUSED


def test_probes_run_by_name(cast):
    assert enqueue("provisioning.probe_connection", cast.organization.pk) == "not-connected"
    assert enqueue("provisioning.probe_connections") == 0


@pytest.mark.usefixtures("cast")
def test_the_periodic_tasks_run_by_name():
    assert enqueue("provisioning.dispatch_scheduled_syncs") == 0
    assert enqueue("provisioning.resume_stalled_syncs") == 0
    enqueue("provisioning.purge_expired_records")
    enqueue("provisioning.warn_of_secret_expiry")
    assert enqueue("coverage.dispatch_verifications") == 0


def test_every_beat_entry_names_a_registered_task():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks)
    assert scheduled <= set(QUEUES)
