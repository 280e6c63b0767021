"""Player activity for "online now": every authenticated request (and each
WebSocket connection) marks the player as seen. The database row is written
at most once a minute per player; a cache key gates the writes, and each
process remembers whom it marked in the last minute, so most requests touch
neither Redis nor PostgreSQL.

The write changes nothing access-token authentication keeps: ``last_seen_at``
is activity bookkeeping (``accounts.models.ACTIVITY_FIELDS``), so it moves no
user generation and the next request still finds the player's row kept in the
process (``accounts.auth_cache``). An authenticated request in the steady state
costs no query at all: authentication reads Redis, the mark reads this
process's memo.

The first mark of a player's UTC day also writes their ``PlayerDay`` row (daily,
weekly and monthly actives and the staff dashboard's daily chart): a write of
``last_seen_at`` that finds it before today's midnight is the day's first.

Redis down: the mark fails open. The request goes on, the failure is counted
and logged (``casino.degraded``), and the row is written without asking the
cache: the process memo still limits that to once a minute per player and
process."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.core.cache import cache
from django.utils import timezone

from accounts.models import PlayerDay, User
from casino.degraded import dependency_failed

SEEN_WRITE_INTERVAL_SECONDS = 60


_marked_until: dict[int, float] = {}  # this process: player -> when to ask the cache again
_MARKED_MAX = 50_000
_clock = time.monotonic


def record_activity(user_id: int) -> bool:
    """Mark the player as active now; returns whether the row was written.

    Autocommitted statements, no transaction: it runs inside authentication,
    before any service opens its own (durable) one. Usually one UPDATE; the
    day's first mark takes three: the UPDATE that finds the player not seen yet
    today, the plain one, and the ``PlayerDay`` INSERT (a concurrent first mark
    in another process inserts nothing: the row's unique key)."""
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
    seen_at = timezone.now()
    midnight = datetime.combine(seen_at.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    if User.objects.filter(pk=user_id, last_seen_at__gte=midnight).update(last_seen_at=seen_at):
        return True
    # Not seen yet today (or no such player: nothing is written).
    if User.objects.filter(pk=user_id).update(last_seen_at=seen_at):
        PlayerDay.objects.bulk_create([PlayerDay(user_id=user_id, day=midnight.date())], ignore_conflicts=True)
    return True


def forget_marks() -> None:
    """Drop this process's memo (tests, after clearing the cache)."""
    _marked_until.clear()
