"""Apps add checks to /readyz and figures to /metrics; casportal knows none of them."""

import pytest
from prometheus_client.core import GaugeMetricFamily

from casportal import collectors, readiness

pytestmark = pytest.mark.django_db


@pytest.fixture
def registered_check(monkeypatch):
    monkeypatch.setattr(readiness, "_registered", dict(readiness._registered))
    return readiness.register_check


def failing() -> str:
    raise ConnectionError("redis://:password@broker")


def test_a_failing_critical_check_makes_the_portal_unavailable(client, registered_check):
    registered_check("ledger", failing, critical=True)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["ledger"] == "unreachable (ConnectionError)"


def test_a_failing_non_critical_check_makes_it_degraded(client, registered_check):
    registered_check("ledger", lambda: "behind", critical=False)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["ledger"] == "behind"


def test_registered_checks_wait_for_the_database(monkeypatch, registered_check):
    registered_check("ledger", failing, critical=False)
    monkeypatch.setitem(readiness.BUILT_IN_CHECKS, "database", readiness._Check(failing, critical=True))
    status, checks = readiness.readiness()
    assert status == "unavailable"
    assert checks["ledger"] == checks["credential"] == "unknown (no database)"


def test_a_built_in_check_cannot_be_replaced(registered_check):
    with pytest.raises(ValueError, match="built-in"):
        registered_check("database", lambda: "ok", critical=False)


class LedgerCollector:
    def __init__(self, value: int) -> None:
        self.value = value

    def collect(self):
        yield GaugeMetricFamily("casportal_test_ledger", "A figure for the test.", value=self.value)


def test_a_collector_registered_again_replaces_the_first(client, settings):
    settings.METRICS_TOKEN = "token"
    try:
        collectors.register_collector(LedgerCollector(1))
        collectors.register_collector(LedgerCollector(2))
        body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer token").content.decode()
    finally:
        del collectors._registered[LedgerCollector]
    assert [line for line in body.splitlines() if line.startswith("casportal_test_ledger")] == [
        "casportal_test_ledger 2.0"
    ]


def test_the_secret_expiry_is_a_timestamp_read_from_the_one_setting(client, settings):
    settings.METRICS_TOKEN = "token"
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "2027-01-31"
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer token").content.decode()
    assert "casportal_app_credential_expiry_timestamp_seconds 1.8013536e+09" in body
    settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON = "next year"
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer token").content.decode()
    assert "casportal_app_credential_expiry_timestamp_seconds" not in body
    assert "casportal_app_credential_rejected 0.0" in body
