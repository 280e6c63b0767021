"""The player's missions through the API (events/api, missions section): lists of the current
UTC day / ISO week with ``reset_at``, claiming once per period, only the running period, progress
refused from the client, and the home dashboard's events and missions sections."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy.models import LedgerEntry
from economy.services import wallet_grant
from events.models import MissionProgress
from events.services import event_join, mission_claim_key
from events.tests.factories import MissionTemplateFactory, event_with
from games.services import Decision, Draw, round_play
from realtime.models import OutboxEvent

pytestmark = pytest.mark.django_db

SUNDAY_NIGHT = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)  # the last minute of ISO week 2026-W49
MONDAY = SUNDAY_NIGHT + timedelta(minutes=2)
WEDNESDAY = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)


def fund(user: Any, gold: int = 100_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, *, game: str = "rps", bet: int = 10, payout: int = 0) -> Any:
    def decide(draw: Draw) -> Decision:
        return Decision(payout=payout, inputs={}, outcome={}, subtype="test")

    key = str(uuid.uuid4())
    return round_play(user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint=key, decide=decide)


def client_for(user: Any) -> APIClient:
    """A client with a token issued now (tokens expire: issue one inside each time travel)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


def claim(client: APIClient, mission_id: int, key: str | None = None) -> Any:
    return client.post(
        f"/api/events/missions/claim/{mission_id}", {}, format="json", HTTP_X_IDEMPOTENCY_KEY=key or str(uuid.uuid4())
    )


def by_mission(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["mission"]["id"]: row for row in rows}


MISSION_FIELDS = ("id", "title", "description", "mission_type", "category", "target_value", "rewards", "icon")
ROW_FIELDS = ("mission", "current_progress", "completed", "claimed", "reset_at")


def test_missions_list_the_current_period_with_the_clients_fields(user: Any) -> None:
    # Given a daily and a weekly mission, one round played
    fund(user)
    daily = MissionTemplateFactory(period="daily", target=2, title="Two rounds", category="play", icon="dice")
    weekly = MissionTemplateFactory(period="weekly", target=5, reward_gold=0, reward_gems=3)
    MissionTemplateFactory(period="daily", is_active=False)  # switched off: not listed
    with time_machine.travel(WEDNESDAY, tick=False):
        play(user)
        client = client_for(user)
        # When the client lists daily, weekly and all
        daily_rows = client.get("/api/events/missions/daily").json()
        weekly_rows = client.get("/api/events/missions/weekly").json()
        all_rows = client.get("/api/events/missions/all/").json()  # both slash forms are served

    # Then each list holds its period's active missions, daily first in /all, with every field
    assert [row["mission"]["id"] for row in daily_rows] == [daily.pk]
    assert [row["mission"]["id"] for row in weekly_rows] == [weekly.pk]
    assert [row["mission"]["id"] for row in all_rows] == [daily.pk, weekly.pk]
    for row in all_rows:
        assert set(ROW_FIELDS) <= set(row)
        assert set(MISSION_FIELDS) | {"reset_period"} <= set(row["mission"])
    row = daily_rows[0]
    assert {
        "title": "Two rounds",
        "mission_type": "daily",
        "reset_period": "daily",
        "category": "play",
        "icon": "dice",
        "target_value": 2,
    }.items() <= row["mission"].items()
    assert row["mission"]["rewards"] == {"gold": 100, "gems": 0, "xp": 0, "exp": 0, "items": []}
    assert (row["current_progress"], row["completed"], row["claimed"]) == (1, False, False)
    assert row["reset_at"] == "2026-12-10T00:00:00Z"
    assert weekly_rows[0]["reset_at"] == "2026-12-14T00:00:00Z"
    assert weekly_rows[0]["mission"]["rewards"]["gems"] == 3


