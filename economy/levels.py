"""Level from experience, in one place.

XP needed to go from level L to L+1 is ``1000 + (L - 1) * 100``, so the total
XP needed to reach level L (L >= 1) is

    T(L) = sum_{k=1}^{L-1} (1000 + (k-1)*100) = 1000*(L-1) + 50*(L-1)*(L-2)

The level for ``xp`` is the largest L with T(L) <= xp; with m = L - 1 that is
the largest m with 50*m^2 + 950*m <= xp, found with an integer square root
and corrected by one step either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def xp_to_next_level(level: int) -> int:
    return 1000 + (level - 1) * 100


def total_xp_for_level(level: int) -> int:
    m = level - 1
    return 1000 * m + 50 * m * (m - 1)


@dataclass(frozen=True)
class LevelProgress:
    level: int
    total_xp: int
    xp_into_level: int
    xp_for_next_level: int


def level_progress(xp: int) -> LevelProgress:
    if xp < 0:
        raise ValueError("xp cannot be negative")
    # 50 m^2 + 950 m - xp <= 0  ->  m <= (-950 + sqrt(950^2 + 200 xp)) / 100
    m = max(0, (math.isqrt(950 * 950 + 200 * xp) - 950) // 100)
    while total_xp_for_level(m + 2) <= xp:
        m += 1
    while m > 0 and total_xp_for_level(m + 1) > xp:
        m -= 1
    level = m + 1
    return LevelProgress(
        level=level,
        total_xp=xp,
        xp_into_level=xp - total_xp_for_level(level),
        xp_for_next_level=xp_to_next_level(level),
    )
