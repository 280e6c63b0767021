"""The boards' definitions (periods, metrics, keys, members) and their Redis client with its
scripts; the package's docstring (``games.services.leaderboards``) explains them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from casino.redis_keys import redis_key
from economy.enums import Currency
from games.enums import Game

ALL_GAMES = "all"
BOARD_GAMES: tuple[str, ...] = (*Game.values, ALL_GAMES)
WEEKLY, ALL_TIME = "weekly", "all_time"
PERIODS: tuple[str, ...] = (WEEKLY, ALL_TIME)
BIGGEST_WIN, TOTAL_WON, ROUNDS_PLAYED = "biggest_win", "total_won", "rounds_played"
METRICS: tuple[str, ...] = (BIGGEST_WIN, TOTAL_WON, ROUNDS_PLAYED)
SUM, MAX = "sum", "max"
MODE = {BIGGEST_WIN: MAX, TOTAL_WON: SUM, ROUNDS_PLAYED: SUM}
CURRENCY = Currency.GOLD
KEY_PREFIX = "leaderboard"
WEEKLY_KEEP = timedelta(days=14)
ROUND_DIGITS = 19  # a bigint round id, zero-padded so that byte order is numeric order
REBUILD_CHUNK = 1000
REBUILD_TEMP_SECONDS = 3600  # a rebuild that dies leaves its temporary keys for an hour at most

# One round on all its boards. KEYS: the boards (each board's members hash, user -> member, is
# "<board>:members": ``members_key``). ARGV: user id, the deciding round (zero-padded), then one
# word triple per board, in KEYS order: "sum" or "max", the amount, its time to live in seconds (0:
# none) -- one argument instead of three a board, with the members keys derived here, because
# redis-py encodes a command's arguments one by one, and that was most of the CPU a round's
# boards cost the request (62 arguments a won round; now 17).
_UPDATE = """
local user, round = ARGV[1], ARGV[2]
local function apply(board, members, mode, amount, ttl)
  local value, decided = amount, round
  local old = redis.call('HGET', members, user)
  if old then
    local score = redis.call('ZSCORE', board, old)
    if score then
      local current, current_round = -tonumber(score), string.sub(old, 1, string.find(old, ':', 1, true) - 1)
      if mode == 'sum' then
        value = current + amount
        if current_round > round then decided = current_round end
      elseif amount < current then
        return
      elseif amount == current and current_round < round then
        decided = current_round
      end
    end
    redis.call('ZREM', board, old)
  end
  local member = decided .. ':' .. user
  redis.call('ZADD', board, string.format('%.0f', -value), member)
  redis.call('HSET', members, user, member)
  if ttl > 0 then
    redis.call('EXPIRE', board, ttl)
    redis.call('EXPIRE', members, ttl)
  end
end
local specs = {}
for mode, amount, ttl in string.gmatch(ARGV[3], '(%a+) (%d+) (%d+)') do
  specs[#specs + 1] = {mode, tonumber(amount), tonumber(ttl)}
end
if #specs ~= #KEYS then
  return redis.error_reply('leaderboard update: ' .. #specs .. ' board specs for ' .. #KEYS .. ' boards')
end
for i, spec in ipairs(specs) do
  apply(KEYS[i], KEYS[i] .. ':members', spec[1], spec[2], spec[3])
end
return #KEYS
"""

# KEYS[1]: the board, KEYS[2]: its members; ARGV[1]: user id, ARGV[2]: how many from the top.
# -> {the top (members and scores, flat), {rank (0-based), score} or false when the user is not
# on the board}: a page in one call, one round trip.
_STANDING = """
local top = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
local member = redis.call('HGET', KEYS[2], ARGV[1])
local rank = member and redis.call('ZRANK', KEYS[1], member)
if not rank then return {top, false} end
return {top, {rank, redis.call('ZSCORE', KEYS[1], member)}}
"""


# --- Periods and keys ----------------------------------------------------------------------------


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week of ``moment``."""
    day = moment.astimezone(UTC).date()
    monday = day - timedelta(days=day.weekday())
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


def period_key(period: str, moment: datetime) -> str:
    """``2025-W07`` (ISO year and week, UTC) for a weekly board, ``all`` for an all-time one."""
    if period == ALL_TIME:
        return "all"
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def period_bounds(period: str, moment: datetime) -> tuple[datetime, datetime] | None:
    """[start, end) of the weekly period holding ``moment``; None for all time."""
    if period == ALL_TIME:
        return None
    start = week_start(moment)
    return start, start + timedelta(days=7)


def board_key(key_of_period: str, game: str, metric: str) -> str:
    """The board's sorted set (in the deployment's namespace, ``casino.redis_keys``)."""
    return redis_key(f"{KEY_PREFIX}:{key_of_period}:{game}:{metric}")


def members_key(board: str) -> str:
    return f"{board}:members"


def board_time_to_live(period: str, moment: datetime, now: datetime) -> int | None:
    """Seconds a board of ``period`` holding ``moment`` has left (``WEEKLY_KEEP`` after its week
    ends): 0 for an all-time board (kept), None for a weekly board already gone. Relative to
    the application's clock, not Redis's, so a test that moves time moves the boards' lives."""
    bounds = period_bounds(period, moment)
    if bounds is None:
        return 0
    seconds = int((bounds[1] + WEEKLY_KEEP - now).total_seconds())
    return seconds if seconds > 0 else None


def board_member(deciding_round: int, user_id: int) -> str:
    return f"{deciding_round:0{ROUND_DIGITS}d}:{user_id}"


def member_user_id(member: bytes | str) -> int:
    text = member.decode() if isinstance(member, bytes) else member
    return int(text.rpartition(":")[2])


# --- Redis ---------------------------------------------------------------------------------------


def leaderboards_in_redis() -> bool:
    """Full mode: the boards live in Redis (``REDIS_URL`` set); embedded: read from the rounds."""
    return bool(settings.REDIS_URL)


@dataclass(frozen=True)
class _Redis:
    client: Any  # redis-py types its sync and async clients as one union
    update: Any
    standing: Any


@functools.lru_cache(maxsize=4)
def _redis_for(url: str, timeout: float) -> _Redis:
    import redis

    client: Any = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return _Redis(client=client, update=client.register_script(_UPDATE), standing=client.register_script(_STANDING))


def boards_redis() -> _Redis:
    cache_config: dict[str, Any] = settings.CACHES["default"]
    timeout = float(cache_config.get("OPTIONS", {}).get("socket_timeout", 1.0))
    return _redis_for(settings.REDIS_URL, timeout)


# --- Recording rounds (the subscriber's on-commit work) ------------------------------------------
