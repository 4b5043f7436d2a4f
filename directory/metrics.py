"""/metrics figures of directory synchronization, read from the sync runs kept at each scrape."""

import logging
from collections.abc import Iterable

from django.db import DatabaseError
from django.db.models import Count, Sum
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from directory.models import SyncRun, SyncStatus

logger = logging.getLogger(__name__)


class SyncCollector(Collector):
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
