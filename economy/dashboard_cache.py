"""The per-player dashboard cache: a version number per player; the cached
page lives under (player, version)."""

from __future__ import annotations

from django.core.cache import cache


def dashboard_version_key(user_id: int) -> str:
    return f"dashboard-version:{user_id}"


def dashboard_invalidate(user_id: int) -> None:
    """Bump the player's dashboard version: cached copies under older
    versions are never read again (even one computed from data older than
    the change that bumped it)."""
    key = dashboard_version_key(user_id)
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
