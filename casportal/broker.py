"""The Celery broker as readiness and metrics reach it, with short timeouts: a down broker answers in seconds."""

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings

TIMEOUT_SECONDS = 2


def broker_is_redis() -> bool:
    return str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://"))


@contextmanager
def broker_redis() -> Iterator[redis.Redis]:
    """A client of the Redis broker (CELERY_BROKER_URL), closed on leaving."""
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )
    try:
        yield client
    finally:
        client.close()
