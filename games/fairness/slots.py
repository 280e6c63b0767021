"""Slots: reel stops from fair floats, the paytable, and the exact RTP by enumeration.

    stop_i    = floor(f_i * len(strip_i))        f_0 .. f_{reels-1}: the round's first floats
    symbol_i  = strip_i[stop_i]                   the payline (one row)
    a rule {symbol, count, multiplier, is_jackpot} matches when the first `count` reels from the
    left all show `symbol`; the win is the matching rule with the highest multiplier (a tie goes
    to the larger count, then to the earlier rule); no match pays multiplier 0
    payout    = floor(bet * multiplier)

Each stop of a strip is equally likely (up to the 2**-32 grain of a float), so a symbol's
weight on a reel is how many times the strip holds it. ``slot_rtp`` enumerates every
combination of stops exactly: it counts the symbols on each reel and walks the product of the
*distinct* symbols, weighting each combination by the product of its counts, so 3 strips of
64 stops cost 6**3 evaluations, not 64**3.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from games.fairness.payouts import multiplier_fraction
from games.fairness.rng import fair_floats, scaled_floor


@dataclass(frozen=True)
class PayRule:
    """One paytable line: `count` x `symbol` from the leftmost reel pays `multiplier` x the bet."""

    symbol: str
    count: int
    multiplier: Decimal
    is_jackpot: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"a pay rule's count is a positive integer, got {self.count!r}")
        multiplier_fraction(self.multiplier)  # a finite, non-negative Decimal

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> PayRule:
        """From the JSON shape {"symbol", "count", "multiplier": "5", "is_jackpot"} (multiplier a string)."""
        multiplier = data["multiplier"]
        count = data["count"]
        if not isinstance(multiplier, str | int | Decimal) or isinstance(multiplier, bool):
            raise ValueError(f"a multiplier is a decimal string, got {multiplier!r}")
        if not isinstance(count, int):
            raise ValueError(f"a pay rule's count is a positive integer, got {count!r}")
        return cls(
            symbol=str(data["symbol"]),
            count=count,
            multiplier=Decimal(multiplier),
            is_jackpot=bool(data.get("is_jackpot", False)),
        )

    def matches(self, symbols: Sequence[str]) -> bool:
        return len(symbols) >= self.count and all(symbol == self.symbol for symbol in symbols[: self.count])


@dataclass(frozen=True)
class SlotWin:
    """What a payline pays: the winning rule (None when nothing matched) and its multiplier."""

    rule: PayRule | None
    multiplier: Decimal
    is_jackpot: bool


@dataclass(frozen=True)
class SlotSpin:
    """A spin recomputed from its seeds: stops, the payline's symbols, and the win."""

    stops: list[int]
    symbols: list[str]
    rule: PayRule | None
    multiplier: Decimal
    is_jackpot: bool


@dataclass(frozen=True)
class RuleStats:
    """How often a rule is the win, and what it contributes to the RTP (probability * multiplier)."""

    rule: PayRule
    probability: Fraction
    rtp_contribution: Fraction


@dataclass(frozen=True)
class SlotMath:
    """Exact figures of a reel set and paytable, by enumeration of every stop combination."""

    combinations: int
    rtp: Fraction
    hit_frequency: Fraction  # P(multiplier > 0)
    jackpot_probability: Fraction
    rules: list[RuleStats]


NO_WIN = SlotWin(rule=None, multiplier=Decimal(0), is_jackpot=False)


def slot_stops(floats: Sequence[float], strip_lengths: Sequence[int]) -> list[int]:
    """stop_i = floor(floats[i] * strip_lengths[i]), one float per reel."""
    if len(floats) != len(strip_lengths):
        raise ValueError(f"one float per reel: {len(floats)} floats for {len(strip_lengths)} reels")
    for length in strip_lengths:
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"a reel strip has at least one stop, got length {length!r}")
    return [scaled_floor(fraction, length) for fraction, length in zip(floats, strip_lengths, strict=True)]


