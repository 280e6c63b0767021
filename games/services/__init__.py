"""Writes of games/: the only code that changes its state. One module per noun, re-exported
here; functions named <noun>_<verb> with keyword-only, typed arguments. Entry points open
``transaction.atomic(durable=True)``; the helpers they compose open none. Every bet goes
through :func:`round_play` (rounds.py), which states the exactly-once protocol."""

from games.services.config import bet_check, game_config
from games.services.fairness import (
    SeedRotation,
    fairness_client_seed_set,
    fairness_rotate,
    seed_create,
    seed_ensure,
)
from games.services.limits import daily_limit_for, daily_limit_take
from games.services.rounds import (
    BIG_WIN_MULTIPLE,
    Decision,
    Draw,
    RoundPlay,
    result_of,
    round_event_data,
    round_ledger_keys,
    round_play,
    round_settle_open,
)
from games.services.stats import stats_record_round

__all__ = [
    "BIG_WIN_MULTIPLE",
    "Decision",
    "Draw",
    "RoundPlay",
    "SeedRotation",
    "bet_check",
    "daily_limit_for",
    "daily_limit_take",
    "fairness_client_seed_set",
    "fairness_rotate",
    "game_config",
    "result_of",
    "round_event_data",
    "round_ledger_keys",
    "round_play",
    "round_settle_open",
    "seed_create",
    "seed_ensure",
    "stats_record_round",
]
