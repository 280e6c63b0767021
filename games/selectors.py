"""Reads of games/ shared by views, the admin and other apps: the player's fairness state and a
round as the verifier reads it, the round history and the player's game stats. Typed, no writes
(a player who never played has no seed yet and is shown the hash of none: the seed is created by
the first round or the first rotation). The gacha's and the inventory's reads are
``games.gacha_selectors``."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from casino.db import one_or_none
from games.enums import Game, RoundResult, RoundStatus
from games.models import (
    FairnessSeed,
    GameRound,
    PlayerGameStats,
    SlotTableVersion,
)


def active_seed(*, user_id: int) -> FairnessSeed | None:
    return one_or_none(FairnessSeed.objects.filter(user_id=user_id, revealed_at__isnull=True))


def last_revealed_seed(*, user_id: int) -> FairnessSeed | None:
    return one_or_none(
        FairnessSeed.objects.filter(user_id=user_id, revealed_at__isnull=False).order_by("-revealed_at", "-id")
    )


def fairness_state(*, user_id: int, current: FairnessSeed | None = None) -> dict[str, Any]:
    """``GET /api/games/fairness``: the hash of the seed in use (never the seed), the client seed,
    the next nonce and the last revealed seed (with its hash, so a player can check it)."""
    seed = current or active_seed(user_id=user_id)
    previous = last_revealed_seed(user_id=user_id)
    return {
        "server_seed_hash": seed.server_seed_hash if seed else None,
        "client_seed": seed.client_seed if seed else None,
        "nonce": seed.next_nonce if seed else 0,
        "previous": (
            {
                "server_seed": previous.server_seed,
                "server_seed_hash": previous.server_seed_hash,
                "client_seed": previous.client_seed,
                "last_nonce": previous.next_nonce - 1,
                "revealed_at": previous.revealed_at,
            }
            if previous
            else None
        ),
    }


def round_for_player(*, user_id: int, round_id: int) -> GameRound | None:
    return one_or_none(GameRound.objects.select_related("seed").filter(pk=round_id, user_id=user_id))


def _expanded_inputs(round_: GameRound) -> dict[str, Any]:
    """The round's inputs with any configuration it names by reference written out (a slot
    round names its table version; the verifier needs the strips and the paytable)."""
    inputs = dict(round_.inputs)
    version_id = inputs.get("table_version")
    if round_.game == "slot" and version_id is not None:
        version = one_or_none(SlotTableVersion.objects.filter(pk=version_id))
        if version is not None:
            inputs["reel_strips"] = version.reel_strips
            inputs["paytable"] = version.paytable
    return inputs


def round_public(round_: GameRound) -> dict[str, Any]:
    """A round as ``GET /api/games/rounds/{id}`` shows it and ``tools/verify_round.py`` reads it.

    While the round is open its outcome is withheld (a live crash round's crash point); the
    server seed is shown once the player has rotated it (before that, only its hash)."""
    seed = round_.seed
    is_open = round_.status == RoundStatus.OPEN
    return {
        "id": round_.pk,
        "game": round_.game,
        "status": round_.status,
        "result": round_.result or None,
        "currency": round_.currency,
        "bet_amount": round_.bet_amount,
        "payout": round_.payout,
        "created_at": round_.created_at,
        "settled_at": round_.settled_at,
        "fairness": {
            "server_seed_hash": seed.server_seed_hash,
            "server_seed": seed.server_seed if seed.is_revealed else None,
            "client_seed": round_.client_seed,
            "nonce": round_.nonce,
        },
        "inputs": _expanded_inputs(round_),
        "outcome": None if is_open else round_.outcome,
    }


# --- History and statistics (GET /api/games/history, GET /api/games/stats/me) -----------------

# A round in the history, in the earlier system's words (its game_history.action_type): a round
# that paid more than its bet is a WIN, one that paid the bet back a DRAW, and any other (a loss,
# a partial payback, a live crash round still running) the BET the player placed.
HISTORY_ACTION_TYPES: dict[str, str] = {RoundResult.WIN: "WIN", RoundResult.DRAW: "DRAW", RoundResult.LOSE: "BET"}
_HISTORY_FIELDS = ("id", "game", "status", "result", "currency", "bet_amount", "payout", "created_at", "settled_at")


def round_history(
    *, user_id: int, game: str | None = None, date_from: date | None = None, date_to: date | None = None
) -> QuerySet[GameRound]:
    """The player's rounds, newest first (``round_user_created_idx``, or ``round_user_game_idx``
    with a game), optionally of one game and between two UTC dates, both included."""
    rounds = GameRound.objects.filter(user_id=user_id).only(*_HISTORY_FIELDS).order_by("-created_at", "-id")
    if game:
        rounds = rounds.filter(game=game)
    if date_from is not None:
        rounds = rounds.filter(created_at__gte=datetime.combine(date_from, time.min, tzinfo=UTC))
    if date_to is not None and date_to < date.max:  # date.max: no upper bound (and no day after it)
        rounds = rounds.filter(created_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC))
    return rounds


def round_history_item(round_: GameRound) -> dict[str, Any]:
    """One history row: ``amount`` is the round's net effect on the balance (payout - bet)."""
    return {
        "id": round_.pk,
        "game_type": round_.game,
        "action_type": HISTORY_ACTION_TYPES.get(round_.result, "BET"),
        "amount": round_.payout - round_.bet_amount,
        "result": round_.result or None,
        "status": round_.status,
        "currency": round_.currency,
        "bet_amount": round_.bet_amount,
        "win_amount": round_.payout,
        "created_at": round_.created_at,
        "settled_at": round_.settled_at,
    }


