"""/readyz: 503 only when the database, the broker or the cache is unreachable; a rejected credential is "degraded"."""

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client

from connection.credential import record_credential_rejected


def closed_port() -> int:
    """A local port nothing listens on: bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def unreachable_database() -> Iterator[None]:
    """PostgreSQL: point the connection at a closed port. SQLite's in-memory test database cannot be closed,
    so there the connection attempt is made to fail as a missing file would."""
    if connection.vendor != "postgresql":
        with mock.patch.object(connection, "ensure_connection", side_effect=OperationalError("unable to open")):
            yield
        return
    connection.close()
    try:
        with mock.patch.dict(connection.settings_dict, {"HOST": "127.0.0.1", "PORT": str(closed_port())}):
            yield
            connection.close()
    finally:
        connection.close()  # the next query reconnects with the real settings


def readyz(client: Client) -> tuple[int, dict]:
    response = client.get("/readyz")
    return response.status_code, response.json()


@pytest.mark.django_db
def test_ready_when_every_dependency_answers(client):
    status, body = readyz(client)
    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "cache": "ok", "credential": "ok"},
    }


@pytest.mark.django_db(transaction=True)
def test_not_ready_when_the_database_is_down(client):
    with unreachable_database():
        status, body = readyz(client)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("unreachable")
    assert body["checks"]["broker"] == "ok"


@pytest.mark.django_db
def test_not_ready_when_the_redis_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = f"redis://:broker-password@127.0.0.1:{closed_port()}/0"
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["broker"] == "unreachable (ConnectionError)"
    assert "broker-password" not in str(body)


@pytest.mark.django_db
def test_not_ready_when_the_redis_cache_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    status, body = readyz(client)
    assert status == 503
    assert body["checks"]["cache"].startswith("unreachable")


@pytest.mark.django_db
def test_the_filesystem_broker_is_reachable_while_its_folder_exists(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    assert readyz(client)[0] == 200
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path / "missing")}
    assert readyz(client)[0] == 503


@pytest.mark.django_db
def test_a_rejected_application_credential_is_degraded_but_ready(client):
    record_credential_rejected(error_code="AADSTS7000215", description="Invalid client secret provided.")
    status, body = readyz(client)
    assert status == 200
    assert body["status"] == "degraded"
    assert body["checks"]["credential"] == "rejected"


@pytest.mark.django_db
def test_readyz_is_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301
