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

# --- crash ---
from games.services.crash import (
    CrashPlay,
    crash_bet,
    crash_cashout,
    crash_decider,
    crash_public,
    crash_round_read,
    crash_settle,
    crash_settle_due,
)

__all__ += [
    "CrashPlay",
    "crash_bet",
    "crash_cashout",
    "crash_decider",
    "crash_public",
    "crash_round_read",
    "crash_settle",
    "crash_settle_due",
]

# --- rps, history, stats ---
from games.services.rps import RpsPlay, rps_choice_parse, rps_decider, rps_feedback, rps_play  # noqa: E402
from games.services.stats import stats_recalculate  # noqa: E402

__all__ += ["RpsPlay", "rps_choice_parse", "rps_decider", "rps_feedback", "rps_play", "stats_recalculate"]

# --- gacha, inventory ---
from games.services.gacha import GachaPullResult, gacha_decider, gacha_feedback, gacha_pull  # noqa: E402
from games.services.gacha_banners import gacha_banner_save, gacha_banner_validate  # noqa: E402

__all__ += [
    "GachaPullResult",
    "gacha_banner_save",
    "gacha_banner_validate",
    "gacha_decider",
    "gacha_feedback",
    "gacha_pull",
]

# --- leaderboards ---
from games.services.leaderboards import (  # noqa: E402
    Leaderboard,
    leaderboard_get,
    leaderboard_ranking,
    leaderboard_rebuild,
    leaderboard_record,
)

__all__ += ["Leaderboard", "leaderboard_get", "leaderboard_ranking", "leaderboard_rebuild", "leaderboard_record"]

# --- slots ---
from games.services.slot_tables import slot_tables_check, slot_tables_publish  # noqa: E402
from games.services.slots import (  # noqa: E402
    SlotSpinResult,
    SlotTable,
    slot_config_public,
    slot_decider,
    slot_spin,
    slot_table_current,
    slot_table_invalidate,
    slot_table_live,
    slot_table_summary,
)

__all__ += [
    "SlotSpinResult",
    "SlotTable",
    "slot_config_public",
    "slot_decider",
    "slot_spin",
    "slot_table_current",
    "slot_table_invalidate",
    "slot_table_live",
    "slot_table_summary",
    "slot_tables_check",
    "slot_tables_publish",
]

# --- back office ---
from games.services.back_office import (  # noqa: E402
    RoundVerification,
    game_config_update,
    game_daily_limit_set,
    round_verify,
)

__all__ += ["RoundVerification", "game_config_update", "game_daily_limit_set", "round_verify"]
