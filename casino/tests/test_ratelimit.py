"""The one sliding-window implementation (login lockout, fraud features), on
both backends: Redis (full mode) and memory (embedded mode) must agree."""

from __future__ import annotations

import threading
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


@pytest.fixture(params=["memory", "redis"])
def store(request: Any, settings: Any) -> Iterator[str]:
    """The configured store (what windows_count and windows_record use): Redis, or memory."""
    if request.param == "memory":
        settings.REDIS_URL = ""
    ratelimit.sliding_window_backend.cache_clear()
    ratelimit.distinct_window_backend.cache_clear()
    yield request.param
    ratelimit.sliding_window_backend.cache_clear()
    ratelimit.distinct_window_backend.cache_clear()


def test_windows_read_and_recorded_together_agree_with_the_backends_one_by_one(store: str) -> None:
    # Given events under three keys, and distinct members under a fourth
    sliding, distinct = ratelimit.sliding_window_backend(), ratelimit.distinct_window_backend()
    keys = [f"test:{uuid.uuid4().hex}" for _ in range(3)]
    cards = f"test:{uuid.uuid4().hex}"
    sliding.add(keys[0], 1000.0, WINDOW)
    sliding.add(keys[0], 1500.0, WINDOW)
    sliding.add(keys[2], 1500.0, WINDOW)
    distinct.add(cards, "card-a", 1000.0, 3 * WINDOW)
    distinct.add(cards, "card-b", 1500.0, 3 * WINDOW)
    reads = [
        *(ratelimit.WindowCount(key, WINDOW) for key in keys),
        ratelimit.WindowCount(cards, 3 * WINDOW, distinct=True, member="card-c"),
        ratelimit.WindowCount(cards, 3 * WINDOW, distinct=True, member="card-a"),
        ratelimit.WindowCount(cards, 3 * WINDOW, distinct=True),
    ]

    # When they are read together (the event at 1000 has left the 600 s windows), then recorded together
    before = ratelimit.windows_count(reads, 1700.0)
    ratelimit.windows_record(
        [*(ratelimit.WindowEvent(key, WINDOW) for key in keys), ratelimit.WindowEvent(cards, 3 * WINDOW, "card-c")],
        1700.0,
    )
    after = ratelimit.windows_count(reads, 1700.0)

    # Then each count is what the backends say one by one, before and after
    assert before == [1, 0, 1, 3, 2, 2]
    assert after == [2, 1, 2, 3, 3, 3]
    assert after[:3] == [len(sliding.scores(key, 1700.0, WINDOW)) for key in keys]
    assert after[3:] == [
        distinct.count_with(cards, "card-c", 1700.0, 3 * WINDOW),
        distinct.count_with(cards, "card-a", 1700.0, 3 * WINDOW),
        distinct.count(cards, 1700.0, 3 * WINDOW),
    ]
    # and each key kept its own window: at 2801 the 600 s events are gone; of the cards
    # (1,800 s) card-a (1000) has left, card-b (1500) and card-c (1700) have not
    assert ratelimit.windows_count(reads, 2801.0) == [0, 0, 0, 2, 3, 2]


def test_an_event_a_fraction_of_a_millisecond_inside_the_window_still_counts(windows: Any, key: str) -> None:
    # Real timestamps: the window's start reaches Redis with every digit (rounded to 14
    # digits, 1764705599.99998 would be the first event's own time and drop it).
    first = 1764705600.0
    windows.add(key, first, 3600.0)

    assert windows.add(key, first + 3600.0 - 0.00002, 3600.0) == 2
    assert windows.add(key, first + 3600.0 + 0.00002, 3600.0) == 2  # the first has left; three added in all


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


def test_a_reservation_counts_at_once_and_a_release_takes_it_back(windows: Any, key: str) -> None:
    assert windows.add(key, 1000.0, WINDOW) == 1
    assert windows.add(key, 1001.0, WINDOW, "mine") == 2

    windows.remove(key, "mine")

    assert windows.scores(key, 1002.0, WINDOW) == [1000.0]


def test_forty_parallel_reservations_one_short_of_the_limit_let_exactly_one_through(key: str) -> None:
    # Given a window of 5 holding 4 events (Redis, as in production)
    limit = ratelimit.SlidingWindowLimit(key, limit=5, window=timedelta(minutes=10))
    for _ in range(4):
        limit.hit()
    barrier = threading.Barrier(40)
    counts: list[int] = []
    lock = threading.Lock()

    def reserve() -> None:
        barrier.wait()
        _, count = limit.reserve()
        with lock:
            counts.append(count)

    # When 40 threads reserve at the same moment
    threads = [threading.Thread(target=reserve) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then each saw a distinct count, and exactly one stayed within the limit
    assert sorted(counts) == list(range(5, 45))
    assert sum(1 for count in counts if count <= limit.limit) == 1


def test_an_unreachable_store_raises_unavailable_quickly(settings: Any) -> None:
    import socket
    import time

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
    ratelimit.sliding_window_backend.cache_clear()
    limit = ratelimit.SlidingWindowLimit("unreachable", limit=5, window=timedelta(minutes=10))
    try:
        started = time.monotonic()
        for call in (limit.reserve, limit.hit, limit.count, limit.retry_after_seconds, limit.reset):
            with pytest.raises(ratelimit.SlidingWindowUnavailable):
                call()
        with pytest.raises(ratelimit.SlidingWindowUnavailable):
            limit.release("x")
        assert time.monotonic() - started < ratelimit.REDIS_TIMEOUT_SECONDS * 6
    finally:
        ratelimit.sliding_window_backend.cache_clear()
