"""Daily streak rules as pure functions (no database): the reward formula,
the streak a list of days implies, and what "today" means.

Reward for the n-th consecutive day (n includes today):

    gold = round(1000 + 800 * (1 - e^(-n/6)))
    xp   = round(50 + 40 * (1 - e^(-n/8)))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from economy.enums import StreakDayKind

MAX_PROTECTION_TOKENS = 3
DAYS_PER_PROTECTION_TOKEN = 7


@dataclass(frozen=True)
class StreakReward:
    gold: int
    xp: int


def streak_reward(n: int) -> StreakReward:
    n = max(1, n)
    return StreakReward(
        gold=round(1000 + 800 * (1 - math.exp(-n / 6))),
        xp=round(50 + 40 * (1 - math.exp(-n / 8))),
    )


def utc_today() -> date:
    return timezone.now().date()  # settings.TIME_ZONE is UTC: the day boundary is UTC midnight


def week_start(day: date) -> date:
    """The Sunday that starts ``day``'s week (weeks run Sunday-Saturday)."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def count_from_days(days: Iterable[tuple[date, str]]) -> int:
    """The streak that ends at the latest day: walk back over consecutive
    days; a check-in counts one, a protected day bridges without counting; a
    gap ends the walk."""
    ordered = sorted(days, reverse=True)
    count = 0
    expected: date | None = None
    for day, kind in ordered:
        if expected is not None and day != expected:
            break
        if kind == StreakDayKind.CHECKIN:
            count += 1
        expected = day - timedelta(days=1)
    return count


def effective_count(*, current_count: int, last_checkin: date | None, tokens: int, today: date) -> int:
    """What the player's streak is worth now: it survives until the first
    missed day that no protection token can cover."""
    if last_checkin is None:
        return 0
    missed = (today - last_checkin).days - 1
    if missed <= 0 or missed <= tokens:
        return current_count
    return 0


def next_count(*, current_count: int, last_checkin: date | None, tokens: int, today: date) -> tuple[int, int]:
    """The streak a check-in on ``today`` makes, and how many missed days it
    bridges with protection tokens (one token per missed day; if the tokens
    cannot cover every missed day the streak restarts at 1 and none is used)."""
    if last_checkin is None or last_checkin >= today:
        return (current_count if last_checkin == today else 1), 0
    missed = (today - last_checkin).days - 1
    if missed == 0:
        return current_count + 1, 0
    if missed <= tokens:
        return current_count + 1, missed
    return 1, 0


def recount(days: Iterable[tuple[date, str]]) -> list[tuple[date, str, int]]:
    """Recompute the streak after each day from the days themselves (oldest
    first): consecutive days continue the run, a check-in adds one, a gap
    restarts it. Used by the repair to rebuild a damaged record."""
    result: list[tuple[date, str, int]] = []
    count = 0
    previous: date | None = None
    for day, kind in sorted(days):
        if previous is None or day != previous + timedelta(days=1):
            count = 0
        if kind == StreakDayKind.CHECKIN:
            count += 1
        result.append((day, kind, count))
        previous = day
    return result
