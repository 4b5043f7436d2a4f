"""Daily data-lifecycle tasks, run by beat (CELERY_BEAT_SCHEDULE); imported by `provisioning.tasks`."""

from dataclasses import asdict

from celery import shared_task

from provisioning import lifecycle


@shared_task(name="provisioning.purge_expired_records")
def purge_expired_records() -> dict[str, int]:
    return asdict(lifecycle.purge_expired_records())


@shared_task(name="provisioning.warn_of_secret_expiry")
def warn_of_secret_expiry() -> int | None:
    return lifecycle.warn_of_secret_expiry()