def test_the_missions_answer_renders_as_drfs_own_serializers_render_it(user: Any) -> None:
    import copy

    from rest_framework import serializers

    from events import mission_selectors
    from events.api.serializers import PlayerMissionSerializer

    def plain(cls: type) -> type:
        """The same declared fields, nested serializers too, on DRF's own serializer."""
        declared = copy.deepcopy(cls._declared_fields)
        for name, field in declared.items():
            if isinstance(field, serializers.Serializer):
                declared[name] = plain(type(field))(**field._kwargs)
        return type(f"Plain{cls.__name__}", (serializers.Serializer,), declared)

    fund(user)
    MissionTemplateFactory(period="daily", target=2, reward_items=[{"code": "charm", "amount": 1}])
    MissionTemplateFactory(period="weekly", target=1)
    with time_machine.travel(WEDNESDAY, tick=False):
        play(user)
        missions = mission_selectors.missions_for_user(user, period=None)

    rendered = PlayerMissionSerializer(missions, many=True).data
    assert len(rendered) == 2 and rendered[1]["completed"] is True
    assert rendered == plain(PlayerMissionSerializer)(missions, many=True).data


def test_a_mission_the_player_has_not_started_shows_progress_zero(user: Any) -> None:
    template = MissionTemplateFactory(period="weekly", target=7)
    rows = client_for(user).get("/api/events/missions/weekly").json()
    assert rows[0] | {"mission": None, "reset_at": None, "period_start": None} == {
        "id": None,
        "mission_id": template.pk,
        "mission": None,
        "current_progress": 0,
        "target_value": 7,
        "completed": False,
        "claimed": False,
        "completed_at": None,
        "claimed_at": None,
        "period_start": None,
        "reset_at": None,
    }
    assert not MissionProgress.objects.exists()  # a read creates nothing


def test_missions_reset_at_the_utc_day_and_iso_week_boundaries(user: Any) -> None:
    # Given a daily mission of 2 rounds and a weekly one of 10, played on Sunday night
    fund(user)
    daily = MissionTemplateFactory(period="daily", target=2)
    weekly = MissionTemplateFactory(period="weekly", target=10)
    with time_machine.travel(SUNDAY_NIGHT, tick=False):
        play(user)
        play(user)
        sunday = by_mission(client_for(user).get("/api/events/missions/all").json())
    # Then on Sunday the daily one is complete, and both reset at Monday 00:00 UTC
    assert (sunday[daily.pk]["current_progress"], sunday[daily.pk]["completed"]) == (2, True)
    assert sunday[weekly.pk]["current_progress"] == 2
    assert sunday[daily.pk]["reset_at"] == sunday[weekly.pk]["reset_at"] == "2026-12-07T00:00:00Z"

    # When the UTC day and the ISO week turn (two minutes later) and one more round is played
    with time_machine.travel(MONDAY, tick=False):
        fresh = by_mission(client_for(user).get("/api/events/missions/all").json())
        play(user)
        monday = by_mission(client_for(user).get("/api/events/missions/all").json())
    # Then both start again from zero, with the next boundaries
    assert (fresh[daily.pk]["current_progress"], fresh[daily.pk]["completed"]) == (0, False)
    assert fresh[weekly.pk]["current_progress"] == 0
    assert fresh[daily.pk]["reset_at"] == "2026-12-08T00:00:00Z"
    assert fresh[weekly.pk]["reset_at"] == "2026-12-14T00:00:00Z"
    assert monday[daily.pk]["current_progress"] == monday[weekly.pk]["current_progress"] == 1

    # And on Wednesday the weekly one still counts Monday's round while the daily one is new again
    with time_machine.travel(WEDNESDAY, tick=False):
        play(user)
        wednesday = by_mission(client_for(user).get("/api/events/missions/all").json())
    assert (wednesday[daily.pk]["current_progress"], wednesday[weekly.pk]["current_progress"]) == (1, 2)
    assert wednesday[weekly.pk]["reset_at"] == "2026-12-14T00:00:00Z"


