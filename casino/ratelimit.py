"""Sliding-window counters: login lockout, fraud features (attempts per player, IP,
device; distinct payment instruments per player). The only implementation in the project.

Redis backend (full mode): one sorted set per key, scored by event time, so
the window slides exactly and time comes from ``timezone.now()`` (tests move it
with time-machine). Memory backend (embedded mode, one process): same
semantics in a dict.

Login lockout needs a check that cannot be raced: :meth:`SlidingWindowLimit.reserve`
adds the attempt and counts it in one atomic step (one MULTI/EXEC in Redis), so of
N parallel attempts against a window one short of full exactly one gets a count
within the limit; :meth:`SlidingWindowLimit.release` takes a reservation back.
When Redis does not answer, ``SlidingWindowLimit`` raises
:class:`SlidingWindowUnavailable` and the caller decides to fail open or closed
(the login lockout fails closed: ``accounts.services.lockout``). The backends
themselves raise redis-py's errors (the fraud features catch what they choose).
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone

# A Redis that does not answer must not hold a request (or a login) for long.
REDIS_TIMEOUT_SECONDS = 2.0


class SlidingWindowUnavailable(RuntimeError):
    """The counters' store did not answer (Redis down or unreachable)."""


class SlidingWindowBackend(Protocol):
    def add(self, key: str, now: float, window: float, member: str | None = None) -> int: ...
    def add_many(self, keys: list[str], now: float, window: float) -> None: ...
    def remove(self, key: str, member: str) -> None: ...
    def scores(self, key: str, now: float, window: float) -> list[float]: ...
    def counts(self, keys: list[str], now: float, window: float) -> list[int]: ...
    def reset(self, key: str) -> None: ...


def _redis_client(url: str) -> Any:
    import redis

    # Any: redis-py annotates its sync and async clients with one union of return types.
    client: Any = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )
    return client


# Record one event in each of KEYS: drop what left the window, add the member, keep the key
# a minute past the window. One command instead of a MULTI/EXEC of three per key (what redis-py
# spends packing and parsing them was most of a money purchase's Redis cost); atomic as well.
# ARGV: now, the window's start (computed in Python, as the scores are: no float arithmetic
# in Lua), ttl, then one member per key.
_RECORD_SCRIPT = """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[2])
  redis.call('ZADD', key, ARGV[1], ARGV[3 + i])
  redis.call('EXPIRE', key, ARGV[3])
end
return redis.call('ZCARD', KEYS[#KEYS])
"""


def _record(client: Any, script: Any, keys: list[str], members: list[str], now: float, window: float) -> int:
    """Run :data:`_RECORD_SCRIPT`: the count in the last key's window, the new event included."""
    return int(script(keys=keys, args=[repr(now), repr(now - window), int(window) + 60, *members], client=client))


