"""Daily play limits per game and VIP tier (``GameDailyLimit``; no row: no limit).

Enforced atomically by one upsert in the round's transaction that adds this round's units
(gacha: pulls) to the player's count for the UTC day and returns the new count; over the
limit, the refusal rolls the whole transaction back, the count included. Parallel rounds
serialise on the counter row, so the limit cannot be overshot. The same statement reads the
player's VIP tier (their wallet's; the base tier without one) and counts only for a tier
that has a limit, as a separate read of the tier first would."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache

from django.db import connection
from django.utils import timezone

from casino.db import column_name
from economy.enums import VipTier
from economy.models import Wallet
from economy.selectors import wallet_vip_tier
from games.exceptions import DailyLimitReached
from games.services.config import game_daily_limits


@lru_cache(maxsize=16)
def _add_units(tiers_limited: int) -> str:
    """The upsert for a game whose limits name ``tiers_limited`` tiers: adds the units
    when the player's tier is one of them; returns the new count and that tier."""
    tier = (
        f"COALESCE((SELECT {column_name(Wallet, 'vip_tier')} FROM {Wallet._meta.db_table}"  # noqa: S608
        f" WHERE {column_name(Wallet, 'user')} = %s), %s)"
    )
    return (
        "INSERT INTO games_playergameday AS d (user_id, game, day, units) "
        f"SELECT %s, %s, %s, %s WHERE {tier} IN ({', '.join(['%s'] * tiers_limited)}) "
        "ON CONFLICT (user_id, game, day) DO UPDATE SET units = d.units + excluded.units "
        f"RETURNING units, {tier}"
    )


def daily_limit_for(*, user_id: int, game: str) -> int | None:
    """The player's daily limit of ``game`` (by VIP tier), or None: no limit."""
    limits = game_daily_limits(game)  # the process's copy: no statement
    if not limits:
        return None
    return limits.get(wallet_vip_tier(user_id=user_id))


def daily_limit_take(*, user_id: int, game: str, units: int) -> None:
    """Count ``units`` of play today, or raise ``daily_limit_reached`` (a helper: the caller's
    transaction must roll back on the refusal, which it does by letting it propagate)."""
    limits = game_daily_limits(game)  # the process's copy: no statement
    if not limits:
        return
    now = timezone.now()
    base = VipTier.STANDARD.value
    with connection.cursor() as cursor:
        cursor.execute(
            _add_units(len(limits)), [user_id, game, now.date(), units, user_id, base, *limits, user_id, base]
        )
        counted = cursor.fetchone()
    if counted is None:
        return  # the player's tier has no limit: nothing counted
    used, tier = counted
    limit = limits[tier]
    if used > limit:
        resets_at = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=now.tzinfo)
        raise DailyLimitReached(
            limit=limit, used=int(used) - units, resets_at=resets_at.isoformat().replace("+00:00", "Z")
        )
