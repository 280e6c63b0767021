"""Per-player game statistics: GET /api/games/stats/me (every contract field, every game) read from
the aggregates each round keeps, and ``manage.py recalc_game_stats`` (stats_recalculate), which
rebuilds them from the rounds — proven equal to the incremental ones over thousands of rounds."""

from __future__ import annotations

import random
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from economy.services import wallet_grant
from games.models import GameDailyLimit, GameRound, PlayerGameStats
from games.services import Decision, Draw, round_play, round_settle_open, stats_recalculate
from games.services.fairness import seed_ensure
from games.services.rounds import result_of
from games.services.stats import STATS_FIELDS, stats_record_round

STATS = "/api/games/stats/me"


def fund(user: Any, gold: int = 10**9) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def pays(payout: int, *, inputs: dict[str, Any] | None = None, outcome: dict[str, Any] | None = None) -> Any:
    """A trivial pure game paying a fixed amount."""

    def decide(draw: Draw) -> Decision:
        return Decision(payout=payout, inputs=inputs or {}, outcome=outcome or {}, subtype="test_play")

    return decide


def play(user: Any, game: str, bet: int, payout: int, key: str, **kwargs: Any) -> GameRound:
    return round_play(
        user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint=key, decide=pays(payout, **kwargs)
    ).round


def stats_rows() -> dict[tuple[int, str], tuple[int, ...]]:
    return {
        (row.user_id, row.game): tuple(getattr(row, name) for name in STATS_FIELDS)
        for row in PlayerGameStats.objects.all()
    }


# --- GET /api/games/stats/me ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_player_who_never_played_sees_every_game_with_zeros(auth_client: APIClient) -> None:
    response = auth_client.get(STATS)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    stats = body["stats"]
    assert stats["total_games_played"] == stats["total_bets"] == stats["total_wins"] == stats["total_losses"] == 0
    assert (stats["win_rate"], stats["total_profit"], stats["overall_max_win"]) == (0.0, 0, 0)
    assert stats["updated_at"] is None and stats["highest_multiplier"] is None
    assert set(stats["game_breakdown"]) == {"slot", "crash", "gacha", "rps"}
    for game in stats["game_breakdown"].values():
        assert game["plays"] == game["wins"] == game["losses"] == game["max_win"] == 0
        assert game["win_rate"] == 0.0 and game["updated_at"] is None
    assert stats["game_breakdown"]["crash"]["max_multiplier"] is None
    assert stats["game_breakdown"]["gacha"]["rare_wins"] == 0


@pytest.mark.django_db
def test_the_stats_count_every_round_of_the_caller_per_game_and_in_total(auth_client: APIClient) -> None:
    # Given rps rounds: win 190, draw, win 150, lose, win 300, draw (bets of 100)
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    for index, payout in enumerate([190, 100, 150, 0, 300, 100]):
        play(user, "rps", 100, payout, f"rps{index}")
    # and slot rounds: a partial payback (a loss), a win of 2500
    play(user, "slot", 1000, 400, "slot0")
    play(user, "slot", 1000, 2500, "slot1")
    # and another player's rounds, which must not count
    other = UserFactory()
    fund(other)
    play(other, "rps", 100, 5000, "other")
    # When the player reads their stats
    stats = auth_client.get(STATS).json()["stats"]
    # Then every field follows from the rounds
    rps = stats["game_breakdown"]["rps"]
    assert {key: rps[key] for key in ("plays", "wins", "losses", "draws", "ties", "max_win")} == {
        "plays": 6,
        "wins": 3,
        "losses": 1,
        "draws": 2,
        "ties": 2,
        "max_win": 300,
    }
    assert (rps["total_bet"], rps["total_won"], rps["net_profit"]) == (600, 840, 240)
    assert rps["win_rate"] == 50.0
    # wins since the last loss (the draw after it neither counts nor breaks): 1; best run: win, draw, win
    assert (rps["current_win_streak"], rps["best_win_streak"]) == (1, 2)
    slot = stats["game_breakdown"]["slot"]
    assert (slot["plays"], slot["spins"], slot["wins"], slot["losses"], slot["max_win"]) == (2, 2, 1, 1, 2500)
    assert stats["game_breakdown"]["crash"]["plays"] == 0
    assert stats["total_games_played"] == stats["total_bets"] == 8
    assert (stats["total_wins"], stats["total_losses"], stats["total_draws"]) == (4, 2, 2)
    assert stats["win_rate"] == 50.0
    assert (stats["total_bet_amount"], stats["total_won_amount"]) == (2600, 3740)
    assert stats["total_profit"] == 1140
    assert stats["overall_max_win"] == 2500
    assert stats["best_win_streak"] == 2
    assert stats["updated_at"] is not None and stats["user_id"] == user.pk


