"""Counters that workers produce and the web process exposes at /metrics, kept in Django's cache (Redis).

Prometheus scrapes the web tier, but Graph calls happen in Celery workers: a process-local counter there
would never be seen, so each call increments a shared cache key instead.
"""

import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)

# Graph's documented answers get a series each; anything else is folded into its class (e.g. "4xx").
GRAPH_STATUSES = ("200", "204", "400", "401", "403", "404", "409", "410", "412", "429", "500", "502", "503", "504")
GRAPH_STATUS_LABELS = (*GRAPH_STATUSES, "2xx", "3xx", "4xx", "5xx")
_KEY = "metrics:graph_requests:{}"


def graph_status_label(status: int) -> str:
    label = str(status)
    return label if label in GRAPH_STATUSES else f"{label[0]}xx"


def count_graph_request(status: int) -> None:
    """One Graph answer; a cache outage must never fail the sync, so it is logged and dropped."""
    key = _KEY.format(graph_status_label(status))
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # any cache backend's connection error
        logger.warning("Could not count a Graph request in the cache.", exc_info=True)


def graph_request_counts() -> dict[str, int]:
    values = cache.get_many([_KEY.format(label) for label in GRAPH_STATUS_LABELS])
    return {label: int(values.get(_KEY.format(label), 0)) for label in GRAPH_STATUS_LABELS}
