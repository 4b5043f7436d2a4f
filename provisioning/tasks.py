"""Celery tasks: they take ids, call the services and the sync engine, and are safe to run twice."""

from contextlib import suppress

from celery import shared_task

from provisioning import directory_sync, services


@shared_task(name="provisioning.provision_directory")
def provision_directory(sync_run_id: int) -> None:
    directory_sync.run_sync(sync_run_id)


@shared_task(name="provisioning.check_grant_access")
def check_grant_access(attempt_id: int) -> None:
    """One more try at proving access after consent; requeues itself while Microsoft is still activating it."""
    with suppress(services.GrantRefused):  # recorded on the attempt, which the admin's page shows
        services.check_grant_access(attempt_id=attempt_id)
