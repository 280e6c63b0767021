"""Sliding-window counters: login lockout, fraud features (attempts per player, IP,
device; distinct payment instruments per player). The only implementation in the project.

Redis backend (full mode): one sorted set per key, scored by event time, so
the window slides exactly and time comes from ``timezone.now()`` (tests move it
with time-machine). Memory backend (embedded mode, one process): same
semantics in a dict.
"""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from datetime import timedelta
from functools import lru_cache
from typing import Any, Protocol

from django.conf import settings
from django.utils import timezone


class SlidingWindowBackend(Protocol):
    def add(self, key: str, now: float, window: float) -> int: ...
    def scores(self, key: str, now: float, window: float) -> list[float]: ...
    def reset(self, key: str) -> None: ...


class RedisSlidingWindow:
    def __init__(self, url: str) -> None:
        import redis

        # Any: redis-py annotates its sync and async clients with one union of return types.
        self.client: Any = redis.Redis.from_url(url)

    def add(self, key: str, now: float, window: float) -> int:
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.zadd(key, {uuid.uuid4().hex: now})
        pipe.zcard(key)
        pipe.expire(key, int(window) + 60)
        return int(pipe.execute()[2])

    def scores(self, key: str, now: float, window: float) -> list[float]:
        pairs = self.client.zrangebyscore(key, now - window, "+inf", withscores=True)
        return [score for _member, score in pairs]

    def reset(self, key: str) -> None:
        self.client.delete(key)


class MemorySlidingWindow:
    def __init__(self) -> None:
        self._events: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def add(self, key: str, now: float, window: float) -> int:
        with self._lock:
            events = [t for t in self._events[key] if t > now - window]
            events.append(now)
            self._events[key] = events
            return len(events)

    def scores(self, key: str, now: float, window: float) -> list[float]:
        with self._lock:
            return sorted(t for t in self._events.get(key, []) if t > now - window)

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
        import redis

        # Any: redis-py annotates its sync and async clients with one union of return types.
        self.client: Any = redis.Redis.from_url(url)

    def add(self, key: str, member: str, now: float, window: float) -> int:
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.expire(key, int(window) + 60)
        return int(pipe.execute()[2])

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
    """At most ``limit`` events per ``window`` for one key."""

    def __init__(self, key: str, *, limit: int, window: timedelta) -> None:
        self.key = f"ratelimit:{key}"
        self.limit = limit
        self.window = window.total_seconds()

    @staticmethod
    def _now() -> float:
        return timezone.now().timestamp()

    def hit(self) -> int:
        return sliding_window_backend().add(self.key, self._now(), self.window)

    def count(self) -> int:
        return len(sliding_window_backend().scores(self.key, self._now(), self.window))

    def retry_after_seconds(self) -> float:
        """0 when under the limit; else how long until the count drops below it."""
        now = self._now()
        scores = sliding_window_backend().scores(self.key, now, self.window)
        if len(scores) < self.limit:
            return 0.0
        # The entry whose expiry brings the count back to limit - 1.
        pivot = scores[len(scores) - self.limit]
        return max(0.0, pivot + self.window - now)

    def reset(self) -> None:
        sliding_window_backend().reset(self.key)
