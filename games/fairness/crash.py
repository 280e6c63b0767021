"""Crash: the crash point, the live multiplier curve, and the exact return to player.

Crash point (1% house edge), computed in integers so no float can move it:

    n     = int.from_bytes(outcome_bytes(cursor=0)[:7], "big") >> 4     (the first 52 bits)
    X     = n / 2**52                                                     in [0, 1)
    crash = max(1, floor(99 / (1 - X)) / 100)
          = max(100, (99 * 2**52) // (2**52 - n))   hundredths  (1.00 = 100)

Why the edge is 1%: for a target T hundredths with T > 100, floor(x) >= T iff x >= T, so

    crash >= T  iff  99 * 2**52 / (2**52 - n) >= T  iff  n >= 2**52 - floor(99 * 2**52 / T)

and exactly floor(99 * 2**52 / T) of the 2**52 equally likely n do that:

    P(crash >= T/100) = floor(99 * 2**52 / T) / 2**52      (= 0.99 / t, t = T/100, up to 2**-52)
    RTP(cash out at t) = t * P(crash >= t)                  (= 0.99, short of it by less than t * 2**-52)

The exception is a target of exactly 1.00: every round reaches 1.00, so it returns the stake
(RTP 1); a game should accept only targets above 1.00. About 1.98% of rounds crash at 1.00
(the ones with floor(99 / (1 - X)) < 101).

Live multiplier after t ms on the server clock, floored to hundredths:

    multiplier(t) = floor(100 * exp(0.00006 * t))   hundredths

and a round whose crash point is P crashes at crash_time_ms(P), the first whole millisecond at
which multiplier(t) >= P (0 for P = 1.00). The two functions are each other's inverse in that
sense for every point (a test checks 1.00 .. 1000.00 by brute force). The curve uses a float
exp: it only schedules the live round; the crash point itself never depends on a float.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from games.fairness.payouts import check_bet
from games.fairness.rng import outcome_bytes

CRASH_BITS = 52
CRASH_SPACE = 2**CRASH_BITS
HOUSE_NUMERATOR = 99  # 99 / (1 - X): the 1% edge
MIN_CRASH_HUNDREDTHS = 100
GROWTH_PER_MS = 0.00006


def crash_point_hundredths(server_seed: str, client_seed: str, nonce: int) -> int:
    """The round's crash point in hundredths (1.00 = 100): max(100, 99 * 2**52 // (2**52 - n))."""
    first_bytes = outcome_bytes(server_seed, client_seed, nonce, 0)[:7]
    n = int.from_bytes(first_bytes, "big") >> 4  # 56 bits -> the first 52
    return crash_hundredths_from_n(n)


def crash_hundredths_from_n(n: int, bits: int = CRASH_BITS) -> int:
    """max(100, 99 * 2**bits // (2**bits - n)) for n in [0, 2**bits).

    ``bits`` is 52 for real rounds; tests pass a small one to enumerate every n.
    """
    space = 1 << bits
    if not 0 <= n < space:
        raise ValueError(f"n must be in [0, 2**{bits}), got {n!r}")
    return max(MIN_CRASH_HUNDREDTHS, (HOUSE_NUMERATOR * space) // (space - n))


def crash_point(server_seed: str, client_seed: str, nonce: int) -> Decimal:
    """The crash point as a Decimal with two places (Decimal("1.00"), Decimal("2.31"))."""
    return hundredths_to_decimal(crash_point_hundredths(server_seed, client_seed, nonce))


def hundredths_to_decimal(hundredths: int) -> Decimal:
    """100 -> Decimal("1.00"); exact for any size."""
    return Decimal(hundredths).scaleb(-2)


def decimal_to_hundredths(multiplier: Decimal) -> int:
    """Decimal("2.31") -> 231. Refuses a value with more than two decimal places."""
    if not multiplier.is_finite():
        raise ValueError(f"a multiplier must be finite, got {multiplier!r}")
    scaled = multiplier.scaleb(2)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"a crash multiplier has at most two decimal places, got {multiplier}")
    return int(scaled)


def crash_win_probability(target_hundredths: int) -> Fraction:
    """P(crash >= target): floor(99 * 2**52 / T) / 2**52 for T > 100, and 1 for T = 100."""
    _check_target(target_hundredths)
    if target_hundredths == MIN_CRASH_HUNDREDTHS:
        return Fraction(1)
    return Fraction((HOUSE_NUMERATOR * CRASH_SPACE) // target_hundredths, CRASH_SPACE)


def crash_rtp(target_hundredths: int) -> Fraction:
    """Exact return to player of cashing out at the target: (T / 100) * P(crash >= T).

    0.99 for every target above 1.00, short of it by less than (T / 100) * 2**-52 (exactly 0.99
    when T divides 99 * 2**52); 1 at a target of 1.00, which can never lose.
    """
    return Fraction(target_hundredths, 100) * crash_win_probability(target_hundredths)


def crash_payout(bet: int, cashout_hundredths: int, crash_hundredths: int) -> int:
    """A cash-out at m wins floor(bet * m) (the whole stake times m) iff m <= the crash point, else 0."""
    check_bet(bet)
    _check_target(cashout_hundredths)
    if cashout_hundredths > crash_hundredths:
        return 0
    return bet * cashout_hundredths // 100


def crash_multiplier_at(elapsed_ms: int) -> int:
    """The live multiplier after `elapsed_ms` on the server clock: floor(100 * exp(0.00006 * t)) hundredths."""
    if isinstance(elapsed_ms, bool) or not isinstance(elapsed_ms, int) or elapsed_ms < 0:
        raise ValueError(f"elapsed_ms must be a non-negative integer, got {elapsed_ms!r}")
    return math.floor(100 * math.exp(GROWTH_PER_MS * elapsed_ms))


def crash_time_ms(point_hundredths: int) -> int:
    """The first whole millisecond t with crash_multiplier_at(t) >= point (0 for 1.00).

    Starts from the analytic inverse ceil(ln(P / 100) / 0.00006) and corrects it by whole
    milliseconds against the floored float curve, so the pair agrees exactly.
    """
    _check_target(point_hundredths)
    if point_hundredths <= MIN_CRASH_HUNDREDTHS:
        return 0
    guess = max(0, math.ceil(math.log(point_hundredths / 100) / GROWTH_PER_MS))
    while guess > 0 and crash_multiplier_at(guess - 1) >= point_hundredths:
        guess -= 1
    while crash_multiplier_at(guess) < point_hundredths:
        guess += 1
    return guess


def _check_target(hundredths: int) -> None:
    if isinstance(hundredths, bool) or not isinstance(hundredths, int) or hundredths < MIN_CRASH_HUNDREDTHS:
        raise ValueError(f"a crash multiplier is an integer number of hundredths >= 100, got {hundredths!r}")
