"""Prometheus metrics at /metrics, behind METRICS_TOKEN or METRICS_ALLOWED_NETWORKS.

Request figures are counted in this process (or, under gunicorn with PROMETHEUS_MULTIPROC_DIR, in files
shared by its workers). Everything that Celery workers produce is read at scrape time instead: sync runs,
services and incidents from the database, Graph answers from the shared cache counters, queue lengths
from Redis. Those reads are a handful of aggregate queries per scrape.
"""

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime

import redis
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from casportal.health import TIMEOUT_SECONDS
from connection.models import AppCredentialHealth, ConnectionIncident, CredentialStatus
from directory.models import SyncRun, SyncStatus
from microsoft.request_counts import graph_request_counts
from organizations.models import ProtectedService

logger = logging.getLogger(__name__)

QUEUES = ("default", "sync", "health")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# Prometheus' multiprocess mode: values live in files that every gunicorn worker writes and any of them reads.
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
registry = CollectorRegistry()
if MULTIPROCESS:
    MultiProcessCollector(registry)

HTTP_REQUESTS = Counter(
    "casportal_http_requests",
    "HTTP requests answered, by method and status.",
    ["method", "status"],
    registry=None if MULTIPROCESS else registry,
)
HTTP_REQUEST_SECONDS = Histogram(
    "casportal_http_request_duration_seconds",
    "Time to answer HTTP requests, by method.",
    ["method"],
    registry=None if MULTIPROCESS else registry,
)


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in _METHODS else "other"  # bounded label values
        HTTP_REQUEST_SECONDS.labels(method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(method, str(response.status_code)).inc()
        return response


class DatabaseCollector(Collector):
    """Sync runs, objects synced, service statuses, open incidents and the application credential."""

    def collect(self) -> Iterable[Metric]:
        try:
            yield from self._collect()
        except DatabaseError:
            logger.warning("Metrics: the database is unreachable.", exc_info=True)

    def _collect(self) -> Iterable[Metric]:
        runs = GaugeMetricFamily("casportal_sync_runs", "Sync runs kept in the database, by status.", labels=["status"])
        by_status = dict(SyncRun.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status in SyncStatus.values:
            runs.add_metric([status], by_status.get(status, 0))
        yield runs

        synced = SyncRun.objects.filter(status=SyncStatus.SUCCEEDED).aggregate(
            users=Sum("users_synced"), groups=Sum("groups_synced"), memberships=Sum("memberships_synced")
        )
        objects = GaugeMetricFamily(
            "casportal_sync_objects_synced", "Directory objects synced by the succeeded runs kept.", labels=["kind"]
        )
        for kind, total in synced.items():
            objects.add_metric([kind], total or 0)
        yield objects

        services = GaugeMetricFamily("casportal_services", "Protected services, by status.", labels=["status"])
        for status, n in ProtectedService.objects.order_by().values_list("status").annotate(n=Count("id")):
            services.add_metric([status], n)
        yield services

        yield GaugeMetricFamily(
            "casportal_connection_incidents_open",
            "Organizations whose consent is broken now.",
            value=ConnectionIncident.objects.filter(closed_at__isnull=True).count(),
        )

        rejected = AppCredentialHealth.objects.filter(
            client_id=settings.MICROSOFT_CLIENT_ID, status=CredentialStatus.REJECTED
        ).exists()
        yield GaugeMetricFamily(
            "casportal_app_credential_rejected",
            "1 when Microsoft rejects the portal's own client secret.",
            value=int(rejected),
        )
        expires = _secret_expiry()
        if expires is not None:
            yield GaugeMetricFamily(
                "casportal_app_credential_expiry_timestamp_seconds",
                "When the client secret expires (MICROSOFT_CLIENT_SECRET_EXPIRES_ON).",
                value=expires.timestamp(),
            )


class GraphCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "casportal_graph_requests", "Microsoft Graph answers, by status (429: throttled).", labels=["status"]
        )
        try:
            counts = graph_request_counts()
        except Exception:  # a cache outage must not hide the other metrics
            logger.warning("Metrics: the cache is unreachable.", exc_info=True)
            return
        for status, n in counts.items():
            family.add_metric([status], n)
        yield family


class QueueCollector(Collector):
    """Messages waiting in each Celery queue (Redis lists named after the queues)."""

    def collect(self) -> Iterable[Metric]:
        url: str = settings.CELERY_BROKER_URL
        if not url.startswith(("redis://", "rediss://")):
            return
        family = GaugeMetricFamily("casportal_celery_queue_length", "Tasks waiting, by queue.", labels=["queue"])
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
        try:
            with client.pipeline(transaction=False) as pipe:
                for queue in QUEUES:
                    pipe.llen(queue)
                lengths = pipe.execute()
        except RedisError:
            logger.warning("Metrics: the broker is unreachable.", exc_info=True)
            return
        finally:
            client.close()
        for queue, length in zip(QUEUES, lengths, strict=True):
            family.add_metric([queue], length)
        yield family


for _collector in (DatabaseCollector(), GraphCollector(), QueueCollector()):
    registry.register(_collector)


def _secret_expiry() -> datetime | None:
    value = settings.MICROSOFT_CLIENT_SECRET_EXPIRES_ON or ""
    try:
        expires_on = date.fromisoformat(value)
    except ValueError:  # unset, or not a date: the staff banner reports the latter
        return None
    return datetime.combine(expires_on, datetime.min.time(), tzinfo=UTC)


def _allowed(request: HttpRequest) -> bool:
    token: str | None = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS):
        return HttpResponseNotFound("metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS")
    if not _allowed(request):
        return HttpResponseForbidden("forbidden")
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
