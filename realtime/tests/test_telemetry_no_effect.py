"""Telemetry never drives game state: a thousand spins the client claims, with
wins, move no balance, ledger, statistic, daily limit, live figure, mission,
event or achievement, while real rounds move every one of them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from economy.enums import VipTier
from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from events.models import AchievementProgress, CountedSource, EventParticipation, EventProgress, MissionProgress
from events.services import event_join
from events.tests.factories import AchievementFactory, MissionTemplateFactory, event_with
from games.models import GameDailyLimit, GameRound, PlayerGameDay, PlayerGameStats
from realtime.models import Notification, OutboxEvent
from realtime.selectors import global_metrics
from realtime.telemetry import TELEMETRY_EVENT_TYPE

pytestmark = pytest.mark.django_db

BATCHES, PER_BATCH = 20, 50


def spin(client: APIClient) -> Any:
    return client.post(
        "/api/games/slot/spin", {"bet_amount": 10}, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())
    )


def rows(queryset: Any, *exclude: str) -> list[dict[str, Any]]:
    return [model_to_dict(row, exclude=list(exclude)) for row in queryset.order_by("pk")]


def game_state(user: Any) -> dict[str, Any]:
    """Everything a round, a claim or a reward may change for the player, and the live figures."""
    return {
        "wallet": model_to_dict(Wallet.objects.get(pk=user.pk)),
        "ledger": list(LedgerEntry.objects.filter(wallet_id=user.pk).order_by("pk").values_list("pk", flat=True)),
        "rounds": GameRound.objects.filter(user=user).count(),
        "stats": rows(PlayerGameStats.objects.filter(user=user)),
        "daily_units": rows(PlayerGameDay.objects.filter(user=user)),
        "missions": rows(MissionProgress.objects.filter(user=user)),
        "achievements": rows(AchievementProgress.objects.filter(user=user)),
        "events": rows(EventParticipation.objects.filter(user=user)),
        "event_progress": rows(EventProgress.objects.filter(user=user)),
        "counted_sources": CountedSource.objects.count(),
        "notifications": Notification.objects.filter(user=user).count(),
        "domain_events": sorted(
            OutboxEvent.objects.exclude(type=TELEMETRY_EVENT_TYPE).values_list("event_id", flat=True)
        ),
        "spins_last_hour": global_metrics().spins_last_hour,
    }


def test_a_thousand_claimed_spins_with_wins_advance_nothing_while_rounds_are_counted(
    auth_client: APIClient, settings: Any
) -> None:
    settings.CLICKHOUSE_URL = ""  # the live figures from the outbox, in this test's transaction
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "telemetry": "1000/minute"},
    }
    # Given a funded player in a live event, with a daily mission and an achievement counting
    # rounds, and a daily limit of two slot spins
    user = auth_client.user  # type: ignore[attr-defined]
    wallet_grant(user=user, bundle={"gold": 10_000}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}")
    MissionTemplateFactory(metric="rounds_played", target=5)
    AchievementFactory(metric="rounds_played", threshold=3)
    event_join(user=user, event_id=event_with({"rounds_played": 3}).pk)
    GameDailyLimit.objects.create(game="slot", vip_tier=VipTier.STANDARD, limit=2)
    # And one real spin, which every counter saw
    assert spin(auth_client).status_code == 200
    before = game_state(user)
    assert before["rounds"] == 1 and before["stats"][0]["plays"] == 1
    assert [row["units"] for row in before["daily_units"]] == [1]
    assert [row["value"] for row in before["missions"]] == [1]
    assert [row["value"] for row in before["achievements"]] == [1]
    assert [row["value"] for row in before["event_progress"]] == [1]
    assert before["spins_last_hour"] == 1

    # When the client reports a thousand spins with big wins, new and old paths alike
    claim = {"game": "slot", "bet_amount": 10, "win_amount": 100_000, "auto_spin": True}
    for batch in range(BATCHES):
        if batch % 2:
            body = {"items": [{"action_type": "SPIN_BUTTON", "context": claim, "user_id": user.pk}] * PER_BATCH}
            response = auth_client.post("/api/actions/bulk", body, format="json")
        else:
            body = {"events": [{"name": "spin_button", "properties": claim}] * PER_BATCH}
            response = auth_client.post("/api/telemetry/events", body, format="json")
        assert response.status_code == 202, response.json()

    # Then all of it is recorded, as claims
    claims = OutboxEvent.objects.filter(type=TELEMETRY_EVENT_TYPE, user_id=user.pk)
    assert claims.count() == BATCHES * PER_BATCH
    assert claims.filter(data__client_reported=True, data__properties__win_amount=100_000).count() == 1000
    # And nothing of the game moved: balance, ledger, rounds, stats, limits, progress, inbox, live figures
    assert game_state(user) == before
    # And the daily limit still holds its one remaining spin: the claims used none of it
    assert spin(auth_client).status_code == 200
    over = spin(auth_client)
    assert (over.status_code, over.json()["error"]) == (429, "daily_limit_reached")
    assert [row.units for row in PlayerGameDay.objects.filter(user=user)] == [2]
    assert MissionProgress.objects.get(user=user).value == 2
