"""The per-player dashboard cache: a version number per player; the cached
page lives under (player, version)."""

from __future__ import annotations

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


def dashboard_version_key(user_id: int) -> str:
    return f"dashboard-version:{user_id}"


def dashboard_invalidate(user_id: int) -> None:
    """Bump the player's dashboard version: cached copies under older
    versions are never read again (even one computed from data older than
    the change that bumped it). On Redis one INCR (Django's Redis cache
    stores integers as plain Redis integers); elsewhere add + incr."""
    key = dashboard_version_key(user_id)
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        backend._cache.get_client(full_key, write=True).incr(full_key)
        return
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
