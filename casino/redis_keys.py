"""Names of the keys the project writes to Redis itself, outside Django's cache
(sliding windows, the users' auth generations, leaderboards): under the same
namespace as the cache's keys, ``CACHE_KEY_PREFIX``, so two deployments or two
test runs sharing a Redis database never count into each other's windows or
read each other's boards. (The channel layer has its own, ``CHANNEL_PREFIX``.)"""

from __future__ import annotations

from django.conf import settings


def redis_key(name: str) -> str:
    """``name`` in this deployment's namespace: ``<CACHE_KEY_PREFIX>:<name>``."""
    prefix = settings.CACHES["default"].get("KEY_PREFIX") or ""
    return f"{prefix}:{name}" if prefix else name
