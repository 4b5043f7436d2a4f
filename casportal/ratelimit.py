"""A fixed-window counter in the shared cache: cheap limits for things worth limiting but not auditing."""

from django.core.cache import cache


def allow(key: str, *, limit: int, window_seconds: int = 60) -> bool:
    """Count one hit against `key`; False once `limit` hits were counted in the current window."""
    cache_key = f"ratelimit:{key}"
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the window ended between add and incr
        cache.set(cache_key, 1, timeout=window_seconds)
        count = 1
    return count <= limit
