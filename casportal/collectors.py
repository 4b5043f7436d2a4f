"""The figures apps add to /metrics: collectors they register from AppConfig.ready(), read at each scrape.

Apart from casportal.metrics, which only the web tier loads (and which needs PROMETHEUS_MULTIPROC_DIR to exist
when it is set): workers and management commands run every ready() too.
"""

from collections.abc import Iterable

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

_registered: dict[type, Collector] = {}


def register_collector(collector: Collector) -> None:
    """Add an app's figures to /metrics. Registering another collector of the same class replaces the first, so an
    app's ready() may run twice."""
    _registered[type(collector)] = collector


class RegisteredCollectors(Collector):
    """Every registered collector, as one in casportal.metrics' registry."""

    def collect(self) -> Iterable[Metric]:
        for collector in list(_registered.values()):
            yield from collector.collect()