class RedisSlidingWindow:
    def __init__(self, url: str) -> None:
        self.client: Any = _redis_client(url)
        self._record = self.client.register_script(_RECORD_SCRIPT)

    def add(self, key: str, now: float, window: float, member: str | None = None) -> int:
        """Record an event (``member`` names it, for :meth:`remove`) and return
        the count in the window including it, atomically (one script)."""
        return _record(self.client, self._record, [key], [member or uuid.uuid4().hex], now, window)

    def add_many(self, keys: list[str], now: float, window: float) -> None:
        """Record one event under each key, atomically, in one command."""
        if keys:
            _record(self.client, self._record, keys, [uuid.uuid4().hex for _ in keys], now, window)

    def remove(self, key: str, member: str) -> None:
        self.client.zrem(key, member)

    def scores(self, key: str, now: float, window: float) -> list[float]:
        pairs = self.client.zrangebyscore(key, now - window, "+inf", withscores=True)
        return [score for _member, score in pairs]

    def counts(self, keys: list[str], now: float, window: float) -> list[int]:
        """The events in the window under each key, in one round trip (as ``len(scores(...))``)."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.zcount(key, now - window, "+inf")
        return [int(count) for count in pipe.execute()]

    def reset(self, key: str) -> None:
        self.client.delete(key)


class MemorySlidingWindow:
    def __init__(self) -> None:
        self._events: dict[str, list[tuple[float, str]]] = defaultdict(list)
        self._lock = threading.Lock()

    def add(self, key: str, now: float, window: float, member: str | None = None) -> int:
        with self._lock:
            events = [(t, m) for t, m in self._events[key] if t > now - window]
            events.append((now, member or uuid.uuid4().hex))
            self._events[key] = events
            return len(events)

    def add_many(self, keys: list[str], now: float, window: float) -> None:
        for key in keys:
            self.add(key, now, window)

    def remove(self, key: str, member: str) -> None:
        with self._lock:
            self._events[key] = [(t, m) for t, m in self._events.get(key, []) if m != member]

    def scores(self, key: str, now: float, window: float) -> list[float]:
        with self._lock:
            return sorted(t for t, _ in self._events.get(key, []) if t > now - window)

    def counts(self, keys: list[str], now: float, window: float) -> list[int]:
        return [len(self.scores(key, now, window)) for key in keys]

    def reset(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)


@lru_cache(maxsize=1)
def sliding_window_backend() -> SlidingWindowBackend:
    if settings.REDIS_URL:
        return RedisSlidingWindow(settings.REDIS_URL)
    return MemorySlidingWindow()


# --- Distinct members per window (fraud: distinct payment instruments per player) ---


class DistinctSlidingWindow(Protocol):
    """Distinct members seen per key within a sliding window (a member seen
    again moves to the newer time)."""

    def add(self, key: str, member: str, now: float, window: float) -> int: ...
    def count_with(self, key: str, member: str, now: float, window: float) -> int: ...
    def count(self, key: str, now: float, window: float) -> int: ...


class RedisDistinctSlidingWindow:
    """One sorted set per key: member = the value, score = when last seen."""

    def __init__(self, url: str) -> None:
        self.client: Any = _redis_client(url)
        self._record = self.client.register_script(_RECORD_SCRIPT)

    def add(self, key: str, member: str, now: float, window: float) -> int:
        """Record ``member`` as seen now; the distinct members in the window, it included."""
        return _record(self.client, self._record, [key], [member], now, window)

    def count_with(self, key: str, member: str, now: float, window: float) -> int:
        """Distinct members in the window, counting ``member`` once even if unseen."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(key, f"({now - window}", "+inf")
        pipe.zscore(key, member)
        count, member_seen_at = pipe.execute()
        already_counted = member_seen_at is not None and float(member_seen_at) > now - window
        return int(count) + (0 if already_counted else 1)

    def count(self, key: str, now: float, window: float) -> int:
        return int(self.client.zcount(key, f"({now - window}", "+inf"))


class MemoryDistinctSlidingWindow:
    """Embedded mode (one process): the same semantics in a dict."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, float]] = defaultdict(dict)
        self._lock = threading.Lock()

    def add(self, key: str, member: str, now: float, window: float) -> int:
        with self._lock:
            seen = {m: t for m, t in self._seen[key].items() if t > now - window}
            seen[member] = now
            self._seen[key] = seen
            return len(seen)

    def count_with(self, key: str, member: str, now: float, window: float) -> int:
        with self._lock:
            members = {m for m, t in self._seen.get(key, {}).items() if t > now - window}
            return len(members | {member})

    def count(self, key: str, now: float, window: float) -> int:
        with self._lock:
            return sum(1 for t in self._seen.get(key, {}).values() if t > now - window)


@lru_cache(maxsize=1)
def distinct_window_backend() -> DistinctSlidingWindow:
    if settings.REDIS_URL:
        return RedisDistinctSlidingWindow(settings.REDIS_URL)
    return MemoryDistinctSlidingWindow()


class SlidingWindowLimit:
    """At most ``limit`` events per ``window`` for one key.

    Every method raises :class:`SlidingWindowUnavailable` when the store does
    not answer.
    """

    def __init__(self, key: str, *, limit: int, window: timedelta) -> None:
        self.key = f"ratelimit:{key}"
        self.limit = limit
        self.window = window.total_seconds()

    @staticmethod
    def _now() -> float:
        return timezone.now().timestamp()

    def hit(self) -> int:
        with _unavailable_on_redis_error():
            return sliding_window_backend().add(self.key, self._now(), self.window)

    def reserve(self) -> tuple[str, int]:
        """Count one more event now, atomically: ``(reservation, count)``, the
        count including this event. Over the limit when ``count > limit``; the
        caller then usually releases it (:meth:`release`)."""
        member = uuid.uuid4().hex
        with _unavailable_on_redis_error():
            count = sliding_window_backend().add(self.key, self._now(), self.window, member)
        return member, count

    def release(self, reservation: str) -> None:
        """Take back an event :meth:`reserve` counted."""
        with _unavailable_on_redis_error():
            sliding_window_backend().remove(self.key, reservation)

    def count(self) -> int:
        with _unavailable_on_redis_error():
            return len(sliding_window_backend().scores(self.key, self._now(), self.window))

    def retry_after_seconds(self) -> float:
        """0 when under the limit; else how long until the count drops below it."""
        now = self._now()
        with _unavailable_on_redis_error():
            scores = sliding_window_backend().scores(self.key, now, self.window)
        if len(scores) < self.limit:
            return 0.0
        # The entry whose expiry brings the count back to limit - 1.
        pivot = scores[len(scores) - self.limit]
        return max(0.0, pivot + self.window - now)

    def reset(self) -> None:
        with _unavailable_on_redis_error():
            sliding_window_backend().reset(self.key)


@contextmanager
def _unavailable_on_redis_error() -> Iterator[None]:
    from redis.exceptions import RedisError

    try:
        yield
    except RedisError as exc:
        raise SlidingWindowUnavailable(f"the rate-limit store did not answer: {exc}") from exc