def test_a_completed_mission_is_claimed_once_per_period(user: Any) -> None:
    # Given a completed daily mission worth 300 gold and 5 gems
    fund(user, 1000)
    template = MissionTemplateFactory(period="daily", target=1, reward_gold=300, reward_gems=5)
    with time_machine.travel(WEDNESDAY, tick=False):
        play(user, bet=10)
        client = client_for(user)
        # When the client claims it, then claims again with a new key, then retries the first key
        key = str(uuid.uuid4())
        first = claim(client, template.pk, key)
        second = claim(client, template.pk)
        retry = claim(client, template.pk, key)
        listed = client.get("/api/events/missions/daily").json()[0]

    # Then the first pays, with the fields the client reads
    assert first.status_code == 200, first.json()
    body = first.json()
    assert body["rewards"] == {"gold": 300, "gems": 5, "xp": 0, "exp": 0, "items": []}
    assert body["reward_items"] == [{"type": "gold", "amount": 300}, {"type": "gems", "amount": 5}]
    assert body["new_balance"] == 1000 - 10 + 300
    assert (body["claimed"], body["awarded_gold"], body["mission_id"]) == (True, 300, template.pk)
    assert body["reset_at"] == "2026-12-10T00:00:00Z"
    # And the second is refused, the retry replays the first answer
    assert second.status_code == 409
    assert second.json()["error"] == "reward_already_claimed"
    assert retry.json() == body
    # And exactly one grant exists, under the mission's natural key
    grants = LedgerEntry.objects.filter(wallet_id=user.pk, reason="mission_reward")
    key_expected = mission_claim_key(user.pk, template.pk, WEDNESDAY.date())
    assert sorted((entry.currency, entry.delta, entry.idempotency_key) for entry in grants) == [
        ("gems", 5, key_expected),
        ("gold", 300, key_expected),
    ]
    assert (listed["completed"], listed["claimed"]) == (True, True)
    assert OutboxEvent.objects.filter(type="reward_granted", data__mission_id=template.pk).count() == 1
    announced = OutboxEvent.objects.filter(type="event_progress", data__kind="mission", data__claimed=True)
    assert announced.count() == 1


def test_a_claim_reads_no_template_and_writes_claimed_at_with_its_outbox_rows(user: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from events.services import mission_claim

    fund(user, 1000)
    template = MissionTemplateFactory(period="daily", target=1, reward_gold=300)
    with time_machine.travel(WEDNESDAY, tick=False):
        play(user, bet=10)
        client_for(user).get("/api/events/missions/daily")  # the process's copies are loaded
        with CaptureQueriesContext(connection) as queries:
            result = mission_claim(user=user, mission_id=template.pk)

    statements = [query["sql"] for query in queries.captured_queries]
    assert not [sql for sql in statements if "events_missiontemplate" in sql]  # the copy's template
    touching = [sql for sql in statements if "events_missionprogress" in sql]
    assert len(touching) == 2, touching  # the lock by its unique key, then the last statement
    assert "FOR NO KEY UPDATE" in touching[0] or connection.vendor != "postgresql"
    assert "realtime_outboxevent" in touching[1] or connection.vendor != "postgresql"
    row = MissionProgress.objects.get(pk=result.progress.pk)
    assert row.claimed_at is not None and row.claimed_at == result.progress.claimed_at


def test_a_previous_periods_completed_mission_cannot_be_claimed(user: Any) -> None:
    # Given a daily mission completed on Sunday night and not claimed
    fund(user)
    template = MissionTemplateFactory(period="daily", target=1, reward_gold=500)
    with time_machine.travel(SUNDAY_NIGHT, tick=False):
        play(user)
    # When the player claims it after UTC midnight
    with time_machine.travel(MONDAY, tick=False):
        late = claim(client_for(user), template.pk)
    # Then the claim is about today's (empty) instance: not completed, nothing paid
    assert late.status_code == 409
    assert late.json() | {"message": None} == {
        "error": "not_completed",
        "message": None,
        "current_progress": 0,
        "target_value": 1,
        "reset_at": "2026-12-08T00:00:00Z",
    }
    assert not LedgerEntry.objects.filter(reason="mission_reward").exists()
    sunday = MissionProgress.objects.get(user=user, period_start=SUNDAY_NIGHT.date())
    assert sunday.completed_at is not None and sunday.claimed_at is None


def test_claim_refusals_name_their_reason(user: Any) -> None:
    fund(user)
    started = MissionTemplateFactory(period="daily", target=3)
    switched_off = MissionTemplateFactory(period="daily", target=1, is_active=False)
    play(user)
    client = client_for(user)

    not_done = claim(client, started.pk)
    unknown = claim(client, 999_999)
    off = claim(client, switched_off.pk)

    assert (not_done.status_code, not_done.json()["error"]) == (409, "not_completed")
    assert (not_done.json()["current_progress"], not_done.json()["target_value"]) == (1, 3)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "mission_not_found")
    assert (off.status_code, off.json()["error"]) == (404, "mission_not_found")
    assert not LedgerEntry.objects.filter(reason="mission_reward").exists()


