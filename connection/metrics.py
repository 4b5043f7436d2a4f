"""/metrics figures of the connection to Microsoft: service statuses, open incidents, the portal's own credential
and Graph's answers. Read at each scrape; registered by ConnectionConfig.ready()."""

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from connection.models import AppCredentialHealth, ConnectionIncident, CredentialStatus
from connection.secret_expiry import secret_expiry_date
from microsoft.request_counts import graph_request_counts
from organizations.models import ProtectedService

logger = logging.getLogger(__name__)


class ConnectionCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        try:
            yield from self._collect()
        except DatabaseError:
            logger.warning("Metrics: the database is unreachable.", exc_info=True)

    def _collect(self) -> Iterable[Metric]:
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
        try:
            expires_on = secret_expiry_date()
        except ValueError:  # the staff banner reports it
            expires_on = None
        if expires_on is not None:
            yield GaugeMetricFamily(
                "casportal_app_credential_expiry_timestamp_seconds",
                "When the client secret expires (MICROSOFT_CLIENT_SECRET_EXPIRES_ON).",
                value=datetime.combine(expires_on, datetime.min.time(), tzinfo=UTC).timestamp(),
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
