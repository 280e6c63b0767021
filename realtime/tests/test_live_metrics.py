from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction
from django.test import AsyncClient
from django.utils import timezone

import realtime
from accounts.activity import record_activity
from accounts.tests.factories import UserFactory
from realtime import clickhouse
from realtime.selectors import global_metrics


def play_rounds(user: Any, wins: list[int]) -> list[str]:
    with transaction.atomic():
        return [
            str(
                realtime.emit(
                    "game_round",
                    user,
                    {
                        "game": "slot",
                        "bet_amount": 100,
                        "payout": win,
                        "result": "win" if win > 100 else "lose",
                        "round_id": index + 1,
                    },
                ).event_id
            )
            for index, win in enumerate(wins)
        ]


@pytest.mark.django_db
def test_postgres_path_counts_online_players_rounds_and_big_wins(settings: Any, user: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    settings.BIG_WIN_THRESHOLD_GOLD = 1000
    quiet = UserFactory(last_seen_at=timezone.now() - timedelta(minutes=6))
    record_activity(user.pk)
    play_rounds(user, [0, 999, 1000, 5000])
    with transaction.atomic():
        event = realtime.emit("game_round", user, {"game": "slot", "bet_amount": 1, "payout": 9000, "result": "win"})
    realtime.models.OutboxEvent.objects.filter(pk=event.pk).update(occurred_at=timezone.now() - timedelta(hours=2))

    metrics = global_metrics()

    assert metrics.source == "postgresql"
    assert metrics.online_users == 1  # the quiet player (seen 6 minutes ago) is not online
    assert quiet.last_seen_at is not None
    assert metrics.spins_last_hour == 4
    assert metrics.big_wins_last_hour == 2


@pytest.mark.django_db
def test_activity_is_recorded_by_authenticated_requests_not_by_login(auth_client: Any, settings: Any) -> None:
    from django.core.cache import cache

    settings.CLICKHOUSE_URL = ""
    user = auth_client.user
    assert user.last_seen_at is None
    cache.delete(f"seen:{user.pk}")

    auth_client.get("/api/auth/me")

    user.refresh_from_db()
    assert user.last_seen_at is not None
    assert global_metrics().online_users == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.services
def test_clickhouse_path_counts_each_event_once(clickhouse_db: str, settings: Any, user: Any) -> None:
    settings.BIG_WIN_THRESHOLD_GOLD = 1000
    play_rounds(user, [10, 2000, 50])
    envelopes = [row.envelope() for row in realtime.models.OutboxEvent.objects.filter(type="game_round")]
    ch = clickhouse.client()
    rows = clickhouse.rows_from_envelopes(envelopes, ingested=timezone.now())
    clickhouse.insert_rows(ch, rows)
    clickhouse.insert_rows(ch, rows[:2])  # a redelivered batch: duplicates before any merge
    ch.disconnect()

    metrics = global_metrics()

    assert metrics.source == "clickhouse"
    assert metrics.spins_last_hour == 3
    assert metrics.big_wins_last_hour == 1


@pytest.mark.django_db
def test_clickhouse_down_falls_back_to_postgres(settings: Any, user: Any) -> None:
    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/casino"
    play_rounds(user, [5000])

    metrics = global_metrics()

    assert (metrics.source, metrics.spins_last_hour, metrics.big_wins_last_hour) == ("postgresql", 1, 1)


@pytest.mark.django_db
def test_global_endpoint_is_public_cached_and_has_no_personal_data(api_client: Any, settings: Any, user: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    first = api_client.get("/api/metrics/global")
    play_rounds(user, [5000])
    cached = api_client.get("/api/metrics/global")

    assert first.status_code == 200
    assert set(first.json()) == {
        "online_users",
        "spins_last_hour",
        "big_wins_last_hour",
        "generated_at",
        "source",
        "big_wins_today",
        "jackpots_today",
    }
    assert cached.json() == first.json()  # within the 5-second cache


@pytest.mark.django_db(transaction=True)
def test_sse_stream_sends_metrics_events_with_correct_counts(settings: Any, user: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    settings.LIVE_METRICS_CACHE_SECONDS = 0
    settings.BIG_WIN_THRESHOLD_GOLD = 1000
    play_rounds(user, [1, 2, 3000])

    async def read_two_events() -> tuple[int, str, list[dict[str, Any]]]:
        response = await AsyncClient().get("/api/metrics/stream?interval=1", HTTP_ACCEPT="text/event-stream")
        events: list[dict[str, Any]] = []
        buffer = ""
        async for chunk in response.streaming_content:
            buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            while "\n\n" in buffer:
                frame, buffer = buffer.split("\n\n", 1)
                lines = dict(line.split(": ", 1) for line in frame.splitlines() if not line.startswith(":"))
                if lines.get("event") == "metrics":
                    events.append(json.loads(lines["data"]))
            if len(events) >= 2:
                break
        return response.status_code, response["Content-Type"], events

    status, content_type, events = async_to_sync(read_two_events)()

    assert status == 200
    assert content_type.startswith("text/event-stream")
    assert len(events) == 2
    assert all(event["spins_last_hour"] == 3 and event["big_wins_last_hour"] == 1 for event in events)
    assert events[1]["generated_at"] >= events[0]["generated_at"]


@pytest.mark.django_db
def test_sse_interval_must_be_a_number(api_client: Any) -> None:
    response = api_client.get("/api/metrics/stream?interval=soon")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


@pytest.mark.django_db
def test_admin_index_shows_pipeline_health_and_dead_rows_can_be_retried(staff_client: Any, user: Any) -> None:
    from casino.models import AuditLog
    from realtime.models import OutboxEvent

    with transaction.atomic():
        event = realtime.emit("stats_update", user, {})
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxEvent.Status.DEAD, attempts=10)

    index = staff_client.get("/admin/").content.decode()
    assert "Event pipeline" in index
    assert "?status__exact=dead" in index

    response = staff_client.post(
        "/admin/realtime/outboxevent/",
        {"action": "retry_dead", "_selected_action": [event.pk], "apply": "1", "reason": "broker fixed"},
    )

    assert response.status_code == 302
    row = OutboxEvent.objects.get(pk=event.pk)
    assert (row.status, row.attempts) == (OutboxEvent.Status.PENDING, 0)
    assert AuditLog.objects.get(action="outbox_retry_dead").reason == "broker fixed"