# Rarities the earlier client counts as gacha "rare" and "ultra rare" wins.
GACHA_RARE: tuple[str, ...] = ("rare",)
GACHA_ULTRA_RARE: tuple[str, ...] = ("epic", "legendary")

# What PlayerGameStats cannot hold: the best crash cash-out multiplier (from a won crash round's
# inputs: the live cash-out's multiplier, else the auto cash-out target) and the gacha pulls of
# rare and ultra rare items (from the rounds' outcomes). One pass over the player's settled crash
# and gacha rounds (``round_user_game_idx``); malformed values count as nothing, never a 500.
_ROUND_EXTRAS = r"""
SELECT MAX(CASE WHEN game = 'crash' AND result = 'win' AND multiplier ~ '^[0-9]{1,12}(\.[0-9]{1,8})?$'
                THEN multiplier::numeric END),
       COALESCE(SUM(rare), 0), COALESCE(SUM(ultra_rare), 0)
FROM (
    SELECT game, result,
           COALESCE(inputs ->> 'cashout_multiplier', inputs ->> 'auto_cashout_multiplier') AS multiplier,
           (SELECT COUNT(*) FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(outcome -> 'pulls') = 'array' THEN outcome -> 'pulls' ELSE '[]' END) p
            WHERE p ->> 'rarity' = ANY(%(rare)s)) AS rare,
           (SELECT COUNT(*) FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(outcome -> 'pulls') = 'array' THEN outcome -> 'pulls' ELSE '[]' END) p
            WHERE p ->> 'rarity' = ANY(%(ultra_rare)s)) AS ultra_rare
    FROM games_gameround
    WHERE user_id = %(user_id)s AND game IN ('crash', 'gacha') AND status = 'settled'
) rounds
"""


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def game_stats_for_player(*, user_id: int) -> dict[str, Any]:
    """``GET /api/games/stats/me``: the totals over every game and one breakdown per game (every
    game, with zeros for one never played), from ``PlayerGameStats`` (kept by each round) plus
    :data:`_ROUND_EXTRAS` when the player has played crash or gacha. Definitions:

    * ``total_games_played`` = ``total_bets`` = settled rounds (the earlier API's two names for
      the count of bets; the amounts are ``total_bet_amount`` and ``total_won_amount``);
    * ``win_rate`` = wins / plays as a percentage with 2 decimals (0-100; a draw is a play, not a
      win), as the earlier API served it;
    * ``total_profit`` = payouts - bets; ``overall_max_win`` = the largest payout of a won round;
    * ``spins``/``bets`` and ``ties`` repeat ``plays`` and ``draws`` under the names the client
      reads for some games; ``highest_multiplier`` = crash's ``max_multiplier`` (null: none)."""
    rows = {row.game: row for row in PlayerGameStats.objects.filter(user_id=user_id)}
    breakdown: dict[str, dict[str, Any]] = {}
    for game in Game.values:
        row = rows.get(game)
        plays = row.plays if row else 0
        wins = row.wins if row else 0
        draws = row.draws if row else 0
        total_bet = row.total_bet if row else 0
        total_won = row.total_won if row else 0
        breakdown[game] = {
            "plays": plays,
            "spins": plays,
            "bets": plays,
            "wins": wins,
            "losses": row.losses if row else 0,
            "draws": draws,
            "ties": draws,
            "win_rate": _percent(wins, plays),
            "max_win": row.max_win if row else 0,
            "total_bet": total_bet,
            "total_won": total_won,
            "net_profit": total_won - total_bet,
            "current_win_streak": row.current_win_streak if row else 0,
            "best_win_streak": row.best_win_streak if row else 0,
            "updated_at": row.updated_at if row else None,
        }
    max_multiplier: Decimal | None = None
    rare = ultra_rare = 0
    if any(rows.get(game) for game in (Game.CRASH, Game.GACHA)):
        with connection.cursor() as cursor:
            cursor.execute(
                _ROUND_EXTRAS, {"user_id": user_id, "rare": list(GACHA_RARE), "ultra_rare": list(GACHA_ULTRA_RARE)}
            )
            max_multiplier, rare, ultra_rare = cursor.fetchone()
    breakdown[Game.CRASH]["max_multiplier"] = float(max_multiplier) if max_multiplier is not None else None
    breakdown[Game.GACHA]["rare_wins"] = int(rare)
    breakdown[Game.GACHA]["ultra_rare_wins"] = int(ultra_rare)

    played = [row for row in rows.values() if row.plays]
    total_plays = sum(row.plays for row in played)
    total_wins = sum(row.wins for row in played)
    total_bet = sum(row.total_bet for row in played)
    total_won = sum(row.total_won for row in played)
    latest = max(played, key=lambda row: row.updated_at, default=None)
    return {
        "user_id": user_id,
        "total_games_played": total_plays,
        "total_bets": total_plays,
        "total_wins": total_wins,
        "total_losses": sum(row.losses for row in played),
        "total_draws": sum(row.draws for row in played),
        "win_rate": _percent(total_wins, total_plays),
        "total_bet_amount": total_bet,
        "total_won_amount": total_won,
        "total_profit": total_won - total_bet,
        "overall_max_win": max((row.max_win for row in played), default=0),
        "highest_multiplier": breakdown[Game.CRASH]["max_multiplier"],
        "current_win_streak": latest.current_win_streak if latest else 0,
        "best_win_streak": max((row.best_win_streak for row in played), default=0),
        "updated_at": latest.updated_at if latest else None,
        "game_breakdown": breakdown,
    }
