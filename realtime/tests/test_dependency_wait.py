"""The relay and the sink start, and keep running, while the broker (or
ClickHouse) is down: they log ``waiting for ...`` with a doubling delay
instead of exiting with a traceback, and carry on once it is there.

Real processes (``manage.py relay_outbox`` / ``sink_clickhouse``) against an
address where nothing listens yet; a private tansu broker is then started on
that very port.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

import realtime
from conftest import require_service
from realtime import clickhouse, relay
from realtime.models import OutboxEvent
from realtime.sink import ensure_topic
from realtime.tests.processes import (
    TANSU_BIN,
    Process,
    ProcessGroup,
    django_env,
    free_port,
    start_tansu,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def procs(transactional_db: Any, tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def dead_broker(settings: Any) -> str:
    """A private topic on a broker address where nothing listens (yet)."""
    require_service("The tansu broker binary", TANSU_BIN.exists())
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{free_port()}"
    settings.KAFKA_TOPIC = f"casino.test.wait.{uuid.uuid4().hex[:12]}"
    return str(settings.KAFKA_BOOTSTRAP_SERVERS)


def waiting_lines(process: Process, what: str) -> list[str]:
    return [line for line in process.log_tail(100_000).splitlines() if f"waiting for {what}" in line]


def wait_for_waiting_lines(process: Process, what: str, count: int, timeout: float = 45) -> list[str]:
    wait_until(
        lambda: len(waiting_lines(process, what)) >= count,
        timeout=timeout,
        interval=0.2,
        message=lambda: f"expected {count} 'waiting for {what}' lines; {process.describe()}",
    )
    return waiting_lines(process, what)


def delays(lines: list[str]) -> list[float]:
    return [float(m.group(1)) for line in lines if (m := re.search(r"next try in ([0-9.]+)s", line))]


def emit(user: Any, count: int) -> list[str]:
    with transaction.atomic():
        return [str(realtime.emit("stats_update", user, {"n": n}).event_id) for n in range(count)]


@pytest.mark.timeout(120)
def test_the_relay_waits_for_a_broker_that_is_down_then_relays_when_it_appears(
    user: Any, dead_broker: str, procs: ProcessGroup
) -> None:
    # Given events waiting, and the relay started while no broker listens
    ids = emit(user, 5)
    relay_process = procs.manage("relay", "relay_outbox", env=django_env(DEPENDENCY_WAIT_MAX_SECONDS="2"))

    # When it has been waiting a while
    lines = wait_for_waiting_lines(relay_process, f"the Kafka broker at {dead_broker}", count=3)

    # Then it is still running, says what it waits for with a growing delay, and used no attempt
    assert relay_process.alive, relay_process.describe()
    assert "Traceback" not in relay_process.log_tail(100_000)
    assert delays(lines)[:3] == [0.5, 1.0, 2.0]
    assert set(OutboxEvent.objects.values_list("status", "attempts")) == {("pending", 0)}

    # When the broker appears on that address
    port = int(dead_broker.rsplit(":", 1)[1])
    start_tansu(procs, port)
    ensure_topic()
    wait_until(
        lambda: OutboxEvent.objects.filter(status="sent").count() == len(ids),
        timeout=60,
        interval=0.2,
        message=lambda: f"not relayed after the broker came up; {relay_process.describe()}",
    )

    # Then every event went out, each on its first attempt
    assert set(OutboxEvent.objects.values_list("status", "attempts")) == {("sent", 0)}


@pytest.mark.timeout(150)
def test_the_sink_waits_for_a_broker_that_is_down_then_sinks_when_it_appears(
    user: Any, dead_broker: str, clickhouse_db: str, procs: ProcessGroup
) -> None:
    # Given the sink started while no broker listens
    sink = procs.manage("sink", "sink_clickhouse", env=django_env(DEPENDENCY_WAIT_MAX_SECONDS="2"))

    # When it has been waiting a while
    lines = wait_for_waiting_lines(sink, f"the Kafka broker at {dead_broker}", count=2)

    # Then it is still running and says so
    assert sink.alive, sink.describe()
    assert "Traceback" not in sink.log_tail(100_000)
    assert delays(lines)[:2] == [0.5, 1.0]

    # When the broker appears and events are relayed to it
    port = int(dead_broker.rsplit(":", 1)[1])
    start_tansu(procs, port)
    ids = emit(user, 7)
    producer = relay.make_producer()
    wait_until(
        lambda: relay.outbox_relay_pass(producer=producer).claimed == 0
        and not OutboxEvent.objects.filter(status="pending").exists(),
        timeout=60,
        interval=0.5,
        message=lambda: f"the relay pass could not send to the restarted broker; {sink.describe()}",
    )

    # Then the sink carries them into ClickHouse
    ch = clickhouse.client()
    try:
        wait_until(
            lambda: clickhouse.count_events(ch) >= len(ids),
            timeout=60,
            interval=0.5,
            message=lambda: f"ClickHouse holds {clickhouse.count_events(ch)} of {len(ids)}; {sink.describe()}",
        )
        assert {row[0] for row in ch.execute("SELECT DISTINCT event_id FROM events_log")} == set(ids)
    finally:
        ch.disconnect()


@pytest.mark.timeout(90)
def test_the_sink_waits_for_clickhouse_that_is_down(settings: Any, procs: ProcessGroup) -> None:
    # Given ClickHouse configured at an address where nothing listens
    require_service("ClickHouse", bool(settings.CLICKHOUSE_URL))
    settings.CLICKHOUSE_URL = f"clickhouse://default:@127.0.0.1:{free_port()}/casino_wait"

    # When the sink starts
    sink = procs.manage("sink", "sink_clickhouse", env=django_env(DEPENDENCY_WAIT_MAX_SECONDS="2"))
    lines = wait_for_waiting_lines(sink, "ClickHouse", count=3)

    # Then it waits, running, with a growing delay (clickhouse-driver logs each
    # refused connection with its traceback itself: no traceback check here)
    assert sink.alive, sink.describe()
    assert delays(lines)[:3] == [0.5, 1.0, 2.0]


def test_the_beat_relay_task_claims_nothing_while_the_broker_stays_down(
    user: Any, dead_broker: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the beat task's relay, a broker that is down, and two events
    from realtime import tasks

    settings.OUTBOX_RELAY_DELIVERY_TIMEOUT_MS = 500
    monkeypatch.setattr(tasks, "_producer", None)
    monkeypatch.setattr(tasks, "_broker_down", False)
    emit(user, 2)

    # When it runs, then runs again once the retries are due
    first = tasks.outbox_relay()
    with time_machine.travel(timezone.now() + timedelta(seconds=3)):
        second = tasks.outbox_relay()

    # Then the first run used one attempt, the second only asked the broker
    assert (first["claimed"], first["failed"]) == (2, 2)
    assert second == {"claimed": 0, "waiting": 1}
    assert set(OutboxEvent.objects.values_list("status", "attempts")) == {("pending", 1)}
