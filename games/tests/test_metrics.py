"""Prometheus metrics of games/ (games/metrics.py): what a spin, a live crash round and a gacha pull
add to the counters (read from prometheus_client's REGISTRY before and after), that a replay or a
refusal adds nothing, the open-rounds gauges read at scrape time, and labels that name no player."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from prometheus_client import REGISTRY

from accounts.tests.factories import UserFactory
from economy.exceptions import InsufficientFunds
from economy.services import wallet_grant
from games.exceptions import BetOutOfRange
from games.fairness import crash_point_hundredths, seed_hash
from games.models import FairnessSeed, GachaPity, GameRound
from games.services import Decision, Draw, crash_bet, crash_settle_due, gacha_pull, round_play, slot_spin

RESULTS = ("win", "lose", "draw")
# The label names the games' series may carry: bounded sets, never a player or a round.
ALLOWED_LABELS = {"game", "result", "currency", "rarity"}


def fund(user: Any, gold: int = 100_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def snapshot(game: str) -> dict[str, float]:
    """The game's counters now (gold is every game's currency in the shipped configuration)."""
    return {
        "bets": value("games_bets_total", game=game),
        "bet_amount": value("games_bet_amount_total", game=game, currency="gold"),
        "paid": value("games_paid_amount_total", game=game, currency="gold"),
        "big_wins": value("games_big_wins_total", game=game),
        **{result: value("games_rounds_total", game=game, result=result) for result in RESULTS},
    }


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in before if after[key] != before[key]}


def fixed_decision(payout: int) -> Any:
    def decide(draw: Draw) -> Decision:
        return Decision(payout=payout, inputs={}, outcome={}, subtype="test")

    return decide


@pytest.mark.django_db
def test_a_slot_spin_counts_one_bet_one_settled_round_and_what_it_paid(user: Any) -> None:
    # Given a funded player
    fund(user)
    before = snapshot("slot")
    # When they spin once for 100
    spin = slot_spin(user=user, bet_amount=100, idempotency_key="metrics-spin")
    # Then one bet of 100 and one round with its result are counted, and the payout if any
    round_ = spin.round
    expected = {"bets": 1.0, "bet_amount": 100.0, round_.result: 1.0}
    if round_.payout:
        expected["paid"] = float(round_.payout)
    if round_.payout >= 10 * round_.bet_amount:
        expected["big_wins"] = 1.0
    assert delta(before, snapshot("slot")) == expected


@pytest.mark.django_db
def test_a_replayed_spin_and_refused_bets_count_nothing(user: Any) -> None:
    # Given a spin already played with a key, and another player with 50 gold
    fund(user)
    slot_spin(user=user, bet_amount=100, idempotency_key="once")
    poor = UserFactory()
    fund(poor, 50)
    before = snapshot("slot")
    # When the spin is retried with the same key, a bet over the balance is refused (after its
    # round was written, rolled back with it), and a bet under the minimum is refused
    assert slot_spin(user=user, bet_amount=100, idempotency_key="once").replayed
    with pytest.raises(InsufficientFunds):
        slot_spin(user=poor, bet_amount=100, idempotency_key="too-much")
    with pytest.raises(BetOutOfRange):
        slot_spin(user=user, bet_amount=1, idempotency_key="too-little")
    # Then no counter moved
    assert delta(before, snapshot("slot")) == {}


@pytest.mark.django_db
def test_a_round_paying_ten_times_the_bet_is_a_big_win_and_its_payout_is_counted(user: Any) -> None:
    # Given a funded player
    fund(user)
    before = snapshot("rps")
    # When a round of 20 pays 200 (10x: the threshold of a big win)
    round_play(user=user, game="rps", bet_amount=20, idempotency_key="big", fingerprint="f", decide=fixed_decision(200))
    # Then it counts as a won round, a big win, 20 bet and 200 paid
    assert delta(before, snapshot("rps")) == {"bets": 1, "bet_amount": 20, "win": 1, "paid": 200, "big_wins": 1}


def live_crash_seed(user: Any) -> None:
    """Give the player a seed whose first crash point is between 2.00 and 100.00: a live round that
    neither ends at once nor pays at the cap."""
    client_seed = "metrics"
    for index in range(10_000):
        server_seed = hashlib.sha256(f"metrics-seed-{index}".encode()).hexdigest()
        if 200 <= crash_point_hundredths(server_seed, client_seed, 0) <= 10_000:
            break
    FairnessSeed.objects.create(
        user=user,
        server_seed=server_seed,
        server_seed_hash=seed_hash(server_seed),
        client_seed=client_seed,
        created_at=timezone.now(),
    )


@pytest.mark.django_db
def test_a_live_crash_round_counts_its_bet_at_once_and_its_loss_when_it_ends(user: Any) -> None:
    # Given a player whose next crash round runs live
    fund(user)
    live_crash_seed(user)
    before = snapshot("crash")
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        # When they bet 50 without a target
        played = crash_bet(user=user, bet_amount=50, auto_cashout_multiplier=None, idempotency_key="live")
        # Then the bet is counted, the round not yet, and the open-rounds gauge shows it in time
        assert delta(before, snapshot("crash")) == {"bets": 1, "bet_amount": 50}
        assert value("games_open_rounds", game="crash") == 1
        assert value("games_open_round_overdue_seconds", game="crash") == 0
        # When its crash time passed two minutes ago and nothing settled it
        due = GameRound.objects.get(pk=played.round.pk).settle_due_at
        assert due is not None
        clock.move_to(due + timedelta(minutes=2))
        # Then the gauge shows it overdue by two minutes
        assert value("games_open_round_overdue_seconds", game="crash") == pytest.approx(120, abs=1)
        # When the sweeper ends it
        assert crash_settle_due() == 1
    # Then the lost round is counted once, nothing paid, and no round is open any more
    assert delta(before, snapshot("crash")) == {"bets": 1, "bet_amount": 50, "lose": 1}
    assert value("games_open_rounds", game="crash") == 0
    assert value("games_open_round_overdue_seconds", game="crash") == 0
    # And a second sweep counts nothing more
    assert crash_settle_due() == 0
    assert delta(before, snapshot("crash")) == {"bets": 1, "bet_amount": 50, "lose": 1}


@pytest.mark.django_db
def test_every_game_reports_its_open_rounds_even_when_none_is_open() -> None:
    # Given no open round at all; when Prometheus scrapes
    samples = {
        (metric.name, sample.labels["game"]): sample.value
        for metric in REGISTRY.collect()
        if metric.name in {"games_open_rounds", "games_open_round_overdue_seconds"}
        for sample in metric.samples
    }
    # Then each game has both gauges at 0 (a series to alert on, never an absent one)
    games = {"slot", "crash", "rps", "gacha"}
    assert samples == {
        (name, game): 0 for name in ("games_open_rounds", "games_open_round_overdue_seconds") for game in games
    }


@pytest.mark.django_db
def test_gacha_pulls_are_counted_by_rarity_and_a_pity_forced_legendary_too(user: Any) -> None:
    # Given a player 89 pulls past their last legendary (the shipped banner's pity is 90)
    fund(user, 10_000)
    gacha_pull(user=user, pull_count=1, banner_code=None, idempotency_key="first")
    GachaPity.objects.filter(user=user).update(pulls_since_top=89)
    rarities = ("legendary", "epic", "rare", "common")
    before = {rarity: value("gacha_pulls_total", rarity=rarity) for rarity in rarities}
    pity_before = value("gacha_pity_pulls_total")
    # When they pull once (forced by pity), then ten times, then retry the ten-pull
    forced = gacha_pull(user=user, pull_count=1, banner_code=None, idempotency_key="forced")
    ten = gacha_pull(user=user, pull_count=10, banner_code=None, idempotency_key="ten")
    assert gacha_pull(user=user, pull_count=10, banner_code=None, idempotency_key="ten").replayed
    # Then each of the 11 pulls is counted once under its rarity, and the forced one as pity
    drawn = [item["rarity"] for item in [*forced.items, *ten.items]]
    counted = {rarity: value("gacha_pulls_total", rarity=rarity) - before[rarity] for rarity in rarities}
    assert counted == {rarity: drawn.count(rarity) for rarity in rarities}
    assert forced.items[0]["pity"] is True
    assert value("gacha_pity_pulls_total") - pity_before == sum(item["pity"] for item in [*forced.items, *ten.items])


@pytest.mark.django_db
def test_the_games_series_carry_no_player_or_round_label(user: Any) -> None:
    # Given some play
    fund(user)
    slot_spin(user=user, bet_amount=10, idempotency_key="labels")
    gacha_pull(user=user, pull_count=1, banner_code=None, idempotency_key="labels-pull")
    # When every games_ and gacha_ series is read
    labels = {
        name
        for metric in REGISTRY.collect()
        if metric.name.startswith(("games_", "gacha_"))
        for sample in metric.samples
        for name in sample.labels
    }
    # Then their labels are the bounded ones only
    assert labels and labels <= ALLOWED_LABELS
