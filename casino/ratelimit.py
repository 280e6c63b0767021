"""Sliding-window counters: login lockout, fraud features (attempts per player, IP,
device; distinct payment instruments per player). The only implementation in the project.

Redis backend (full mode): one sorted set per key (named in the deployment's
namespace, ``casino.redis_keys``), scored by event time, so the window slides
exactly and time comes from ``timezone.now()`` (tests move it with
time-machine). Memory backend (embedded mode, one process): same semantics in
a dict. :func:`windows_count` and :func:`windows_record` read or record several
windows (of both kinds) in one round trip.

Login lockout needs a check that cannot be raced: :meth:`SlidingWindowLimit.reserve`
adds the attempt and counts it in one atomic step (one script in Redis), so of
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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone

from casino.redis_keys import redis_key

# A Redis that does not answer must not hold a request (or a login) for long.
REDIS_TIMEOUT_SECONDS = 2.0


class SlidingWindowUnavailable(RuntimeError):
    """The counters' store did not answer (Redis down or unreachable)."""


class SlidingWindowBackend(Protocol):
    def add(self, key: str, now: float, window: float, member: str | None = None) -> int: ...
    def remove(self, key: str, member: str) -> None: ...
    def scores(self, key: str, now: float, window: float) -> list[float]: ...
    def reset(self, key: str) -> None: ...


def _redis_client(url: str) -> Any:
    import redis

    # Any: redis-py annotates its sync and async clients with one union of return types.
    client: Any = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )
    return client


# Record one event in each of KEYS: drop what left its window, add the member, keep the key
# a minute past its window. One command instead of a MULTI/EXEC of three per key (what redis-py
# spends packing and parsing them was most of a money purchase's Redis cost); atomic as well.
# ARGV: now, then for each key its window's start (computed in Python, as the scores are: no
# float arithmetic in Lua), its ttl and its member.
_RECORD_SCRIPT = """
for i, key in ipairs(KEYS) do
  local at = 3 * i - 1
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[at])
  redis.call('ZADD', key, ARGV[1], ARGV[at + 2])
  redis.call('EXPIRE', key, ARGV[at + 1])
end
return redis.call('ZCARD', KEYS[#KEYS])
"""


def _record(client: Any, script: Any, events: Sequence[tuple[str, str, float]], now: float) -> int:
    """Run :data:`_RECORD_SCRIPT` for ``(key, member, window)`` events: the count in the
    last key's window, the new event included."""
    args: list[Any] = [repr(now)]
    for _key, member, window in events:
        args += [repr(now - window), int(window) + 60, member]
    return int(script(keys=[key for key, _, _ in events], args=args, client=client))


class RedisSlidingWindow:
    def __init__(self, url: str) -> None:
        self.client: Any = _redis_client(url)
        self._record = self.client.register_script(_RECORD_SCRIPT)

    def add(self, key: str, now: float, window: float, member: str | None = None) -> int:
        """Record an event (``member`` names it, for :meth:`remove`) and return
        the count in the window including it, atomically (one script)."""
        return _record(self.client, self._record, [(redis_key(key), member or uuid.uuid4().hex, window)], now)

    def remove(self, key: str, member: str) -> None:
        self.client.zrem(redis_key(key), member)

    def scores(self, key: str, now: float, window: float) -> list[float]:
        pairs = self.client.zrangebyscore(redis_key(key), now - window, "+inf", withscores=True)
        return [score for _member, score in pairs]

    def reset(self, key: str) -> None:
        self.client.delete(redis_key(key))


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

    def remove(self, key: str, member: str) -> None:
        with self._lock:
            self._events[key] = [(t, m) for t, m in self._events.get(key, []) if m != member]

    def scores(self, key: str, now: float, window: float) -> list[float]:
        with self._lock:
            return sorted(t for t, _ in self._events.get(key, []) if t > now - window)

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
        return _record(self.client, self._record, [(redis_key(key), member, window)], now)

    def count_with(self, key: str, member: str, now: float, window: float) -> int:
        """Distinct members in the window, counting ``member`` once even if unseen."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zcount(redis_key(key), f"({now - window}", "+inf")
        pipe.zscore(redis_key(key), member)
        count, member_seen_at = pipe.execute()
        already_counted = member_seen_at is not None and float(member_seen_at) > now - window
        return int(count) + (0 if already_counted else 1)

    def count(self, key: str, now: float, window: float) -> int:
        return int(self.client.zcount(redis_key(key), f"({now - window}", "+inf"))


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


# --- Several windows in one round trip (fraud features: per player, IP, device, instrument) ---


@dataclass(frozen=True)
class WindowCount:
    """A count to read: the events in ``key``'s last ``window`` seconds (as
    :meth:`SlidingWindowBackend.scores` counts them), or with ``distinct`` the
    distinct members (as :class:`DistinctSlidingWindow` counts them: ``member``,
    if given, counted once even if unseen)."""

    key: str
    window: float
    distinct: bool = False
    member: str | None = None


@dataclass(frozen=True)
class WindowEvent:
    """An event to record under ``key``: a new one, or with ``member`` a distinct
    member seen now (:meth:`DistinctSlidingWindow.add`)."""

    key: str
    window: float
    member: str | None = None


def windows_count(counts: Sequence[WindowCount], now: float) -> list[int]:
    """Each count, read together: one round trip to Redis (a pipeline of
    ``ZCOUNT``/``ZSCORE``). Raises redis-py's errors, as the backends do."""
    sliding = sliding_window_backend()
    if not isinstance(sliding, RedisSlidingWindow):
        distinct = distinct_window_backend()
        return [
            (distinct.count_with(c.key, c.member, now, c.window) if c.member else distinct.count(c.key, now, c.window))
            if c.distinct
            else len(sliding.scores(c.key, now, c.window))
            for c in counts
        ]
    pipe = sliding.client.pipeline(transaction=False)
    for c in counts:
        key = redis_key(c.key)
        if c.distinct:
            pipe.zcount(key, f"({now - c.window}", "+inf")
            if c.member:
                pipe.zscore(key, c.member)
        else:
            pipe.zcount(key, now - c.window, "+inf")
    answers = iter(pipe.execute())
    found = []
    for c in counts:
        count = int(next(answers))
        if c.distinct and c.member:
            seen_at = next(answers)
            count += 0 if seen_at is not None and float(seen_at) > now - c.window else 1
        found.append(count)
    return found


def windows_record(events: Sequence[WindowEvent], now: float) -> None:
    """Record every event, atomically, in one command (Redis: one script)."""
    if not events:
        return
    sliding = sliding_window_backend()
    if isinstance(sliding, RedisSlidingWindow):
        recorded = [(redis_key(e.key), e.member or uuid.uuid4().hex, e.window) for e in events]
        _record(sliding.client, sliding._record, recorded, now)
        return
    for event in events:
        if event.member:
            distinct_window_backend().add(event.key, event.member, now, event.window)
        else:
            sliding.add(event.key, now, event.window)


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
