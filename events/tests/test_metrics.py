"""Prometheus metrics of events/ (events/metrics.py): claims counted by kind and result (refusals
by their code, unexpected failures as ``error``), staff force-claims, joins, and progress and
achievement unlocks counted on commit of the emitter's transaction, never before."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from accounts.tests.staff import staff_with
from economy.services import wallet_grant
from events import metrics
from events.exceptions import NotCompleted, NotJoined, RewardAlreadyClaimed
from events.services import event_claim, event_force_claim, event_join, mission_claim
from events.tests.factories import AchievementFactory, MissionTemplateFactory, event_with
from games.services import Decision, Draw, round_play

# The label names the live-ops series may carry: bounded sets, never a player, event or mission.
ALLOWED_LABELS = {"source", "kind", "result"}


def fund(user: Any, gold: int = 100_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, key: str) -> Any:
    def decide(draw: Draw) -> Decision:
        return Decision(payout=0, inputs={}, outcome={}, subtype="test")

    return round_play(user=user, game="rps", bet_amount=10, idempotency_key=key, fingerprint="f", decide=decide)


def claims(kind: str, result: str) -> float:
    return REGISTRY.get_sample_value("live_ops_claims_total", {"kind": kind, "result": result}) or 0.0


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_an_event_claim_counts_once_and_the_second_claim_as_its_refusal(user: Any) -> None:
    # Given a player who joined and completed a one-round event
    fund(user)
    event = event_with({"rounds_played": 1}, reward_gold=500)
    joins_before = value("live_ops_event_joins_total")
    event_join(user=user, event_id=event.pk)
    event_join(user=user, event_id=event.pk)  # joined already: not a new join
    play(user, "r1")
    claimed, refused = claims("event", "claimed"), claims("event", "reward_already_claimed")
    # When they claim, then claim again
    event_claim(user=user, event_id=event.pk)
    with pytest.raises(RewardAlreadyClaimed):
        event_claim(user=user, event_id=event.pk)
    # Then one join, one claim and one refusal (by its code) are counted
    assert value("live_ops_event_joins_total") - joins_before == 1
    assert claims("event", "claimed") - claimed == 1
    assert claims("event", "reward_already_claimed") - refused == 1


@pytest.mark.django_db
def test_a_claim_of_an_event_not_joined_counts_its_refusal_and_no_claim(user: Any) -> None:
    event = event_with({"rounds_played": 1})
    claimed, refused = claims("event", "claimed"), claims("event", "not_joined")

    with pytest.raises(NotJoined):
        event_claim(user=user, event_id=event.pk)

    assert (claims("event", "claimed") - claimed, claims("event", "not_joined") - refused) == (0, 1)


@pytest.mark.django_db
def test_a_mission_claim_counts_as_kind_mission_and_an_unfinished_one_as_not_completed(user: Any) -> None:
    # Given a one-round daily mission done and a three-round one started
    fund(user)
    done = MissionTemplateFactory(target=1, reward_gold=100)
    started = MissionTemplateFactory(target=3, reward_gold=100)
    play(user, "r1")
    claimed, refused = claims("mission", "claimed"), claims("mission", "not_completed")
    # When the player claims both
    mission_claim(user=user, mission_id=done.pk)
    with pytest.raises(NotCompleted):
        mission_claim(user=user, mission_id=started.pk)
    # Then one mission claim and one not_completed refusal are counted
    assert claims("mission", "claimed") - claimed == 1
    assert claims("mission", "not_completed") - refused == 1


@pytest.mark.django_db
def test_staff_force_claims_count_paid_then_already_paid(user: Any) -> None:
    # Given an event the player never joined, and a live-ops manager who may force-claim
    event = event_with({"rounds_played": 5}, reward_gold=300)
    _, staff = staff_with("events.force_claim_event")
    paid, again = (
        value("live_ops_force_claims_total", kind="event", result="paid"),
        value("live_ops_force_claims_total", kind="event", result="already_paid"),
    )
    player_claims = claims("event", "claimed")
    # When staff force-claim it twice
    first = event_force_claim(actor=staff, user_id=user.pk, event_id=event.pk, reason="ticket 42")
    second = event_force_claim(actor=staff, user_id=user.pk, event_id=event.pk, reason="ticket 42")
    # Then the first paid, the second found it paid; neither is a player's claim
    assert (first.claimed_now, second.claimed_now) == (True, False)
    assert value("live_ops_force_claims_total", kind="event", result="paid") - paid == 1
    assert value("live_ops_force_claims_total", kind="event", result="already_paid") - again == 1
    assert claims("event", "claimed") == player_claims


@pytest.mark.django_db
def test_progress_and_an_unlock_count_when_the_round_commits_not_before(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given an achievement with a reward unlocked by one round, and a funded player
    fund(user)
    AchievementFactory(metric="rounds_played", threshold=1, reward_gems=5)
    progress = value("live_ops_progress_events_total", source="game_round")
    unlocks = value("live_ops_achievement_unlocks_total")
    rewards = claims("achievement", "claimed")
    # When a round is played, its on-commit callbacks held back
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        play(user, "r1")
    # Then nothing is counted yet
    assert value("live_ops_progress_events_total", source="game_round") == progress
    assert value("live_ops_achievement_unlocks_total") == unlocks
    # When the transaction's on-commit callbacks run (it committed)
    for callback in callbacks:
        callback()
    # Then the counted round, the unlock and the achievement's reward are counted once
    assert value("live_ops_progress_events_total", source="game_round") - progress == 1
    assert value("live_ops_achievement_unlocks_total") - unlocks == 1
    assert claims("achievement", "claimed") - rewards == 1


@pytest.mark.django_db
def test_a_round_nothing_counts_towards_adds_no_progress_event(
    user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given no event, mission or achievement counting rounds
    fund(user)
    progress = value("live_ops_progress_events_total", source="game_round")
    # When a round is played and committed
    with django_capture_on_commit_callbacks(execute=True):
        play(user, "r1")
    # Then no progress event is counted (nothing was advanced)
    assert value("live_ops_progress_events_total", source="game_round") == progress


@pytest.mark.django_db  # reading the registry runs the collectors that query the database
def test_an_unexpected_failure_inside_a_claim_counts_as_error() -> None:
    before = claims("mission", "error")

    with pytest.raises(RuntimeError), metrics.claim_counted("mission"):
        raise RuntimeError("the database went away")

    assert claims("mission", "error") - before == 1


@pytest.mark.django_db
def test_the_live_ops_series_carry_no_player_or_event_label(user: Any) -> None:
    # Given a claim and a refusal
    fund(user)
    event = event_with({"rounds_played": 1})
    event_join(user=user, event_id=event.pk)
    play(user, "r1")
    event_claim(user=user, event_id=event.pk)
    with pytest.raises(RewardAlreadyClaimed):
        event_claim(user=user, event_id=event.pk)
    # When every live_ops_ series is read
    labels = {
        name
        for metric in REGISTRY.collect()
        if metric.name.startswith("live_ops_")
        for sample in metric.samples
        for name in sample.labels
    }
    # Then their labels are the bounded ones only
    assert labels and labels <= ALLOWED_LABELS
