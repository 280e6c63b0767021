"""Payouts: an integer stake times a decimal multiplier, floored, computed exactly.

    payout = floor(bet * multiplier)

Balances are integers, so the house keeps the fraction of a coin. Decimal arithmetic would
round to the context's precision (28 digits) before the floor; a Fraction never rounds, so the
product is converted to one first.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction


def payout_amount(bet: int, multiplier: Decimal) -> int:
    """floor(bet * multiplier), exact. bet is a non-negative integer; multiplier a finite Decimal >= 0."""
    check_bet(bet)
    exact_multiplier = multiplier_fraction(multiplier)
    return (exact_multiplier.numerator * bet) // exact_multiplier.denominator


def slot_payout(bet: int, multiplier: Decimal) -> int:
    """A slot win: floor(bet * the winning rule's multiplier) (0 when nothing matched)."""
    return payout_amount(bet, multiplier)


def multiplier_fraction(multiplier: Decimal | int) -> Fraction:
    """The exact rational value of a multiplier, refusing NaN, infinities, negatives and floats."""
    if isinstance(multiplier, bool) or not isinstance(multiplier, Decimal | int):
        raise ValueError(f"a multiplier is a Decimal (or an int), got {multiplier!r}")
    if isinstance(multiplier, Decimal) and not multiplier.is_finite():
        raise ValueError(f"a multiplier must be finite, got {multiplier!r}")
    exact = Fraction(multiplier)
    if exact < 0:
        raise ValueError(f"a multiplier must not be negative, got {multiplier!r}")
    return exact


def check_bet(bet: int) -> None:
    if isinstance(bet, bool) or not isinstance(bet, int) or bet < 0:
        raise ValueError(f"a bet is a non-negative integer, got {bet!r}")
