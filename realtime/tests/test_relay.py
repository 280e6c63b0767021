"""The outbox relay against a real Kafka-compatible broker (tansu)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

import realtime
from realtime import relay
from realtime.models import OutboxEvent
from realtime.selectors import outbox_health
from realtime.tests.conftest import consume_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def emit_many(user: Any, count: int) -> list[str]:
    with transaction.atomic():
        return [str(realtime.emit("stats_update", user, {"n": index}).event_id) for index in range(count)]


def test_relay_pass_delivers_keyed_envelopes_and_marks_rows_sent(user: Any, kafka_topic: str) -> None:
    ids = emit_many(user, 25)

    result = relay.outbox_relay_pass(producer=relay.make_producer())

    assert (result.claimed, result.sent, result.failed) == (25, 25, 0)
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.SENT).count() == 25
    messages = consume_all(kafka_topic, expected=25)
    assert sorted(json.loads(m.value())["event_id"] for m in messages) == sorted(ids)
    first = messages[0]
    assert first.key() == str(user.pk).encode()
    headers = dict(first.headers())
    assert headers["event_id"].decode() == json.loads(first.value())["event_id"]
    assert headers["type"] == b"stats_update"
    assert set(json.loads(first.value())) == {"event_id", "type", "user_id", "data", "timestamp"}


def test_broker_down_keeps_rows_pending_with_backoff_then_drains(user: Any, kafka_topic: str) -> None:
    ids = emit_many(user, 5)
    dead_broker = relay.make_producer("127.0.0.1:1", **{"message.timeout.ms": 800, "socket.timeout.ms": 500})

    failed = relay.outbox_relay_pass(producer=dead_broker)

    assert (failed.sent, failed.failed) == (0, 5)
    rows = list(OutboxEvent.objects.all())
    assert all(r.status == OutboxEvent.Status.PENDING and r.attempts == 1 and r.last_error for r in rows)
    assert all(r.next_attempt_at > timezone.now() for r in rows)
    assert relay.outbox_relay_pass(producer=relay.make_producer()).claimed == 0  # not due yet
    assert outbox_health().pending == 5

    with time_machine.travel(timezone.now() + timedelta(seconds=3)):
        drained = relay.outbox_relay_pass(producer=relay.make_producer())

    assert drained.sent == 5
    assert sorted(json.loads(m.value())["event_id"] for m in consume_all(kafka_topic, expected=5)) == sorted(ids)


def test_backoff_doubles_and_is_capped() -> None:
    assert [relay.backoff_seconds(n) for n in (1, 2, 3, 8, 9, 10)] == [2, 4, 8, 256, 300, 300]


def test_a_row_that_keeps_failing_ends_dead_after_ten_attempts(user: Any, kafka_topic: str) -> None:
    emit_many(user, 1)
    dead_broker = relay.make_producer("127.0.0.1:1", **{"message.timeout.ms": 300, "socket.timeout.ms": 300})
    now = timezone.now()

    with time_machine.travel(now, tick=False) as traveller:
        for attempt in range(1, 11):
            relay.outbox_relay_pass(producer=dead_broker)
            row = OutboxEvent.objects.get()
            assert row.attempts == attempt
            traveller.shift(timedelta(seconds=relay.backoff_seconds(attempt) + 1))

    row = OutboxEvent.objects.get()
    assert row.status == OutboxEvent.Status.DEAD
    assert outbox_health().dead == 1


def test_two_relays_in_parallel_never_send_a_row_twice(user: Any, kafka_topic: str) -> None:
    ids = emit_many(user, 3000)
    sent_by: Counter[str] = Counter()

    def run(name: str) -> None:
        producer = relay.make_producer()
        try:
            while True:
                result = relay.outbox_relay_pass(producer=producer, batch_size=200)
                sent_by[name] += result.sent
                if result.claimed == 0:
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(f"relay-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sum(sent_by.values()) == 3000
    assert min(sent_by.values()) > 0  # both really worked
    delivered = Counter(json.loads(m.value())["event_id"] for m in consume_all(kafka_topic, expected=3000, timeout=60))
    assert set(delivered) == set(ids)
    assert max(delivered.values()) == 1


def test_prune_removes_only_old_sent_rows(user: Any, kafka_topic: str, settings: Any) -> None:
    emit_many(user, 3)
    relay.outbox_relay_pass(producer=relay.make_producer())
    emit_many(user, 2)  # still pending

    with time_machine.travel(timezone.now() + settings.OUTBOX_SENT_RETENTION + timedelta(minutes=1)):
        pruned = relay.outbox_prune_sent()

    assert pruned == 3
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).count() == 2


def _relay_in_a_thread(
    monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[threading.Event, threading.Thread, list[tuple[float, relay.RelayPass]]]:
    """``outbox_relay_forever`` in a thread of its own, every pass's end time and result recorded."""
    passes: list[tuple[float, relay.RelayPass]] = []
    real_pass = relay.outbox_relay_pass

    def recorded(**kwargs: Any) -> relay.RelayPass:
        result = real_pass(**kwargs)
        passes.append((time.monotonic(), result))
        return result

    stop = threading.Event()

    def run() -> None:
        try:
            relay.outbox_relay_forever(stop=stop, idle_sleep=0.05, **options)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    monkeypatch.setattr(relay, "outbox_relay_pass", recorded)
    thread.start()
    return stop, thread, passes


def _wait_until_sent(count: int, timeout: float = 10.0) -> None:
    """Until ``count`` outbox rows are marked sent, or ``timeout`` seconds (the assertions then tell)."""
    deadline = time.monotonic() + timeout
    while OutboxEvent.objects.filter(status=OutboxEvent.Status.SENT).count() < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_relay_gathers_a_trickle_of_commits_into_few_passes(
    user: Any, kafka_topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop, thread, passes = _relay_in_a_thread(monkeypatch, gather_seconds=0.25)
    ids = []
    try:
        for _ in range(60):  # a commit every 20 ms for 1.2 s, as requests commit their events
            ids += emit_many(user, 1)
            time.sleep(0.02)
        _wait_until_sent(60)
    finally:
        stop.set()
        thread.join(10)

    working = [(at, result) for at, result in passes if result.claimed]
    assert sum(result.sent for _, result in working) == 60
    # back to back, each pass would carry a row or two: dozens of passes for 60 commits
    assert len(working) <= 10, [result.claimed for _, result in working]
    assert max(result.claimed for _, result in working) >= 4
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(working)]
    assert min(gaps) >= 0.2, gaps  # each partial batch was followed by the gathering wait
    delivered = Counter(json.loads(m.value())["event_id"] for m in consume_all(kafka_topic, expected=60))
    assert set(delivered) == set(ids)


def test_a_backlog_is_relayed_in_full_batches_back_to_back(
    user: Any, kafka_topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emit_many(user, 100)
    stop, thread, passes = _relay_in_a_thread(monkeypatch, batch_size=25, gather_seconds=5.0)
    try:
        _wait_until_sent(100)
    finally:
        stop.set()
        thread.join(10)

    full = [(at, result) for at, result in passes if result.claimed == 25]
    assert len(full) == 4 and sum(result.sent for _, result in full) == 100
    # no gathering wait between full batches: all four well within one 5 s wait
    assert full[-1][0] - full[0][0] < 2.5
