"""Progress from what players do on the server (events/services/progress.py): rounds, counted
once each, advance joined events, missions of the current period and achievements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection

from economy.models import LedgerEntry
from economy.services import wallet_grant
from events.models import AchievementProgress, EventParticipation, MissionProgress
from events.services import event_claim, event_join, progress_count
from events.tests.factories import AchievementFactory, MissionTemplateFactory, event_with
from games.services import Decision, Draw, round_play
from realtime.models import OutboxEvent
from realtime.registry import DomainEvent
from realtime.tests.outbox import announced


@pytest.fixture(autouse=True, params=["one statement", "a statement each"])
def counting_path(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test counts both ways: PostgreSQL's one statement, and the claim and each advance
    apart (what SQLite, the embedded mode's database, runs)."""
    from events.services import progress

    if request.param == "a statement each":
        monkeypatch.setattr(progress, "_count_in_one_statement", progress._count_apart)
    return str(request.param)


def fund(user: Any, gold: int = 100_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, key: str, *, game: str = "rps", bet: int = 10, payout: int = 0) -> Any:
    def decide(draw: Draw) -> Decision:
        return Decision(payout=payout, inputs={}, outcome={}, subtype="test")

    return round_play(user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint="f", decide=decide)


@pytest.mark.django_db
def test_rounds_complete_a_joined_event_and_the_reward_is_claimed_once(user: Any) -> None:
    # Given a player who joined an event requiring 3 rounds and 100 gold bet
    fund(user)
    event = event_with({"rounds_played": 3, "amount_bet": 100}, reward_gold=500)
    event_join(user=user, event_id=event.pk)
    # When they play 3 rounds of 40
    for index in range(3):
        play(user, f"r{index}", bet=40)
    # Then the participation is complete, with a version per change
    participation = EventParticipation.objects.get(event=event, user=user)
    assert participation.completed_at is not None and participation.progress_version == 3
    # And the reward is paid once
    first = event_claim(user=user, event_id=event.pk)
    assert first.rewards == {"gold": 500}
    from events.exceptions import RewardAlreadyClaimed

    with pytest.raises(RewardAlreadyClaimed):
        event_claim(user=user, event_id=event.pk)
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="event_reward").count() == 1


@pytest.mark.django_db
def test_rounds_before_joining_do_not_count(user: Any) -> None:
    fund(user)
    event = event_with({"rounds_played": 2})
    play(user, "before")
    event_join(user=user, event_id=event.pk)
    play(user, "after")
    assert EventParticipation.objects.get(event=event, user=user).completed_at is None


@pytest.mark.django_db
def test_a_per_game_requirement_counts_only_that_game(user: Any) -> None:
    fund(user)
    event = event_with([("rounds_played", "slot", 1)])
    event_join(user=user, event_id=event.pk)
    play(user, "rps", game="rps")
    assert EventParticipation.objects.get(event=event).completed_at is None
    play(user, "slot", game="slot")
    assert EventParticipation.objects.get(event=event).completed_at is not None


@pytest.mark.django_db
def test_a_round_delivered_twice_counts_once(user: Any) -> None:
    # Given a mission and a played round
    fund(user)
    MissionTemplateFactory(metric="rounds_played", target=5)
    round_ = play(user, "once").round
    progress = MissionProgress.objects.get(user=user)
    assert progress.value == 1
    # When the subscriber runs again for the same round
    again = DomainEvent(
        event_id="x",
        type="game_round",
        user=None,
        user_id=user.pk,
        data={"round_id": round_.pk, "game": "rps", "bet_amount": 10, "payout": 0, "result": "lose"},
        timestamp="",
    )
    from django.db import transaction

    with transaction.atomic():
        report = progress_count(event=again)
    # Then nothing is counted twice
    assert report.counted is False
    progress.refresh_from_db()
    assert progress.value == 1


@pytest.mark.django_db
def test_missions_reset_at_the_utc_day_and_the_iso_week(user: Any) -> None:
    fund(user)
    daily = MissionTemplateFactory(period="daily", target=2)
    weekly = MissionTemplateFactory(period="weekly", target=10)
    sunday_night = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)  # a Sunday
    with time_machine.travel(sunday_night, tick=False):
        play(user, "sun-1")
        play(user, "sun-2")
    with time_machine.travel(sunday_night + timedelta(minutes=2), tick=False):
        play(user, "mon-1")
    rows = {
        (p.template_id, p.period_start.isoformat()): (p.value, p.completed_at is not None)
        for p in MissionProgress.objects.filter(user=user)
    }
    assert rows == {
        (daily.pk, "2026-12-06"): (2, True),
        (daily.pk, "2026-12-07"): (1, False),
        (weekly.pk, "2026-11-30"): (2, False),
        (weekly.pk, "2026-12-07"): (1, False),
    }


