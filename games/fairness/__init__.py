"""Provable fairness: the pure math every game draws its outcome from (standard library only).

This is the public promise, and ``tools/verify_round.py`` re-implements it independently:

Seeds and bytes
    server_seed       = secrets.token_hex(32)                         (64 hex characters, secret)
    server_seed_hash  = sha256(server_seed.encode("ascii")).hexdigest() (published before play)
    outcome_bytes     = HMAC-SHA256(key = server_seed.encode("ascii"),
                                    message = f"{client_seed}:{nonce}:{cursor}".encode("utf-8"))
    fair floats       = 4-byte big-endian chunks of cursor 0, 1, ... (8 per cursor) / 2**32, in [0, 1)
    an index from a float f over n choices is floor(f * n), computed exactly.

Crash (1% house edge)
    n = first 52 bits of outcome_bytes(cursor 0); crash = max(100, 99 * 2**52 // (2**52 - n)) hundredths,
    i.e. max(1, floor(99 / (1 - n / 2**52)) / 100). P(crash >= t) = 0.99 / t for t > 1 (to 2**-52).
    Live curve: multiplier(t_ms) = floor(100 * exp(0.00006 * t_ms)) hundredths; the round crashes at
    crash_time_ms(point), the first ms where the curve reaches the point. A cash-out at m pays
    floor(bet * m) iff m <= crash.

Rock-paper-scissors
    computer = ("rock", "paper", "scissors")[floor(f0 * 3)]; win floor(bet * multiplier), draw refunds.

Weighted pick
    r = floor(f * sum(weights)); the first i with r < weights[0] + ... + weights[i].

Slots
    stop_i = floor(f_i * len(strip_i)) for reel i (floats 0..reels-1); payline = strip_i[stop_i];
    a rule matches when the first `count` reels show its symbol; the win is the matching rule with
    the highest multiplier (ties: larger count); payout floor(bet * multiplier). RTP by exact
    enumeration.

Gacha (rarities top first)
    pull k uses floats 2k, 2k+1; forced top rarity when counter + 1 >= pity_threshold, else
    weighted_index(f_2k, weights); item = items[floor(f_2k+1 * len(items))]; the counter resets
    after a top pull, else + 1.

Every function here is pure and deterministic given its inputs, except ``new_server_seed``.
Invalid input raises ValueError; the services turn that into their own refusals first.
"""

from games.fairness.crash import (
    crash_hundredths_from_n,
    crash_multiplier_at,
    crash_payout,
    crash_point,
    crash_point_hundredths,
    crash_rtp,
    crash_time_ms,
    crash_win_probability,
    decimal_to_hundredths,
    hundredths_to_decimal,
)
from games.fairness.gacha import (
    GachaPull,
    GachaRarity,
    gacha_expected_pulls_to_top,
    gacha_item_odds,
    gacha_odds,
    gacha_pity_after,
    gacha_pulls,
    gacha_top_rate_with_pity,
)
from games.fairness.payouts import payout_amount, slot_payout
from games.fairness.rng import (
    fair_floats,
    new_server_seed,
    outcome_bytes,
    scaled_floor,
    seed_hash,
    weighted_index,
)
from games.fairness.rps import (
    RPS_MOVES,
    RpsResult,
    rps_computer_move,
    rps_move,
    rps_move_probabilities,
    rps_payout,
    rps_result,
    rps_rtp,
)
from games.fairness.slots import (
    PayRule,
    RuleStats,
    SlotMath,
    SlotSpin,
    SlotWin,
    slot_evaluate,
    slot_rtp,
    slot_spin,
    slot_stops,
)

__all__ = [
    "RPS_MOVES",
    "GachaPull",
    "GachaRarity",
    "PayRule",
    "RpsResult",
    "RuleStats",
    "SlotMath",
    "SlotSpin",
    "SlotWin",
    "crash_hundredths_from_n",
    "crash_multiplier_at",
    "crash_payout",
    "crash_point",
    "crash_point_hundredths",
    "crash_rtp",
    "crash_time_ms",
    "crash_win_probability",
    "decimal_to_hundredths",
    "fair_floats",
    "gacha_expected_pulls_to_top",
    "gacha_item_odds",
    "gacha_odds",
    "gacha_pity_after",
    "gacha_pulls",
    "gacha_top_rate_with_pity",
    "hundredths_to_decimal",
    "new_server_seed",
    "outcome_bytes",
    "payout_amount",
    "rps_computer_move",
    "rps_move",
    "rps_move_probabilities",
    "rps_payout",
    "rps_result",
    "rps_rtp",
    "scaled_floor",
    "seed_hash",
    "slot_evaluate",
    "slot_payout",
    "slot_rtp",
    "slot_spin",
    "slot_stops",
    "weighted_index",
]