def test_a_mission_switched_off_after_completion_can_still_be_claimed_this_period(user: Any) -> None:
    fund(user)
    template = MissionTemplateFactory(period="daily", target=1, reward_gold=40)
    play(user)
    template.is_active = False
    template.save(update_fields=["is_active"])

    answer = claim(client_for(user), template.pk)

    assert answer.status_code == 200, answer.json()
    assert answer.json()["awarded_gold"] == 40


@pytest.mark.parametrize("method", ["put", "post", "patch"])
@pytest.mark.parametrize("path", ["/api/events/missions/progress", "/api/events/missions/progress/"])
def test_a_client_cannot_send_mission_progress(user: Any, method: str, path: str) -> None:
    # Given a mission in progress
    fund(user)
    template = MissionTemplateFactory(period="daily", target=5)
    play(user)
    before = list(MissionProgress.objects.values_list("value", "completed_at"))
    # When the client sends progress the way the earlier product let it
    answer = getattr(client_for(user), method)(
        path,
        {"mission_id": template.pk, "progress_increment": 100},
        format="json",
        HTTP_X_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    # Then it is refused with a clear 4xx, and nothing changes
    assert answer.status_code == 405
    assert answer.json()["error"] == "progress_is_server_side"
    assert list(MissionProgress.objects.values_list("value", "completed_at")) == before


def test_missions_need_a_signed_in_player() -> None:
    anonymous = APIClient()
    assert anonymous.get("/api/events/missions/daily").status_code == 401
    assert anonymous.post("/api/events/missions/claim/1", {}, format="json").status_code == 401


def test_the_dashboard_lists_running_events_and_todays_missions(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a running event, one that has ended, a daily and a weekly mission
    fund(user)
    running = event_with({"rounds_played": 5}, title="Spin week", priority=5)
    ended = {"starts_at": datetime(2026, 1, 1, tzinfo=UTC), "ends_at": datetime(2026, 2, 1, tzinfo=UTC)}
    event_with({"rounds_played": 5}, **ended)
    daily = MissionTemplateFactory(period="daily", target=4, title="Four rounds")
    MissionTemplateFactory(period="weekly", target=4)
    play(user)
    client = client_for(user)
    # When the home screen is read (and cached)
    home = client.get("/api/dashboard").json()
    # Then it shows the running event (not joined) and today's mission with its progress
    assert [(event["id"], event["title"], event["joined"]) for event in home["events"]] == [
        (running.pk, "Spin week", False)
    ]
    assert [(row["mission_id"], row["current_progress"], row["target_value"]) for row in home["missions"]] == [
        (daily.pk, 1, 4)
    ]
    assert set(home["missions"][0]) >= {"title", "completed", "claimed", "reset_at", "rewards"}

    # When the player joins the event (an event_progress, no balance change)
    with django_capture_on_commit_callbacks(execute=True):
        event_join(user=user, event_id=running.pk)
    # Then the cached page is dropped and the next read shows the participation
    again = client.get("/api/dashboard").json()
    assert again["events"][0]["joined"] is True
