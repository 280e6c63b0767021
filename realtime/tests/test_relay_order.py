"""The relay keeps each player's events in id order, also across failures.

Kafka is keyed by player so that consumers can rely on per-player order; a
row that failed and waits for its retry must not be overtaken by the player's
later rows (after a broker outage, 500 events once arrived out of order).
Against the real broker (tansu), each test on its own topic; failures come
from a producer pointed at a dead address or from :class:`FaultyProducer`,
which wraps the real one and refuses or loses the events it is told to.
"""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

import realtime
from accounts.tests.factories import UserFactory
from realtime import relay
from realtime.models import OutboxEvent
from realtime.tests.conftest import consume_all

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


class InjectedError:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class FaultyProducer:
    """A real producer, except for the events named: ``refuse`` makes
    ``produce`` raise (the local queue or the client failed), ``lose`` reports
    a failed delivery without sending (the broker never acknowledged)."""

    def __init__(self, *, refuse: set[str] = frozenset(), lose: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.inner = relay.make_producer()
        self.refuse = set(refuse)
        self.lose = set(lose)

    def produce(
        self, topic: str, *, key: bytes, value: bytes, headers: list[tuple[str, bytes]], on_delivery: Any
    ) -> None:
        event_id = dict(headers)["event_id"].decode()
        if event_id in self.refuse:
            raise RuntimeError("injected: the producer refused the message")
        if event_id in self.lose:
            on_delivery(InjectedError("injected: delivery failed"), None)
            return
        self.inner.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)

    def poll(self, timeout: float) -> int:
        return int(self.inner.poll(timeout))

    def flush(self, timeout: float) -> int:
        return int(self.inner.flush(timeout))


def emit(user: Any, count: int, start: int = 0) -> list[str]:
    with transaction.atomic():
        return [str(realtime.emit("stats_update", user, {"n": n}).event_id) for n in range(start, start + count)]


def outbox_order(user: Any) -> list[str]:
    return [
        str(e) for e in OutboxEvent.objects.filter(user_id=user.pk).order_by("id").values_list("event_id", flat=True)
    ]


def received_by_player(messages: list[Any]) -> dict[int, list[str]]:
    """Every message's event id, per player, in the order the consumer read them."""
    seen: dict[int, list[str]] = defaultdict(list)
    for message in messages:
        envelope = json.loads(message.value())
        seen[envelope["user_id"]].append(envelope["event_id"])
    return seen


def last_copies(event_ids: list[str]) -> list[str]:
    """The order of the last copy of each event (what a consumer that applies
    every message, latest wins, ends up with)."""
    last = {event_id: index for index, event_id in enumerate(event_ids)}
    return sorted(last, key=last.__getitem__)


def later(seconds: float) -> Any:
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds))


def test_after_a_broker_outage_each_players_events_arrive_in_id_order(kafka_topic: str) -> None:
    # Given two players whose first events failed during an outage and wait for their retry
    p, q = UserFactory(), UserFactory()
    emit(p, 5), emit(q, 5)
    dead = relay.make_producer("127.0.0.1:1", **{"message.timeout.ms": 500, "socket.timeout.ms": 300})
    outage = relay.outbox_relay_pass(producer=dead)
    assert (outage.sent, outage.failed) == (0, 10)
    # ... and events they produced after it, due at once
    emit(p, 5, start=5), emit(q, 5, start=5)

    # When the broker is back: a pass now, then one when the retries are due
    now = relay.outbox_relay_pass(producer=relay.make_producer())
    with later(3):
        retried = relay.outbox_relay_pass(producer=relay.make_producer())

    # Then nothing overtook the waiting rows, and each player's events arrive in id order
    assert (now.claimed, now.sent) == (0, 0)
    assert retried.sent == 20
    received = received_by_player(consume_all(kafka_topic, expected=20))
    assert received[p.pk] == outbox_order(p)
    assert received[q.pk] == outbox_order(q)


