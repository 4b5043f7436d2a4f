"""Readiness: can this process serve? Only the database, the broker and the cache decide.

A rejected application credential makes the portal "degraded" but still ready: the web tier must stay in
service to tell customers the service team has been alerted. Answers name failures by exception class
only, since messages can carry connection URLs with passwords.
"""

import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from connection.credential import credential_rejected

TIMEOUT_SECONDS = 2
OK = "ok"


def _failure(exc: Exception) -> str:
    return f"unreachable ({exc.__class__.__name__})"


def check_database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
    return OK


def check_broker() -> str:
    url: str = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()
    elif url.startswith("filesystem://"):
        # Development's broker needs no server: it is reachable when its folder is there.
        folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
        if not folder.is_dir():
            raise FileNotFoundError(folder)
    else:
        with Connection(url, connect_timeout=TIMEOUT_SECONDS) as connection:
            connection.ensure_connection(max_retries=1)
    return OK


def check_cache() -> str:
    key, value = f"readyz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    read_back = cache.get(key)
    cache.delete(key)
    if read_back != value:
        raise LookupError("the cache did not keep a value")
    return OK


def check_credential() -> str:
    return "rejected" if credential_rejected() else OK


REQUIRED_CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "cache": check_cache,
}


def readiness() -> tuple[str, dict[str, str]]:
    """("ok" | "degraded" | "unavailable", each check's outcome)."""
    checks: dict[str, str] = {}
    for name, check in REQUIRED_CHECKS.items():
        try:
            checks[name] = check()
        except Exception as exc:  # whatever the driver raises, the dependency is unusable
            checks[name] = _failure(exc)
    if checks["database"] != OK:
        checks["credential"] = "unknown (no database)"
        return "unavailable", checks
    try:
        checks["credential"] = check_credential()
    except Exception as exc:
        checks["credential"] = _failure(exc)
    if any(checks[name] != OK for name in REQUIRED_CHECKS):
        return "unavailable", checks
    return ("degraded" if checks["credential"] != OK else OK), checks


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    status, checks = readiness()
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "unavailable" else 200)
