"""The one sliding-window implementation (login lockout, fraud features), on
both backends: Redis (full mode) and memory (embedded mode) must agree."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from casino import ratelimit

WINDOW = 600.0


@pytest.fixture(params=["memory", "redis"])
def windows(request: Any) -> Any:
    if request.param == "redis":
        return ratelimit.RedisSlidingWindow(django_settings.REDIS_URL)
    return ratelimit.MemorySlidingWindow()


@pytest.fixture(params=["memory", "redis"])
def distinct(request: Any) -> Any:
    if request.param == "redis":
        return ratelimit.RedisDistinctSlidingWindow(django_settings.REDIS_URL)
    return ratelimit.MemoryDistinctSlidingWindow()


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_events_count_within_the_window_and_slide_out_of_it(windows: Any, key: str) -> None:
    assert [windows.add(key, now, WINDOW) for now in (1000.0, 1100.0, 1200.0)] == [1, 2, 3]

    # 601 s after the first event it has left the window; the other two remain
    assert windows.scores(key, 1601.0, WINDOW) == [1100.0, 1200.0]
    assert windows.add(key, 1601.0, WINDOW) == 3

    windows.reset(key)
    assert windows.scores(key, 1601.0, WINDOW) == []


def test_a_member_seen_again_counts_once_and_moves_to_its_newer_time(distinct: Any, key: str) -> None:
    assert distinct.add(key, "card-a", 1000.0, WINDOW) == 1
    assert distinct.add(key, "card-b", 1100.0, WINDOW) == 2
    assert distinct.add(key, "card-a", 1500.0, WINDOW) == 2  # seen again: still two distinct cards

    # At 1750 s card-b (last seen at 1100) has slid out; card-a (1500) has not
    assert distinct.count(key, 1750.0, WINDOW) == 1
    # Asking "how many with card-c?" counts the new card without recording it
    assert distinct.count_with(key, "card-c", 1750.0, WINDOW) == 2
    assert distinct.count_with(key, "card-a", 1750.0, WINDOW) == 1
    assert distinct.count(key, 1750.0, WINDOW) == 1


def test_a_full_limit_says_how_long_until_it_frees_up(key: str) -> None:
    limit = ratelimit.SlidingWindowLimit(key, limit=3, window=timedelta(minutes=10))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(2):
            limit.hit()
            traveller.shift(timedelta(minutes=1))
        assert limit.retry_after_seconds() == 0.0  # two of three

        limit.hit()  # the third, two minutes after the first

        assert limit.count() == 3
        assert limit.retry_after_seconds() == pytest.approx(8 * 60)  # when the first one leaves
        traveller.shift(timedelta(minutes=8, seconds=1))
        assert limit.retry_after_seconds() == 0.0
        assert limit.count() == 2


def test_the_backend_follows_the_configuration(settings: Any) -> None:
    def fresh_backends() -> Iterator[Any]:
        ratelimit.sliding_window_backend.cache_clear()
        ratelimit.distinct_window_backend.cache_clear()
        yield ratelimit.sliding_window_backend()
        yield ratelimit.distinct_window_backend()

    try:
        assert [type(b) for b in fresh_backends()] == [
            ratelimit.RedisSlidingWindow,
            ratelimit.RedisDistinctSlidingWindow,
        ]
        settings.REDIS_URL = ""
        assert [type(b) for b in fresh_backends()] == [
            ratelimit.MemorySlidingWindow,
            ratelimit.MemoryDistinctSlidingWindow,
        ]
    finally:
        ratelimit.sliding_window_backend.cache_clear()
        ratelimit.distinct_window_backend.cache_clear()
