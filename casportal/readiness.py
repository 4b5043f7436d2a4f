"""Readiness (/readyz): can this process serve? Only critical checks decide: the database, the broker, the cache.

Apps register their own checks with `register_check`. A failing non-critical check makes the portal "degraded"
but still ready: a rejected application credential, say, must leave the web tier in service to tell customers
the service team has been alerted. Answers name failures by exception class only, since messages can carry
connection URLs with passwords.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from casportal.broker import TIMEOUT_SECONDS, broker_is_redis, broker_redis

OK = "ok"
NO_DATABASE = "unknown (no database)"


@dataclass(frozen=True)
class _Check:
    func: Callable[[], str]
    critical: bool


def _failure(exc: Exception) -> str:
    return f"unreachable ({exc.__class__.__name__})"


def check_database() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
    return OK


def check_broker() -> str:
    url: str = settings.CELERY_BROKER_URL
    if broker_is_redis():
        with broker_redis() as client:
            client.ping()
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


BUILT_IN_CHECKS = {
    "database": _Check(check_database, critical=True),
    "broker": _Check(check_broker, critical=True),
    "cache": _Check(check_cache, critical=True),
}
_registered: dict[str, _Check] = {}


def register_check(name: str, func: Callable[[], str], *, critical: bool) -> None:
    """Add `name` to /readyz: `func` returns "ok" or what is wrong. Registered checks read the database, so they
    run only once it answers. Registering a name again replaces its check."""
    if name in BUILT_IN_CHECKS:
        raise ValueError(f"{name!r} is a built-in readiness check")
    _registered[name] = _Check(func, critical)


def _run(check: _Check) -> str:
    try:
        return check.func()
    except Exception as exc:  # whatever the driver raises, the dependency is unusable
        return _failure(exc)


def readiness() -> tuple[str, dict[str, str]]:
    """("ok" | "degraded" | "unavailable", each check's outcome)."""
    checks = {name: _run(check) for name, check in BUILT_IN_CHECKS.items()}
    database_up = checks["database"] == OK
    checks.update({name: _run(check) if database_up else NO_DATABASE for name, check in _registered.items()})
    every_check = BUILT_IN_CHECKS | _registered
    if any(checks[name] != OK for name, check in every_check.items() if check.critical):
        return "unavailable", checks
    return ("degraded" if any(outcome != OK for outcome in checks.values()) else OK), checks


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:  # noqa: ARG001 (a view's signature)
    status, checks = readiness()
    return JsonResponse({"status": status, "checks": checks}, status=503 if status == "unavailable" else 200)
