"""Client telemetry end to end, with real processes: POST /api/telemetry/events
-> outbox -> ``manage.py relay_outbox`` -> Kafka -> ``manage.py sink_clickhouse``
-> ClickHouse, where each event arrives once, marked as client-reported and
without the personal fields the client sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from realtime import clickhouse
from realtime.models import OutboxEvent
from realtime.telemetry import TELEMETRY_EVENT_TYPE
from realtime.tests.processes import ProcessGroup, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def procs(transactional_db: Any, tmp_path: Path) -> Iterator[ProcessGroup]:
    """Requested after ``kafka_topic``/``clickhouse_db``, so the processes stop
    before the ClickHouse database is dropped and the test database flushed."""
    group = ProcessGroup(tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


@pytest.mark.timeout(120)
def test_posted_telemetry_reaches_clickhouse_once_marked_client_reported(
    auth_client: APIClient, kafka_topic: str, clickhouse_db: str, procs: ProcessGroup
) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    # Both start first: their start-up (and the sink's consumer-group join) overlaps the posts.
    sink = procs.manage("sink", "sink_clickhouse")
    relay = procs.manage("relay", "relay_outbox")
    # Given two batches a client posted, one through the old path, with a personal field
    events = [
        {"name": "screen_view", "client_ts": "2025-05-01T12:00:00.000Z", "properties": {"screen": "lobby"}},
        {"name": "spin_button", "properties": {"game": "slot", "win_amount": 100_000, "email": "a@example.com"}},
    ]
    assert auth_client.post("/api/telemetry/events", {"events": events}, format="json").status_code == 202
    old = {"action_type": "GAME_OPEN", "context": {"game": "crash", "Phone": "+15550001111"}}
    assert auth_client.post("/api/actions", old, format="json").status_code == 202
    ids = {str(event_id) for event_id in OutboxEvent.objects.values_list("event_id", flat=True)}
    assert len(ids) == 3
    # When the relay and the sink have shipped them
    ch = clickhouse.client()

    def progress() -> str:
        return f"ClickHouse holds {clickhouse.count_events(ch)} of 3; {relay.describe()}; {sink.describe()}"

    try:
        wait_until(
            lambda: clickhouse.count_events(ch, event_type=TELEMETRY_EVENT_TYPE) >= 3,
            timeout=60,
            interval=0.25,
            message=progress,
        )
        stored = ch.execute("SELECT event_id, user_id, type, data FROM events_log FINAL")
        names = ch.execute(
            "SELECT visitParamExtractString(data, 'name') AS name, uniqExact(event_id) FROM events_log "
            "WHERE type = %(type)s AND visitParamExtractBool(data, 'client_reported') = 1 GROUP BY name ORDER BY name",
            {"type": TELEMETRY_EVENT_TYPE},
        )
    finally:
        ch.disconnect()
    # Then ClickHouse holds each event once, the player's, marked client-reported, as the client claimed it
    assert {row[0] for row in stored} == ids and len(stored) == 3
    assert {(row[1], row[2]) for row in stored} == {(user.pk, TELEMETRY_EVENT_TYPE)}
    data = sorted((json.loads(row[3]) for row in stored), key=lambda item: item["name"])
    assert data == [
        {"name": "game_open", "client_ts": None, "properties": {"game": "crash"}, "client_reported": True},
        {
            "name": "screen_view",
            "client_ts": "2025-05-01T12:00:00.000Z",
            "properties": {"screen": "lobby"},
            "client_reported": True,
        },
        {
            "name": "spin_button",
            "client_ts": None,
            "properties": {"game": "slot", "win_amount": 100_000},
            "client_reported": True,
        },
    ]
    # And the documented analytics query reads them
    assert names == [("game_open", 1), ("screen_view", 1), ("spin_button", 1)]
