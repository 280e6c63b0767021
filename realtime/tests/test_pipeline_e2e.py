"""Design promise 3 end to end, with real processes: ``emit`` -> outbox ->
``manage.py relay_outbox`` -> Kafka (tansu) -> ``manage.py sink_clickhouse``
-> ClickHouse; at least once on the wire, effectively once in ClickHouse.

The relay and the sink run as subprocesses against this test's database
(``test_<name>``; the data is committed: ``transaction=True``), topic and
ClickHouse database. Every process a test starts is stopped in the fixture
teardown, also when the test fails or times out. Run with ``-s`` to see the
measured figures; they are also attached as JUnit properties
(``record_property``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

import realtime
from conftest import require_service
from realtime import clickhouse, relay
from realtime.models import OutboxEvent
from realtime.sink import ensure_topic
from realtime.tests.conftest import consume_all
from realtime.tests.processes import ProcessGroup, free_port, start_tansu, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def procs(transactional_db: Any, tmp_path: Path) -> Iterator[ProcessGroup]:
    """Requested after ``kafka_topic``/``clickhouse_db``, so it is torn down
    first: the processes stop before the ClickHouse database is dropped and
    the test database flushed."""
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


def emit_batches(user: Any, transactions: int, per_transaction: int, tag: str = "") -> list[str]:
    ids: list[str] = []
    for tx in range(transactions):
        with transaction.atomic():
            ids.extend(
                str(realtime.emit("stats_update", user, {"tag": tag, "tx": tx, "n": n}).event_id)
                for n in range(per_transaction)
            )
    return ids


def sent_count() -> int:
    return OutboxEvent.objects.filter(status=OutboxEvent.Status.SENT).count()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 1))))
    return ordered[rank - 1]


def report(record_property: Any, name: str, value: Any, unit: str = "") -> None:
    record_property(name, value)
    print(f"[e2e] {name} = {value}{' ' + unit if unit else ''}")


def ch_scalar(ch: Any, query: str, params: dict[str, Any] | None = None) -> int:
    return int(ch.execute(query, params or {})[0][0])


def wait_for_clickhouse(ch: Any, expected: int, *, sink: Any, timeout: float = 60) -> None:
    wait_until(
        lambda: clickhouse.count_events(ch) >= expected,
        timeout=timeout,
        interval=0.25,
        message=lambda: f"ClickHouse holds {clickhouse.count_events(ch)} of {expected} events; {sink.describe()}",
    )


def wait_all_sent(expected: int, relay_process: Any, timeout: float = 60) -> None:
    wait_until(
        lambda: sent_count() == expected,
        timeout=timeout,
        interval=0.05,
        message=lambda: f"{sent_count()} of {expected} outbox rows sent; {relay_process.describe()}",
    )


@pytest.mark.timeout(150)
def test_ten_thousand_events_reach_clickhouse_exactly_once_through_relay_and_sink_processes(
    user: Any, kafka_topic: str, clickhouse_db: str, procs: ProcessGroup, record_property: Any
) -> None:
    total = 10_000
    # The sink first: its consumer-group join (~3 s) overlaps the emission.
    sink = procs.manage("sink", "sink_clickhouse")

    started = time.monotonic()
    ids = emit_batches(user, transactions=10, per_transaction=1000)
    emit_seconds = time.monotonic() - started
    assert len(set(ids)) == total
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).count() == total

    # The relay drains the 10,000-row backlog in passes of 200.
    relay_spawned_at = timezone.now()
    relay_process = procs.manage("relay", "relay_outbox", "--batch-size", "200")
    wait_all_sent(total, relay_process)

    ch = clickhouse.client()
    try:
        wait_for_clickhouse(ch, total, sink=sink)
        pipeline_seconds = (timezone.now() - relay_spawned_at).total_seconds()

        assert {row[0] for row in ch.execute("SELECT DISTINCT event_id FROM events_log")} == set(ids)
        assert ch_scalar(ch, "SELECT count() FROM events_log FINAL") == total
        assert clickhouse.count_events(ch, event_type="stats_update") == total
        raw_rows = ch_scalar(ch, "SELECT count() FROM events_log")
        [(user_id, event_type, data)] = ch.execute(
            "SELECT user_id, type, data FROM events_log FINAL WHERE event_id = %(id)s", {"id": ids[-1]}
        )
        assert (user_id, event_type, json.loads(data)) == (user.pk, "stats_update", {"tag": "", "tx": 9, "n": 999})
        timings = ch.execute("SELECT event_id, occurred_ms, ingested_ms FROM events_log FINAL")
    finally:
        ch.disconnect()

    assert OutboxEvent.objects.count() == total
    assert not OutboxEvent.objects.exclude(status=OutboxEvent.Status.SENT).exists()

    # --- figures for the report -------------------------------------------------
    bounds = OutboxEvent.objects.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    first_batch = OutboxEvent.objects.filter(sent_at=bounds["first"]).count()
    steady_seconds = (bounds["last"] - bounds["first"]).total_seconds()
    throughput = (total - first_batch) / steady_seconds
    throughput_with_startup = total / (bounds["last"] - relay_spawned_at).total_seconds()
    sent_at_ms = {
        str(event_id): at.timestamp() * 1000 for event_id, at in OutboxEvent.objects.values_list("event_id", "sent_at")
    }
    delay_ms = [ingested - occurred for _, occurred, ingested in timings]
    sink_leg_ms = [ingested - sent_at_ms[event_id] for event_id, _, ingested in timings]

    print()
    report(record_property, "emit_rate_eps", round(total / emit_seconds), "events/s (10 transactions x 1000 emits)")
    report(record_property, "relay_throughput_eps", round(throughput), "events/s (backlog, batch 200, first->last sent_at)")
    report(record_property, "relay_throughput_with_startup_eps", round(throughput_with_startup), "events/s (spawn->last sent_at)")
    report(record_property, "pipeline_seconds", round(pipeline_seconds, 2), "s (relay spawn -> 10,000 in ClickHouse)")
    report(record_property, "ingestion_delay_p50_ms", round(percentile(delay_ms, 0.50)), "ms (ingested_ms - occurred_ms)")
    report(record_property, "ingestion_delay_p95_ms", round(percentile(delay_ms, 0.95)), "ms (ingested_ms - occurred_ms)")
    report(record_property, "ingestion_delay_max_ms", round(max(delay_ms)), "ms")
    report(record_property, "sink_leg_delay_p95_ms", round(percentile(sink_leg_ms, 0.95)), "ms (ingested_ms - sent_at)")
    report(record_property, "clickhouse_rows_before_merge", raw_rows, "rows (count() without FINAL)")


@pytest.mark.timeout(150)
def test_relay_killed_mid_batch_then_restarted_leaves_every_event_exactly_once_in_clickhouse(
    user: Any, kafka_topic: str, clickhouse_db: str, procs: ProcessGroup, record_property: Any
) -> None:
    total = 5_000
    sink = procs.manage("sink", "sink_clickhouse")
    ids = emit_batches(user, transactions=5, per_transaction=1000)

    first = procs.manage("relay", "relay_outbox", "--batch-size", "200")
    wait_until(
        lambda: sent_count() > 0,
        timeout=60,
        interval=0.002,
        message=lambda: f"the relay never marked a row sent; {first.describe()}",
    )
    first.kill()  # SIGKILL: no flush, no commit of the batch in flight
    assert first.popen.returncode == -9
    sent_when_killed = sent_count()
    assert 0 < sent_when_killed < total, f"kill came too late: {sent_when_killed} of {total} already sent"
    # Rows the dead relay had claimed are free again once PostgreSQL notices the
    # dropped connection; they are still pending, none lost, none dead.
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).count() == total - sent_when_killed
    assert not OutboxEvent.objects.filter(status=OutboxEvent.Status.DEAD).exists()

    second = procs.manage("relay", "relay_outbox", "--batch-size", "200")
    wait_all_sent(total, second)

    ch = clickhouse.client()
    try:
        wait_for_clickhouse(ch, total, sink=sink)
        time.sleep(1.5)  # one more sink flush window: a late duplicate would land now
        assert ch_scalar(ch, "SELECT uniqExact(event_id) FROM events_log") == total
        assert ch_scalar(ch, "SELECT count() FROM events_log FINAL") == total
        assert {row[0] for row in ch.execute("SELECT DISTINCT event_id FROM events_log")} == set(ids)
        raw_rows = ch_scalar(ch, "SELECT count() FROM events_log")
    finally:
        ch.disconnect()

    delivered = Counter(json.loads(m.value())["event_id"] for m in consume_all(kafka_topic, expected=total, timeout=30))
    assert set(delivered) == set(ids)
    kafka_duplicates = sum(delivered.values()) - len(delivered)

    print()
    report(record_property, "killed_after_sent_rows", sent_when_killed, f"of {total}")
    report(record_property, "kafka_messages", sum(delivered.values()))
    report(record_property, "kafka_duplicates", kafka_duplicates, "messages delivered twice (at least once)")
    report(record_property, "clickhouse_rows_before_merge", raw_rows, "rows (count() without FINAL)")


@pytest.mark.timeout(120)
def test_broker_down_keeps_rows_pending_and_a_restarted_broker_gets_them_all(
    user: Any, settings: Any, procs: ProcessGroup, record_property: Any
) -> None:
    require_service("Kafka", bool(django_settings.KAFKA_BOOTSTRAP_SERVERS))
    port = free_port()
    broker = start_tansu(procs, port)
    bootstrap = f"127.0.0.1:{port}"
    settings.KAFKA_BOOTSTRAP_SERVERS = bootstrap
    settings.KAFKA_TOPIC = topic = f"casino.test.private.{uuid.uuid4().hex[:12]}"
    ensure_topic(topic)
    producer = relay.make_producer(bootstrap, **{"message.timeout.ms": 1000})

    # Broker up: a pass ships everything.
    before = emit_batches(user, transactions=1, per_transaction=20, tag="before")
    assert relay.outbox_relay_pass(producer=producer).sent == 20

    # Broker gone: the next pass fails within the message timeout, nothing is lost.
    broker.kill()
    during = emit_batches(user, transactions=2, per_transaction=50, tag="during")
    started = time.monotonic()
    failed = relay.outbox_relay_pass(producer=producer)
    failed_pass_seconds = time.monotonic() - started
    assert (failed.claimed, failed.sent, failed.failed, failed.dead) == (100, 0, 100, 0)
    pending = list(OutboxEvent.objects.filter(event_id__in=during))
    assert len(pending) == 100
    assert all(row.status == OutboxEvent.Status.PENDING for row in pending)
    assert all(row.attempts >= 1 and row.last_error for row in pending)
    assert all(row.next_attempt_at > timezone.now() for row in pending)
    assert relay.outbox_relay_pass(producer=producer).claimed == 0  # backing off, not hammering

    # The broker comes back on the same port, empty (memory storage): the
    # topic is recreated, and passes with time moved past the backoff drain it.
    broker = start_tansu(procs, port, name="tansu-restarted")
    ensure_topic(topic)
    after = emit_batches(user, transactions=1, per_transaction=30, tag="after")
    passes = []
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        deadline = time.monotonic() + 45
        while OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).exists():
            assert time.monotonic() < deadline, f"still pending after {len(passes)} passes: {passes}"
            due = OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).aggregate(due=Max("next_attempt_at"))
            if due["due"] > timezone.now():
                traveller.move_to(due["due"] + timedelta(seconds=1))
            passes.append(relay.outbox_relay_pass(producer=producer))
    assert not OutboxEvent.objects.exclude(status=OutboxEvent.Status.SENT).exists()
    assert OutboxEvent.objects.filter(event_id__in=during, attempts__gte=1).count() == 100

    # Everything emitted while the broker was down or after it came back is in
    # the new topic. ("before" went down with the old broker's memory.)
    expected = set(during) | set(after)
    delivered = Counter(json.loads(m.value())["event_id"] for m in consume_all(topic, expected=len(expected)))
    assert set(delivered) == expected
    assert not set(delivered) & set(before)

    producer.flush(5)
    print()
    report(record_property, "broker_down_pass_seconds", round(failed_pass_seconds, 2), "s (message.timeout.ms=1000)")
    report(record_property, "passes_after_restart", len(passes), str([(p.sent, p.failed) for p in passes]))
    report(record_property, "private_broker_duplicates", sum(delivered.values()) - len(delivered))