@pytest.mark.django_db
def test_an_achievement_unlocks_once_and_pays_once(user: Any) -> None:
    fund(user)
    achievement = AchievementFactory(metric="rounds_played", threshold=2, reward_gems=7)
    for index in range(4):
        play(user, f"a{index}")
    progress = AchievementProgress.objects.get(user=user, achievement=achievement)
    assert progress.unlocked_at is not None and progress.value == 2  # frozen once unlocked
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="achievement").count() == 1
    unlocked = [e for e in announced(types=("achievement_progress",)) if e.data["unlocked_now"]]
    assert len(unlocked) == 1


@pytest.mark.django_db
def test_win_streak_keeps_the_best_value(user: Any) -> None:
    fund(user)
    achievement = AchievementFactory(metric="win_streak", threshold=3)
    play(user, "w1", payout=20)
    play(user, "w2", payout=20)
    play(user, "l1", payout=0)
    play(user, "w3", payout=20)
    progress = AchievementProgress.objects.get(achievement=achievement)
    assert (progress.value, progress.unlocked_at) == (2, None)


@pytest.mark.django_db(transaction=True)
def test_50_parallel_rounds_advance_a_mission_by_exactly_50(user: Any, parallel: Any) -> None:
    fund(user)
    MissionTemplateFactory(metric="rounds_played", target=1000)

    def one(index: int) -> None:
        try:
            play(user, f"p{index}")
        finally:
            connection.close()

    parallel(50, one)
    assert MissionProgress.objects.get(user=user).value == 50


@pytest.mark.django_db
def test_a_round_counts_towards_events_missions_and_achievements_in_one_statement(
    user: Any, counting_path: str
) -> None:
    from django.test.utils import CaptureQueriesContext

    fund(user)
    event = event_with({"rounds_played": 1, "amount_bet": 1000})
    event_join(user=user, event_id=event.pk)
    MissionTemplateFactory(period="daily", metric="rounds_played", target=1)
    AchievementFactory(metric="amount_bet", threshold=10_000)
    from events.definitions import definitions

    definitions()  # what is in force, read before (kept per process)
    with CaptureQueriesContext(connection) as queries:
        play(user, "one", bet=10)

    progress = [query["sql"] for query in queries if "events_" in query["sql"]]
    expected = 1 if counting_path == "one statement" else 5  # claim, requirements, participation, 2 upserts
    assert len(progress) == expected, progress
    participation = EventParticipation.objects.get(event=event, user=user)
    assert (participation.progress_version, participation.completed_at) == (1, None)  # amount_bet 10 of 1000
    assert MissionProgress.objects.get(user=user).completed_at is not None
    assert AchievementProgress.objects.get(user=user).value == 10


@pytest.mark.django_db
def test_a_completed_mission_or_unlocked_achievement_is_neither_rewritten_nor_announced_again(user: Any) -> None:
    fund(user)
    done = MissionTemplateFactory(period="daily", metric="rounds_played", target=1)
    open_one = MissionTemplateFactory(period="daily", metric="rounds_played", target=5)
    AchievementFactory(metric="rounds_played", threshold=1)
    play(user, "first")
    frozen = MissionProgress.objects.get(user=user, template=done)
    unlocked = AchievementProgress.objects.get(user=user)
    seen = set(OutboxEvent.objects.values_list("pk", flat=True))

    play(user, "second")

    later = announced(OutboxEvent.objects.exclude(pk__in=seen), types=("event_progress", "achievement_progress"))
    assert [(event.type, event.data.get("mission_id")) for event in later] == [("event_progress", open_one.pk)]
    assert MissionProgress.objects.get(pk=frozen.pk).updated_at == frozen.updated_at
    assert AchievementProgress.objects.get(pk=unlocked.pk).updated_at == unlocked.updated_at


@pytest.mark.django_db
def test_a_claim_trusts_the_requirement_rows_when_the_completion_flag_lagged(user: Any) -> None:
    from events.exceptions import NotCompleted
    from events.models import EventProgress

    fund(user)
    event = event_with({"rounds_played": 1, "purchases": 1}, reward_gold=300)
    event_join(user=user, event_id=event.pk)
    play(user, "round")  # one requirement met, one not: not complete
    with pytest.raises(NotCompleted):
        event_claim(user=user, event_id=event.pk)
    # The other requirement reached by a parallel transaction whose completion check missed this one
    EventProgress.objects.filter(participation__event=event, metric="purchases").update(value=1)
    assert EventParticipation.objects.get(event=event, user=user).completed_at is None
    # The player is shown it complete (the events list, the dashboard's events) ...
    from events.mission_selectors import dashboard_events
    from events.selectors import event_payloads

    (listed,) = event_payloads([event], user_id=user.pk)
    assert listed["user_participation"]["completed"] is True
    assert [(row["id"], row["completed"]) for row in dashboard_events(user)] == [(event.pk, True)]

    # ... and can claim it
    result = event_claim(user=user, event_id=event.pk)

    participation = EventParticipation.objects.get(event=event, user=user)
    assert result.rewards == {"gold": 300}
    assert participation.completed_at is not None and participation.claimed_at is not None
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="event_reward").count() == 1
