"""/metrics: Prometheus figures for the operators, refused to anyone without the token or an allowed address."""

import ipaddress

import pytest
from django.utils import timezone

from connection.credential import record_credential_rejected
from connection.models import ConnectionIncident
from directory.models import SyncKind, SyncRun, SyncStatus, SyncTrigger
from microsoft.request_counts import count_graph_request
from organizations.models import ProtectedService, ServiceKind, ServiceStatus
from tests.factories import OrganizationFactory

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def metrics_token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client, token: str = TOKEN, **extra) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


@pytest.mark.django_db
@pytest.mark.usefixtures("metrics_token")
def test_metrics_show_requests_syncs_graph_answers_and_connection_health(client):
    organization = OrganizationFactory.create()
    service = ProtectedService.objects.get(organization=organization, kind=ServiceKind.EXCHANGE_ONLINE)
    service.status = ServiceStatus.ACCESS_TOKEN_INVALID
    service.save()
    for status, users in ((SyncStatus.SUCCEEDED, 120), (SyncStatus.SUCCEEDED, 30), (SyncStatus.FAILED, 5)):
        SyncRun.objects.create(
            organization=organization,
            service=service,
            kind=SyncKind.FULL,
            trigger=SyncTrigger.GRANT,
            status=status,
            users_synced=users,
            groups_synced=4,
            finished_at=timezone.now(),
        )
    ConnectionIncident.objects.create(organization=organization, reason="Consent revoked")
    record_credential_rejected(error_code="AADSTS7000215", description="Invalid client secret provided.")
    for http_status in (200, 200, 429, 503, 418):
        count_graph_request(http_status)
    client.get("/healthz")

    body = scrape(client)

    assert 'casportal_http_requests_total{method="GET",status="200"}' in body
    assert "casportal_http_request_duration_seconds_bucket" in body
    assert 'casportal_sync_runs{status="succeeded"} 2.0' in body
    assert 'casportal_sync_runs{status="failed"} 1.0' in body
    assert 'casportal_sync_objects_synced{kind="users"} 150.0' in body
    assert 'casportal_sync_objects_synced{kind="groups"} 8.0' in body
    assert 'casportal_graph_requests_total{status="200"} 2.0' in body
    assert 'casportal_graph_requests_total{status="429"} 1.0' in body
    assert 'casportal_graph_requests_total{status="4xx"} 1.0' in body
    assert 'casportal_services{status="access-token-invalid"} 1.0' in body
    assert "casportal_connection_incidents_open 1.0" in body
    assert "casportal_app_credential_rejected 1.0" in body


@pytest.mark.django_db
@pytest.mark.usefixtures("metrics_token")
def test_queue_lengths_are_read_from_the_redis_broker(client, settings):
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/14"
    broker = redis.Redis.from_url(url)
    try:
        broker.ping()
    except redis.ConnectionError:
        pytest.skip("needs Redis on 127.0.0.1:6379")
    settings.CELERY_BROKER_URL = url
    broker.delete("sync")
    broker.rpush("sync", "a", "b", "c")
    try:
        body = scrape(client)
    finally:
        broker.delete("sync")
    assert 'casportal_celery_queue_length{queue="sync"} 3.0' in body
    assert 'casportal_celery_queue_length{queue="default"} 0.0' in body


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN])
@pytest.mark.usefixtures("metrics_token")
def test_metrics_are_refused_without_the_token(client, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = client.get("/metrics", **headers)
    assert response.status_code == 403
    assert b"casportal_" not in response.content


@pytest.mark.django_db
def test_metrics_are_served_to_an_allowed_network_only(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.10").status_code == 403


@pytest.mark.django_db
def test_metrics_are_off_until_access_is_configured(client, settings):
    settings.METRICS_TOKEN = None
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404
