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
from realtime.tests.processes import TANSU_BIN, ProcessGroup, free_port, start_tansu, wait_until

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
    print(f"[e2e] {name} = {value}{' ' + unit if unit else ''}", flush=True)  # noqa: T201 - the figures (-s)


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
    """Two halves of 5 x 1000: a backlog the relay drains on start (its
    throughput), then live traffic while relay and sink run (the ingestion
    delay a player's event really sees; the backlog's delay is only how long
    it waited for the relay to start)."""
    half, total = 5_000, 10_000
    # The sink first: its consumer-group join (~3 s) overlaps the emission.
    sink = procs.manage("sink", "sink_clickhouse")

    started = time.monotonic()
    backlog = emit_batches(user, transactions=5, per_transaction=1000, tag="backlog")
    emit_seconds = time.monotonic() - started
    assert OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).count() == half

    relay_spawned_at = timezone.now()
    relay_process = procs.manage("relay", "relay_outbox", "--batch-size", "200")
    wait_all_sent(half, relay_process)
    bounds = OutboxEvent.objects.aggregate(first=Min("sent_at"), last=Max("sent_at"))
    first_batch = OutboxEvent.objects.filter(sent_at=bounds["first"]).count()
    throughput = (half - first_batch) / (bounds["last"] - bounds["first"]).total_seconds()
    throughput_with_startup = half / (bounds["last"] - relay_spawned_at).total_seconds()

    ch = clickhouse.client()
    try:
        wait_for_clickhouse(ch, half, sink=sink)
        # Live: the same relay and sink keep running while the player plays.
        live = emit_batches(user, transactions=5, per_transaction=1000, tag="live")
        ids = backlog + live
        assert len(set(ids)) == total
        wait_all_sent(total, relay_process)
        wait_for_clickhouse(ch, total, sink=sink)

        assert {row[0] for row in ch.execute("SELECT DISTINCT event_id FROM events_log")} == set(ids)
        assert ch_scalar(ch, "SELECT count() FROM events_log FINAL") == total
        assert clickhouse.count_events(ch, event_type="stats_update") == total
        raw_rows = ch_scalar(ch, "SELECT count() FROM events_log")
        [(user_id, event_type, data)] = ch.execute(
            "SELECT user_id, type, data FROM events_log FINAL WHERE event_id = %(id)s", {"id": live[-1]}
        )
        assert (user_id, event_type, json.loads(data)) == (user.pk, "stats_update", {"tag": "live", "tx": 4, "n": 999})
        timings = {
            event_id: (occurred_ms, ingested_ms)
            for event_id, occurred_ms, ingested_ms in ch.execute(
                "SELECT event_id, occurred_ms, ingested_ms FROM events_log FINAL"
            )
        }
    finally:
        ch.disconnect()

    assert OutboxEvent.objects.count() == total
    assert not OutboxEvent.objects.exclude(status=OutboxEvent.Status.SENT).exists()

    # --- figures for the report -------------------------------------------------
    sent_at_ms = {
        str(event_id): at.timestamp() * 1000 for event_id, at in OutboxEvent.objects.values_list("event_id", "sent_at")
    }
    live_delay = [timings[i][1] - timings[i][0] for i in live]
    backlog_delay = [timings[i][1] - timings[i][0] for i in backlog]
    outbox_leg = [sent_at_ms[i] - timings[i][0] for i in live]
    sink_leg = [timings[i][1] - sent_at_ms[i] for i in live]
    # A 1000-emit transaction takes about a second, and its first event waits
    # for the commit; the last occurred_ms of a transaction ~ its commit.
    commit_ms = [max(timings[i][0] for i in live[tx : tx + 1000]) for tx in range(0, half, 1000)]
    commit_to_ingest = [timings[i][1] - commit_ms[n // 1000] for n, i in enumerate(live)]

    print(flush=True)  # noqa: T201
    figures = [
        ("emit_rate_eps", round(half / emit_seconds), "events/s (emit, 1000-event transactions)"),
        ("relay_throughput_eps", round(throughput), "events/s (5,000 backlog, batch 200)"),
        ("relay_throughput_with_startup_eps", round(throughput_with_startup), "events/s (spawn -> last sent)"),
        ("ingestion_delay_p50_ms", round(percentile(live_delay, 0.50)), "ms (live: ingested - occurred)"),
        ("ingestion_delay_p95_ms", round(percentile(live_delay, 0.95)), "ms (live: ingested - occurred)"),
        ("ingestion_delay_max_ms", round(max(live_delay)), "ms (live)"),
        ("commit_to_ingest_p95_ms", round(percentile(commit_to_ingest, 0.95)), "ms (live: ingested - commit)"),
        ("outbox_leg_p95_ms", round(percentile(outbox_leg, 0.95)), "ms (live: sent_at - occurred)"),
        ("sink_leg_p95_ms", round(percentile(sink_leg, 0.95)), "ms (live: ingested - sent_at)"),
        ("backlog_delay_p95_ms", round(percentile(backlog_delay, 0.95)), "ms (backlog: waited for the relay)"),
        ("all_10000_delay_p95_ms", round(percentile(live_delay + backlog_delay, 0.95)), "ms (both halves)"),
        ("clickhouse_rows_before_merge", raw_rows, "rows (count() without FINAL)"),
    ]
    for name, value, unit in figures:
        report(record_property, name, value, unit)


def relay_is_committing_a_batch() -> bool:
    """The relay's transaction is marking a delivered batch ``sent`` (its
    UPDATE runs or ran, COMMIT not yet): Kafka already holds that batch."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state IN ('active', 'idle in transaction') AND query LIKE %s",
            ['UPDATE "realtime_outboxevent" SET "status"%'],
        )
        return bool(cursor.fetchone()[0])


@pytest.mark.timeout(150)
def test_relay_killed_mid_batch_then_restarted_leaves_every_event_exactly_once_in_clickhouse(
    user: Any, kafka_topic: str, clickhouse_db: str, procs: ProcessGroup, record_property: Any
) -> None:
    total = 5_000
    sink = procs.manage("sink", "sink_clickhouse")
    ids = emit_batches(user, transactions=5, per_transaction=1000)

    first = procs.manage("relay", "relay_outbox", "--batch-size", "200")
    wait_until(
        lambda: sent_count() >= 400,
        timeout=60,
        interval=0.01,
        message=lambda: f"the relay is stuck at {sent_count()} sent; {first.describe()}",
    )
    # The worst moment for a crash: Kafka acked a batch, the relay has not
    # committed it yet -- the restarted relay will send that batch again.
    wait_until(relay_is_committing_a_batch, timeout=15, interval=0.0005, message="never saw the relay's UPDATE")
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
        # One player's events share a partition, read in order: once the last
        # one is in ClickHouse, so is every message before it, re-sent batch included.
        wait_for_clickhouse(ch, total, sink=sink)
        assert ch_scalar(ch, "SELECT uniqExact(event_id) FROM events_log") == total
        assert ch_scalar(ch, "SELECT count() FROM events_log FINAL") == total
        assert {row[0] for row in ch.execute("SELECT DISTINCT event_id FROM events_log")} == set(ids)
        raw_rows = ch_scalar(ch, "SELECT count() FROM events_log")
    finally:
        ch.disconnect()

    delivered = Counter(json.loads(m.value())["event_id"] for m in consume_all(kafka_topic, expected=total, timeout=30))
    assert set(delivered) == set(ids)
    kafka_duplicates = sum(delivered.values()) - len(delivered)

    print(flush=True)  # noqa: T201
    report(record_property, "killed_after_sent_rows", sent_when_killed, f"of {total}")
    report(record_property, "kafka_messages", sum(delivered.values()))
    report(record_property, "kafka_duplicates", kafka_duplicates, "messages delivered twice (at least once)")
    report(record_property, "clickhouse_rows_before_merge", raw_rows, "rows (count() without FINAL)")


@pytest.mark.timeout(120)
def test_broker_down_keeps_rows_pending_and_a_restarted_broker_gets_them_all(
    user: Any, settings: Any, procs: ProcessGroup, record_property: Any
) -> None:
    require_service("Kafka", bool(django_settings.KAFKA_BOOTSTRAP_SERVERS))
    require_service("The tansu broker binary", TANSU_BIN.exists())
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

    # The broker comes back on the same port, empty (memory storage): the topic
    # is recreated, and passes with time moved past each backoff drain it.
    # A *new* producer, like a restarted relay: librdkafka's idempotent producer
    # keeps its producer id across the outage, and tansu's memory storage forgot
    # it -- the old producer then fails every batch with UNKNOWN_PRODUCER_ID
    # forever (epoch bump loop). See the report for the relay-side mitigation.
    broker = start_tansu(procs, port, name="tansu-restarted")
    ensure_topic(topic)
    after = emit_batches(user, transactions=1, per_transaction=30, tag="after")
    producer = relay.make_producer(bootstrap, **{"message.timeout.ms": 1000})
    passes = []
    deadline = time.perf_counter() + 45  # travel() moves time.monotonic too, not perf_counter
    with time_machine.travel(timezone.now(), tick=True) as traveller:
        while OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).exists():
            assert time.perf_counter() < deadline, f"still pending after {len(passes)} passes: {passes}"
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
    print(flush=True)  # noqa: T201
    report(record_property, "broker_down_pass_seconds", round(failed_pass_seconds, 2), "s (message.timeout.ms=1000)")
    report(record_property, "passes_after_restart", len(passes), str([(p.sent, p.failed) for p in passes]))
    report(record_property, "private_broker_duplicates", sum(delivered.values()) - len(delivered))