@pytest.mark.django_db
def test_the_win_rate_is_a_percentage_with_two_decimals(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    for index, payout in enumerate([200, 0, 0]):
        play(user, "rps", 100, payout, f"w{index}")
    stats = auth_client.get(STATS).json()["stats"]
    assert stats["win_rate"] == stats["game_breakdown"]["rps"]["win_rate"] == 33.33


@pytest.mark.django_db
def test_crash_shows_the_best_cash_out_multiplier_and_gacha_its_rare_and_ultra_rare_pulls(
    auth_client: APIClient,
) -> None:
    # Given crash rounds won at 2.50 (auto) and 3.10 (live), one lost with a 50.00 target
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    play(user, "crash", 100, 250, "c1", inputs={"auto_cashout_multiplier": "2.50", "cashout_multiplier": None})
    play(user, "crash", 100, 310, "c2", inputs={"auto_cashout_multiplier": None, "cashout_multiplier": "3.10"})
    play(user, "crash", 100, 0, "c3", inputs={"auto_cashout_multiplier": "50.00", "cashout_multiplier": None})
    # and gacha pulls: 2 rare, 1 epic, 1 legendary, 3 common
    pulls = [{"rarity": rarity, "item": "x", "pity": False} for rarity in ("rare", "epic", "common", "common")]
    play(user, "gacha", 50, 0, "g1", outcome={"pulls": pulls, "pity_after": 3})
    pulls = [{"rarity": rarity, "item": "y", "pity": False} for rarity in ("legendary", "rare", "common")]
    play(user, "gacha", 50, 0, "g2", outcome={"pulls": pulls, "pity_after": 0})
    # When they read their stats
    stats = auth_client.get(STATS).json()["stats"]
    # Then
    crash = stats["game_breakdown"]["crash"]
    assert (crash["max_multiplier"], crash["bets"], crash["wins"], crash["max_win"]) == (3.1, 3, 2, 310)
    assert stats["highest_multiplier"] == 3.1
    gacha = stats["game_breakdown"]["gacha"]
    assert (gacha["rare_wins"], gacha["ultra_rare_wins"], gacha["spins"]) == (2, 2, 2)


@pytest.mark.django_db
def test_reading_the_stats_needs_a_login(api_client: APIClient) -> None:
    assert api_client.get(STATS).status_code == 401


# --- Recalculation ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_recalculated_stats_equal_the_incremental_ones_over_thousands_of_random_rounds() -> None:
    # Given 4 players and 3,000 random settled rounds of every game, counted as the engine counts
    # them (stats_record_round, in settlement order), with long win runs, draws and losses
    rng = random.Random(13)
    players = [UserFactory() for _ in range(4)]
    seeds = {player.pk: seed_ensure(user_id=player.pk) for player in players}
    start = timezone.now() - timedelta(days=1)
    rounds: list[GameRound] = []
    for index in range(3_000):
        player = rng.choice(players)
        game = rng.choice(["slot", "crash", "rps", "gacha"])
        bet = rng.randrange(10, 500)
        # Streaky results: keep the previous result 60% of the time.
        previous = rounds[-1].result if rounds else "win"
        result = previous if rng.random() < 0.6 else rng.choice(["win", "lose", "draw"])
        payout = {"win": bet + rng.randrange(1, 5_000), "draw": bet, "lose": rng.randrange(0, bet)}[result]
        # Settlement order differs from creation order now and then (live crash rounds).
        settled_at = start + timedelta(seconds=index + (rng.choice([0, 0, 0, 30]) if game == "crash" else 0))
        rounds.append(
            GameRound(
                user=player,
                game=game,
                status="settled",
                result=result_of(bet=bet, payout=payout),
                bet_amount=bet,
                payout=payout,
                seed=seeds[player.pk],
                nonce=index,
                client_seed="c",
                idempotency_key=f"k{index}",
                created_at=start + timedelta(seconds=index),
                settled_at=settled_at,
            )
        )
    GameRound.objects.bulk_create(rounds)
    for round_ in sorted(rounds, key=lambda round_: (round_.settled_at, round_.pk)):
        stats_record_round(
            user_id=round_.user_id, game=round_.game, bet=round_.bet_amount, payout=round_.payout, result=round_.result
        )
    incremental = stats_rows()
    assert len(incremental) == 16
    assert max(row[STATS_FIELDS.index("best_win_streak")] for row in incremental.values()) >= 5
    # When the stats are recalculated from the rounds
    changed = stats_recalculate(batch_size=3)
    # Then nothing changed: the incremental stats are the recomputed ones
    assert changed == 0
    assert stats_rows() == incremental

    # And when rows are wrong, missing or left without rounds, the recalculation repairs exactly those
    first, second = sorted(incremental)[:2]
    PlayerGameStats.objects.filter(user_id=first[0], game=first[1]).update(plays=1, best_win_streak=99)
    PlayerGameStats.objects.filter(user_id=second[0], game=second[1]).delete()
    stray = UserFactory()
    PlayerGameStats.objects.create(user=stray, game="rps", plays=3, wins=3, updated_at=timezone.now())
    assert stats_recalculate() == 3
    assert stats_rows() == incremental


@pytest.mark.django_db
def test_rounds_played_through_the_engine_with_live_rounds_settled_later_recalculate_to_the_same_stats() -> None:
    # Given the round engine with its own stats upsert: 2 players, 120 rounds of a random pure
    # game, and live rounds settled after later rounds (the order the upsert saw them in)
    GameDailyLimit.objects.all().delete()
    rng = random.Random(7)
    players = [UserFactory() for _ in range(2)]
    for player in players:
        fund(player)
    open_rounds: list[GameRound] = []
    for index in range(120):
        player = rng.choice(players)
        bet = rng.randrange(10, 100)
        payout = rng.choice([0, bet, bet * 2, bet // 2])
        if index % 20 == 3:
            open_rounds.append(
                round_play(
                    user=player,
                    game="crash",
                    bet_amount=bet,
                    idempotency_key=f"open{index}",
                    fingerprint="f",
                    decide=lambda draw: Decision(
                        payout=0,
                        inputs={},
                        outcome={},
                        subtype="test",
                        open_until=timezone.now() + timedelta(minutes=1),
                    ),
                ).round
            )
        else:
            play(player, rng.choice(["slot", "rps", "gacha"]), bet, payout, f"e{index}")
        if index % 30 == 29 and open_rounds:
            live = open_rounds.pop(0)
            win = rng.choice([0, live.bet_amount * 3])
            round_settle_open(
                round_id=live.pk,
                settle=lambda round_, win=win: Decision(payout=win, inputs={}, outcome={}, subtype="test"),
            )
    incremental = stats_rows()
    assert len(open_rounds) == 2 and GameRound.objects.filter(game="crash", status="settled").count() == 4
    # When recalculated (one player, then everyone)
    assert stats_recalculate(user_id=players[0].pk) == 0
    assert stats_recalculate() == 0
    # Then they are the same, and a still open round counts nowhere
    assert stats_rows() == incremental
    assert sum(row[0] for row in incremental.values()) == GameRound.objects.filter(status="settled").count()


@pytest.mark.django_db
def test_the_recalc_command_reports_progress_and_the_rows_changed(user: Any) -> None:
    # Given a player with a round and a stats row someone broke
    fund(user)
    play(user, "rps", 100, 200, "one")
    PlayerGameStats.objects.filter(user=user).update(wins=7)
    # When staff run the command for that player
    out = StringIO()
    call_command("recalc_game_stats", "--user", str(user.pk), stdout=out)
    # Then it reports progress and one row changed, and the row is right again
    text = out.getvalue()
    assert "1/1 players (100%)" in text
    assert "1 rows changed." in text
    assert PlayerGameStats.objects.get(user=user).wins == 1
    # And a second run over everyone changes nothing
    out = StringIO()
    call_command("recalc_game_stats", stdout=out)
    assert "0 rows changed." in out.getvalue()
