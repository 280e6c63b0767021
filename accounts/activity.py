"""Player activity for "online now": every authenticated request (and each
WebSocket connection) marks the player as seen. The database row is written
at most once a minute per player; a cache key gates the writes, and each
process remembers whom it marked in the last minute, so most requests touch
neither Redis nor PostgreSQL.

Redis down: the mark fails open. The request goes on, the failure is counted
and logged (``realtime.degraded``), and the row is written without asking the
cache: the process memo still limits that to once a minute per player and
process."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from realtime.degraded import dependency_failed

SEEN_WRITE_INTERVAL_SECONDS = 60


_marked_until: dict[int, float] = {}  # this process: player -> when to ask the cache again
_MARKED_MAX = 50_000
_clock = time.monotonic


def record_activity(user_id: int) -> bool:
    """Mark the player as active now; returns whether the row was written.

    One autocommitted UPDATE, no transaction: it runs inside authentication,
    before any service opens its own (durable) one."""
    now = _clock()
    if _marked_until.get(user_id, 0.0) > now:
        return False
    if len(_marked_until) >= _MARKED_MAX:
        _marked_until.clear()
    _marked_until[user_id] = now + SEEN_WRITE_INTERVAL_SECONDS
    try:
        first = cache.add(f"seen:{user_id}", 1, timeout=SEEN_WRITE_INTERVAL_SECONDS)
    except Exception as error:  # noqa: BLE001 - Redis down: fail open (docs/architecture.md)
        dependency_failed(dependency="redis", use="activity", error=error)
        first = True
    if not first:
        return False
    User.objects.filter(pk=user_id).update(last_seen_at=timezone.now())
    return True


def forget_marks() -> None:
    """Drop this process's memo (tests, after clearing the cache)."""
    _marked_until.clear()