def test_a_refused_row_holds_back_its_players_later_rows_but_no_one_elses(kafka_topic: str) -> None:
    # Given two players' events, and a producer that refuses p's second one
    p, q = UserFactory(), UserFactory()
    p_ids, q_ids = emit(p, 5), emit(q, 5)
    faulty = FaultyProducer(refuse={p_ids[1]})

    # When the relay passes, then passes again before and after the retry is due
    first = relay.outbox_relay_pass(producer=faulty)
    waiting = relay.outbox_relay_pass(producer=relay.make_producer())
    rows = {str(r.event_id): r for r in OutboxEvent.objects.filter(user_id=p.pk)}
    with later(3):
        retried = relay.outbox_relay_pass(producer=relay.make_producer())

    # Then p's later rows were not even tried (no attempt used), q was not held up,
    assert (first.sent, first.failed, first.held) == (6, 1, 3)
    assert [rows[e].attempts for e in p_ids] == [0, 1, 0, 0, 0]
    assert [rows[e].status for e in p_ids] == ["sent", "pending", "pending", "pending", "pending"]
    assert waiting.claimed == 0
    assert retried.sent == 4
    # ... and the consumer reads each player's events once, in id order
    received = received_by_player(consume_all(kafka_topic, expected=10))
    assert received[p.pk] == p_ids
    assert received[q.pk] == q_ids


def test_a_row_delivered_ahead_of_a_lost_older_row_is_sent_again_after_it(kafka_topic: str) -> None:
    # Given a player's events, and a broker that loses the second one but acknowledges the rest
    p = UserFactory()
    ids = emit(p, 4)
    faulty = FaultyProducer(lose={ids[1]})

    # When the relay passes, and again once the lost row is due
    first = relay.outbox_relay_pass(producer=faulty)
    statuses = {str(e): status for e, status in OutboxEvent.objects.values_list("event_id", "status")}
    with later(3):
        retried = relay.outbox_relay_pass(producer=relay.make_producer())

    # Then the rows that overtook the lost one stayed pending and went again after it:
    assert (first.sent, first.failed, first.held) == (1, 1, 2)
    assert [statuses[e] for e in ids] == ["sent", "pending", "pending", "pending"]
    assert retried.sent == 3
    received = received_by_player(consume_all(kafka_topic, expected=6))[p.pk]
    assert received == [ids[0], ids[2], ids[3], ids[1], ids[2], ids[3]]
    # ... so the last copy of every event is in id order
    assert last_copies(received) == ids


def test_rows_behind_an_older_row_another_relay_holds_wait_for_it(kafka_topic: str) -> None:
    # Given p's oldest row locked by another relay that has not finished its pass
    p, q = UserFactory(), UserFactory()
    p_ids, q_ids = emit(p, 3), emit(q, 2)
    locked, release = threading.Event(), threading.Event()

    def other_relay() -> None:
        try:
            with transaction.atomic():
                OutboxEvent.objects.select_for_update().get(event_id=p_ids[0])
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=other_relay)
    holder.start()
    assert locked.wait(10)

    # When this relay passes meanwhile, and again after the other one let go
    try:
        during = relay.outbox_relay_pass(producer=relay.make_producer())
        pending_during = set(
            str(e) for e in OutboxEvent.objects.filter(status="pending").values_list("event_id", flat=True)
        )
    finally:
        release.set()
        holder.join(30)
    after = relay.outbox_relay_pass(producer=relay.make_producer())

    # Then p's younger rows were held back (q's went), and p's arrive in id order
    assert (during.claimed, during.sent, during.held) == (4, 2, 2)
    assert pending_during == set(p_ids)
    assert after.sent == 3
    received = received_by_player(consume_all(kafka_topic, expected=5))
    assert received[p.pk] == p_ids
    assert received[q.pk] == q_ids


def test_two_relays_in_parallel_send_each_row_once_and_each_player_in_order(kafka_topic: str) -> None:
    # Given many players with many events each
    players = [UserFactory() for _ in range(6)]
    expected = {}
    for player in players:
        expected[player.pk] = emit(player, 300)
    sent_by: Counter[str] = Counter()

    # When two relays drain the outbox at the same time
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

    # Then every row went exactly once, and every player's events arrived in id order
    assert sum(sent_by.values()) == 1800
    messages = consume_all(kafka_topic, expected=1800, timeout=60)
    delivered = Counter(json.loads(m.value())["event_id"] for m in messages)
    assert len(delivered) == 1800 and max(delivered.values()) == 1
    received = received_by_player(messages)
    for player in players:
        assert received[player.pk] == expected[player.pk]
