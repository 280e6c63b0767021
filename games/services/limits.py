"""Daily play limits per game and VIP tier (``GameDailyLimit``; no row: no limit).

Enforced atomically by one upsert in the round's transaction that adds this round's units
(gacha: pulls) to the player's count for the UTC day and returns the new count; over the
limit, the refusal rolls the whole transaction back, the count included. Parallel rounds
serialise on the counter row, so the limit cannot be overshot."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.db import connection
from django.utils import timezone

from economy.selectors import wallet_vip_tier
from games.exceptions import DailyLimitReached
from games.services.config import game_daily_limits

_ADD_UNITS = (
    "INSERT INTO games_playergameday AS d (user_id, game, day, units) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (user_id, game, day) DO UPDATE SET units = d.units + excluded.units RETURNING units"
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
    limit = daily_limit_for(user_id=user_id, game=game)
    if limit is None:
        return
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(_ADD_UNITS, [user_id, game, now.date(), units])
        (used,) = cursor.fetchone()
    if used > limit:
        resets_at = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=now.tzinfo)
        raise DailyLimitReached(
            limit=limit, used=int(used) - units, resets_at=resets_at.isoformat().replace("+00:00", "Z")
        )
