"""Prometheus metrics at /metrics, behind METRICS_TOKEN or METRICS_ALLOWED_NETWORKS.

Request figures are counted in this process (or, under gunicorn with PROMETHEUS_MULTIPROC_DIR, in files
shared by its workers). Everything that Celery workers produce is read at scrape time instead: by the collectors
apps register in casportal.collectors (sync runs, services and incidents from the database, Graph answers from
the shared cache counters), and by this module's own for the queue lengths in Redis. Those reads are a handful
of aggregate queries per scrape.
"""

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from casportal import queues
from casportal.broker import broker_is_redis, broker_redis
from casportal.clientip import client_address
from casportal.collectors import RegisteredCollectors

logger = logging.getLogger(__name__)

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


class QueueCollector(Collector):
    """Messages waiting in each Celery queue (Redis lists named after the queues)."""

    def collect(self) -> Iterable[Metric]:
        if not broker_is_redis():
            return
        family = GaugeMetricFamily("casportal_celery_queue_length", "Tasks waiting, by queue.", labels=["queue"])
        try:
            with broker_redis() as client, client.pipeline(transaction=False) as pipe:
                for queue in queues.ALL:
                    pipe.llen(queue)
                lengths = pipe.execute()
        except RedisError:
            logger.warning("Metrics: the broker is unreachable.", exc_info=True)
            return
        for queue, length in zip(queues.ALL, lengths, strict=True):
            family.add_metric([queue], length)
        yield family


registry.register(QueueCollector())
registry.register(RegisteredCollectors())


def _allowed(request: HttpRequest) -> bool:
    token: str | None = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), token.encode()):
            return True
    # The client, not a proxy in front: else everyone reaching the portal through the proxy would be let in.
    try:
        address = ipaddress.ip_address(client_address(request) or "")
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