def slot_evaluate(symbols: Sequence[str], paytable: Sequence[PayRule]) -> SlotWin:
    """The payline's win: the matching rule with the highest multiplier (ties: the larger count)."""
    best: PayRule | None = None
    for rule in paytable:
        if not rule.matches(symbols):
            continue
        if best is None or (rule.multiplier, rule.count) > (best.multiplier, best.count):
            best = rule
    if best is None:
        return NO_WIN
    return SlotWin(rule=best, multiplier=best.multiplier, is_jackpot=best.is_jackpot)


def slot_spin(
    server_seed: str,
    client_seed: str,
    nonce: int,
    strips: Sequence[Sequence[str]],
    paytable: Sequence[PayRule],
) -> SlotSpin:
    """The whole spin of a round: floats 0..reels-1 -> stops -> payline symbols -> win."""
    _check_strips(strips)
    floats = fair_floats(server_seed, client_seed, nonce, len(strips))
    stops = slot_stops(floats, [len(strip) for strip in strips])
    symbols = [strip[stop] for strip, stop in zip(strips, stops, strict=True)]
    win = slot_evaluate(symbols, paytable)
    return SlotSpin(stops=stops, symbols=symbols, rule=win.rule, multiplier=win.multiplier, is_jackpot=win.is_jackpot)


def slot_rtp(strips: Sequence[Sequence[str]], paytable: Sequence[PayRule]) -> SlotMath:
    """RTP, hit frequency, jackpot probability and each rule's share, exactly (fractions.Fraction).

    Every stop combination is equally likely; combinations showing the same symbols pay the
    same, so each distinct symbol combination counts prod(count of symbol_i on reel i) of the
    prod(len(strip_i)) combinations.
    """
    _check_strips(strips)
    reel_counts = [Counter(strip) for strip in strips]
    combinations = 1
    for strip in strips:
        combinations *= len(strip)

    rtp_weight = Fraction(0)
    hit_weight = 0
    jackpot_weight = 0
    rule_weights: dict[int, int] = {}
    for symbols in itertools.product(*(list(counts) for counts in reel_counts)):
        weight = 1
        for counts, symbol in zip(reel_counts, symbols, strict=True):
            weight *= counts[symbol]
        win = slot_evaluate(symbols, paytable)
        if win.rule is None:
            continue
        rule_index = _rule_index(paytable, win.rule)
        rule_weights[rule_index] = rule_weights.get(rule_index, 0) + weight
        multiplier = multiplier_fraction(win.multiplier)
        rtp_weight += multiplier * weight
        if multiplier > 0:
            hit_weight += weight
        if win.is_jackpot:
            jackpot_weight += weight

    rules = []
    for index, rule in enumerate(paytable):
        probability = Fraction(rule_weights.get(index, 0), combinations)
        contribution = probability * multiplier_fraction(rule.multiplier)
        rules.append(RuleStats(rule=rule, probability=probability, rtp_contribution=contribution))
    return SlotMath(
        combinations=combinations,
        rtp=rtp_weight / combinations,
        hit_frequency=Fraction(hit_weight, combinations),
        jackpot_probability=Fraction(jackpot_weight, combinations),
        rules=rules,
    )


def _rule_index(paytable: Sequence[PayRule], rule: PayRule) -> int:
    # By identity: two equal rules in one table are the same line twice, and the first wins.
    for index, candidate in enumerate(paytable):
        if candidate is rule:
            return index
    raise AssertionError("the winning rule comes from the paytable")  # pragma: no cover


def _check_strips(strips: Sequence[Sequence[str]]) -> None:
    if not strips:
        raise ValueError("a slot has at least one reel")
    for strip in strips:
        if isinstance(strip, str) or len(strip) == 0:
            raise ValueError("a reel strip is a non-empty list of symbols")
