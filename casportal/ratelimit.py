"""A fixed-window counter in the shared cache: cheap limits for things worth limiting but not auditing."""

from django.core.cache import cache


def _cache_key(key: str) -> str:
    return f"ratelimit:{key}"


def hit(key: str, *, window_seconds: int) -> int:
    """Count one hit against `key`; the hits counted in its current window, this one included."""
    cache_key = _cache_key(key)
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        return cache.incr(cache_key)
    except ValueError:  # the window ended between add and incr
        cache.set(cache_key, 1, timeout=window_seconds)
        return 1


def hits(key: str) -> int:
    """The hits counted against `key` in its current window."""
    return cache.get(_cache_key(key), 0)


def allow(key: str, *, limit: int, window_seconds: int = 60) -> bool:
    """Count one hit against `key`; False once `limit` hits were counted in the current window."""
    return hit(key, window_seconds=window_seconds) <= limit
