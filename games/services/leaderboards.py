"""Leaderboards: weekly (ISO week, UTC) and all-time boards, per game and for all games together,
of three metrics. One set of definitions, which the Redis boards, the SQL query and the rebuild
all follow, so the two stores agree exactly:

* counted rounds: settled rounds played in gold (the boards compare amounts, so one currency;
  every game ships in gold). A round belongs to the ISO week (UTC) of its ``settled_at``;
* ``biggest_win``: the largest payout of a won round (``result = win``: paid more than the bet);
* ``total_won``: the sum of the payouts (a draw's returned bet included, as the player stats
  count it); a round paying nothing does not change it;
* ``rounds_played``: the number of settled rounds.

A player is on a board once a round counts for it: ``biggest_win`` needs a won round,
``total_won`` a round that paid something.

**Ties go to who got there first.** "When" is the round sequence: round ids are allocated in the
order bets are placed (a live crash round counts from its bet), they are exact in both stores,
and the id is in the ``game_round`` event already (its ``settled_at`` is rounded to milliseconds
by the JSON encoder, and reading the row again would cost the round a statement). A player's
*deciding round* on a board is

* for a sum (``total_won``, ``rounds_played``): the last round that changed the value, the
  highest id among the rounds that added something;
* for the maximum (``biggest_win``): the first round that paid it, the lowest id among the won
  rounds paying exactly the maximum.

The ranking is value descending, then deciding round ascending. Round ids are unique, so the
order is total: two players never share a rank.

**Redis (full mode).** One sorted set per board, key ``leaderboard:<period key>:<game>:<metric>``
(period key ``2025-W07`` or ``all``), with

    score  = -value                                  (ZRANGE ascending = value descending)
    member = "<deciding round, 19 digits>:<user id>"  (equal scores sort by member bytes, so the
                                                       earlier deciding round comes first)

so ``ZRANGE 0 n-1`` is the top n and ``ZRANK + 1`` a player's rank, exactly the SQL's order.
The member changes with the deciding round, so a hash per board (``…:members``) maps a user to
their current member. One Lua script call per round reads both of each of its boards, applies
the sum or the maximum and writes them back; Redis runs a script alone, so parallel rounds of
one player on several processes never lose an update. (One call touches several boards: under
Redis Cluster they would need one hash tag; the design runs a single Redis.) The updates
commute (a sum adds and keeps the highest deciding round; a maximum keeps the larger value, and
for an equal one the lower deciding round), so rounds applied in any order (two processes
committing out of order) give the same board. Scores are exact: a double holds every integer up
to 2^53 (9e15 gold); the script writes them with ``%.0f``, not Lua's 14-digit number format.

The subscriber to ``game_round`` (``games/subscribers.py``) applies a round on commit (a rolled
back round never counts), all its boards in one script call; a Redis failure there is logged
(``casino.degraded``, use ``leaderboards``) and never raised, and the boards miss the round
until ``manage.py rebuild_leaderboards`` rebuilds them from the rounds. Weekly boards expire
``WEEKLY_KEEP`` after their week ends (a time to live from the application's clock).

**Rebuild.** Every board is recomputed by the SQL query below into temporary keys, then both
keys are renamed over the live ones in one MULTI/EXEC (readers see the old board or the new
one, never half of one). It is exact for the rounds committed when its query ran; a round
settling while the command runs may land on the board being replaced and be lost, so rebuild
when it is quiet (or again).

**Embedded mode (no Redis)**, and whenever Redis does not answer a read (it fails open, logged):
the same ranking by one SQL query over ``GameRound`` with window functions (PostgreSQL and
SQLite alike). It filters on ``settled_at``, which no index covers (``round_game_created_idx``
is on ``created_at``): fine for an embedded database, the rebuild and a Redis outage; serving
a large PostgreSQL without Redis would want an index on ``(settled_at)``.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from redis.exceptions import NoScriptError

from accounts.models import User
from casino.degraded import dependency_failed
from casino.redis_keys import redis_key
from casino.redis_writes import RedisWriter, on_commit_redis
from economy.enums import Currency
from games.enums import Game, RoundResult, RoundStatus
from games.models import GameRound

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


def _time_to_live(period: str, moment: datetime, now: datetime) -> int | None:
    """Seconds a board of ``period`` holding ``moment`` has left (``WEEKLY_KEEP`` after its week
    ends): 0 for an all-time board (kept), None for a weekly board already gone. Relative to
    the application's clock, not Redis's, so a test that moves time moves the boards' lives."""
    bounds = period_bounds(period, moment)
    if bounds is None:
        return 0
    seconds = int((bounds[1] + WEEKLY_KEEP - now).total_seconds())
    return seconds if seconds > 0 else None


def _member(deciding_round: int, user_id: int) -> str:
    return f"{deciding_round:0{ROUND_DIGITS}d}:{user_id}"


def _user_of(member: bytes | str) -> int:
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


def _redis() -> _Redis:
    cache_config: dict[str, Any] = settings.CACHES["default"]
    timeout = float(cache_config.get("OPTIONS", {}).get("socket_timeout", 1.0))
    return _redis_for(settings.REDIS_URL, timeout)


# --- Recording rounds (the subscriber's on-commit work) ------------------------------------------


@dataclass(frozen=True)
class CountedRound:
    """What the boards need of a settled round (from its ``game_round`` event, or its row)."""

    round_id: int
    user_id: int
    game: str
    result: str
    payout: int
    currency: str
    settled_at: datetime


@dataclass(frozen=True)
class BoardUpdate:
    board: str
    mode: str
    amount: int
    time_to_live: int


def board_updates(round_: CountedRound, *, now: datetime) -> list[BoardUpdate]:
    """The boards a round changes and by how much (the definitions of the module docstring)."""
    if round_.currency != CURRENCY:
        return []
    amounts = {ROUNDS_PLAYED: 1}
    if round_.payout > 0:
        amounts[TOTAL_WON] = round_.payout
    if round_.result == RoundResult.WIN:
        amounts[BIGGEST_WIN] = round_.payout
    updates = []
    boards = redis_key(KEY_PREFIX)  # board_key's namespace, worked out once for the round's boards
    for period in PERIODS:
        time_to_live = _time_to_live(period, round_.settled_at, now)
        if time_to_live is None:
            continue
        key_of_period = period_key(period, round_.settled_at)
        for game in (round_.game, ALL_GAMES):
            for metric, amount in amounts.items():
                board = f"{boards}:{key_of_period}:{game}:{metric}"  # board_key(key_of_period, game, metric)
                updates.append(BoardUpdate(board, MODE[metric], amount, time_to_live))
    return updates


def leaderboard_record(*, rounds: Iterable[CountedRound]) -> int:
    """Apply settled rounds to their Redis boards: one script call per round (all its boards);
    returns the number of board updates. Raises on a Redis failure: the caller after a commit
    is :func:`leaderboard_record_quietly`.

    A round (what a game's commit brings) is one ``EVALSHA``, one round trip. Several go in a
    pipeline, which redis-py precedes with a ``SCRIPT EXISTS`` round trip of its own: two."""
    redis = _redis()
    calls, count = _update_calls(rounds, now=timezone.now())
    if len(calls) == 1:
        redis.update(keys=calls[0][0], args=calls[0][1])
    elif calls:
        pipe = redis.client.pipeline(transaction=False)
        for keys, args in calls:
            redis.update(keys=keys, args=args, client=pipe)
        pipe.execute()
    return count


def _update_calls(rounds: Iterable[CountedRound], *, now: datetime) -> tuple[list[tuple[list[str], list[object]]], int]:
    """The update script's calls for ``rounds`` (keys, arguments), one a round that changes a
    board, and how many board updates they make."""
    calls: list[tuple[list[str], list[object]]] = []
    count = 0
    for round_ in rounds:
        updates = board_updates(round_, now=now)
        if not updates:
            continue
        keys = [update.board for update in updates]
        spec = " ".join(f"{update.mode} {update.amount} {update.time_to_live}" for update in updates)
        calls.append((keys, [round_.user_id, f"{round_.round_id:0{ROUND_DIGITS}d}", spec]))
        count += len(updates)
    return calls, count


def leaderboard_record_quietly(rounds: Sequence[CountedRound]) -> None:
    """:func:`leaderboard_record` after a commit: never raises (design promise 9)."""
    try:
        leaderboard_record(rounds=rounds)
    except Exception as error:  # noqa: BLE001 - after commit: fail quietly; a rebuild restores the boards
        dependency_failed(dependency="redis", use="leaderboards", error=error)


class _BoardUpdates(RedisWriter):
    """Settled rounds applied to their boards after the commit, in the one pipeline of the
    transaction's Redis writes (``casino.redis_writes``, with the dashboard's version bump):
    an ``EVALSHA`` of the update script per round. A Redis that lost the script (restarted)
    answers ``NOSCRIPT``: those rounds go through :func:`leaderboard_record_quietly`, which
    loads it again."""

    def client(self) -> Any | None:
        return _redis().client if leaderboards_in_redis() else None

    def queue(self, pipe: Any, items: list[Any]) -> None:
        sha = _redis().update.sha
        calls, _count = _update_calls(items, now=timezone.now())
        for keys, args in calls:
            pipe.evalsha(sha, len(keys), *keys, *args)

    def replies(self, items: list[Any], replies: list[Any]) -> None:
        errors = [reply for reply in replies if isinstance(reply, Exception)]
        if not errors:
            return
        if all(isinstance(error, NoScriptError) for error in errors):
            # The script is missing for every call alike, so none ran: all of them again, loading it.
            leaderboard_record_quietly(items)
            return
        dependency_failed(dependency="redis", use="leaderboards", error=errors[0])

    def without_pipeline(self, items: list[Any]) -> None:
        leaderboard_record_quietly(items)


BOARD_UPDATES = _BoardUpdates()


def leaderboard_record_on_commit(round_: CountedRound) -> None:
    """Apply a settled round to its boards once the current transaction commits (with the
    transaction's other Redis writes: one round trip)."""
    on_commit_redis(BOARD_UPDATES, round_)


def counted_round_from_event(*, user_id: int | None, data: dict[str, Any]) -> CountedRound | None:
    """The round of a ``game_round`` event (``games.services.rounds.round_event_data``)."""
    if user_id is None or not data.get("settled_at"):
        return None
    return CountedRound(
        round_id=int(data["round_id"]),
        user_id=int(user_id),
        game=str(data["game"]),
        result=str(data["result"]),
        payout=int(data["payout"]),
        currency=str(data["currency"]),
        settled_at=datetime.fromisoformat(str(data["settled_at"]).replace("Z", "+00:00")),
    )


# --- Reading a board -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    rank: int
    user_id: int
    value: int
    deciding_round: int


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    user_id: int
    nickname: str
    value: int


@dataclass(frozen=True)
class Leaderboard:
    game: str
    period: str
    metric: str
    period_key: str
    resets_at: datetime | None
    entries: list[LeaderboardEntry]
    me_rank: int | None
    me_value: int
    source: str  # "redis" or "database"

    def public(self) -> dict[str, Any]:
        """What a player may see: nicknames, ranks and values; no ids, no contact details."""
        return {
            "game": self.game,
            "period": self.period,
            "metric": self.metric,
            "period_key": self.period_key,
            "resets_at": self.resets_at,
            "entries": [{"rank": e.rank, "nickname": e.nickname, "value": e.value} for e in self.entries],
            "me": {"rank": self.me_rank, "value": self.me_value},
        }


_AMOUNT = {  # metric -> (the amount of a counted round, the extra condition of a counted round)
    BIGGEST_WIN: ("payout", "AND result = %s"),
    TOTAL_WON: ("payout", "AND payout > 0"),
    ROUNDS_PLAYED: ("1", ""),
}
_AGGREGATE = {BIGGEST_WIN: "MAX(amount)", TOTAL_WON: "SUM(amount)", ROUNDS_PLAYED: "COUNT(*)"}
_DECIDING = {BIGGEST_WIN: "amount DESC, id ASC", TOTAL_WON: "id DESC", ROUNDS_PLAYED: "id DESC"}


def leaderboard_ranking(
    *,
    game: str,
    period: str,
    metric: str,
    now: datetime,
    limit: int | None = None,
    user_id: int | None = None,
) -> list[Standing]:
    """The board computed from the rounds by one query: the top ``limit`` (every player when
    None) and the row of ``user_id`` wherever it ranks. Per player: the value (window
    aggregate) and the deciding round (the first row of the player's rounds ordered as the
    module docstring says); then one ROW_NUMBER over value DESC, deciding round ASC."""
    amount, condition = _AMOUNT[metric]
    params: list[Any] = [RoundStatus.SETTLED, CURRENCY]
    filters = condition
    if metric == BIGGEST_WIN:
        params.append(RoundResult.WIN)
    if game != ALL_GAMES:
        filters += " AND game = %s"
        params.append(game)
    bounds = period_bounds(period, now)
    if bounds is not None:
        filters += " AND settled_at >= %s AND settled_at < %s"
        params += [connection.ops.adapt_datetimefield_value(moment) for moment in bounds]
    selection = ""
    if limit is not None:
        selection = "WHERE rank <= %s OR user_id = %s"
        params += [limit, user_id if user_id is not None else -1]
    # Every fragment is a constant of this module; every value is a bound parameter.
    sql = f"""
        WITH counted AS (
            SELECT user_id, id, {amount} AS amount
            FROM {GameRound._meta.db_table}
            WHERE status = %s AND currency = %s {filters}
        ),
        per_player AS (
            SELECT user_id, id AS deciding_round,
                   {_AGGREGATE[metric]} OVER (PARTITION BY user_id) AS value,
                   ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY {_DECIDING[metric]}) AS pick
            FROM counted
        ),
        ranked AS (
            SELECT user_id, value, deciding_round,
                   ROW_NUMBER() OVER (ORDER BY value DESC, deciding_round ASC) AS rank
            FROM per_player WHERE pick = 1
        )
        SELECT rank, user_id, value, deciding_round FROM ranked {selection} ORDER BY rank
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            Standing(rank=int(rank), user_id=int(user), value=int(value), deciding_round=int(deciding))
            for rank, user, value, deciding in cursor.fetchall()
        ]


def _from_redis(*, board: str, limit: int, user_id: int) -> tuple[list[Standing], Standing | None]:
    # One EVALSHA: a pipeline holding a script costs redis-py's SCRIPT EXISTS round trip first.
    flat, mine = _redis().standing(keys=[board, members_key(board)], args=[user_id, limit])
    top = zip(flat[0::2], flat[1::2], strict=True)
    standings = [
        Standing(rank=index + 1, user_id=_user_of(member), value=-int(float(score)), deciding_round=0)
        for index, (member, score) in enumerate(top)
    ]
    me = None
    if mine:
        rank, score = mine
        me = Standing(rank=int(rank) + 1, user_id=user_id, value=-int(float(score)), deciding_round=0)
    return standings, me


def redis_ranking(*, game: str, period: str, metric: str, now: datetime) -> list[Standing]:
    """The whole Redis board, in rank order (tests and the admin compare it to the SQL)."""
    board = board_key(period_key(period, now), game, metric)
    rows = _redis().client.zrange(board, 0, -1, withscores=True)
    return [
        Standing(
            rank=index + 1,
            user_id=_user_of(member),
            value=-int(score),
            deciding_round=int((member.decode() if isinstance(member, bytes) else member).partition(":")[0]),
        )
        for index, (member, score) in enumerate(rows)
    ]


def leaderboard_get(
    *, game: str, period: str, metric: str, limit: int, user_id: int, now: datetime | None = None
) -> Leaderboard:
    """A board's top ``limit`` with nicknames, and the caller's own rank and value (rank None
    and value 0 when the caller is not on it). Redis in full mode; the rounds otherwise, and
    when Redis does not answer (fail open, logged)."""
    now = now or timezone.now()
    key_of_period = period_key(period, now)
    top: list[Standing] | None = None
    me: Standing | None = None
    source = "database"
    if leaderboards_in_redis():
        try:
            top, me = _from_redis(board=board_key(key_of_period, game, metric), limit=limit, user_id=user_id)
            source = "redis"
        except Exception as error:  # noqa: BLE001 - a board is information: read the rounds instead
            dependency_failed(dependency="redis", use="leaderboards", error=error)
    if top is None:
        rows = leaderboard_ranking(game=game, period=period, metric=metric, now=now, limit=limit, user_id=user_id)
        top = [row for row in rows if row.rank <= limit]
        me = next((row for row in rows if row.user_id == user_id), None)
    nicknames = dict(User.objects.filter(pk__in=[row.user_id for row in top]).values_list("pk", "nickname"))
    bounds = period_bounds(period, now)
    return Leaderboard(
        game=game,
        period=period,
        metric=metric,
        period_key=key_of_period,
        resets_at=bounds[1] if bounds else None,
        entries=[
            LeaderboardEntry(
                rank=row.rank, user_id=row.user_id, nickname=nicknames.get(row.user_id, ""), value=row.value
            )
            for row in top
        ],
        me_rank=me.rank if me else None,
        me_value=me.value if me else 0,
        source=source,
    )


# --- Rebuilding the Redis boards from the rounds (manage.py rebuild_leaderboards) -----------------


def leaderboard_rebuild(
    *,
    periods: Sequence[str] = PERIODS,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Rebuild every board of ``periods`` (weekly: the current ISO week) exactly from the rounds:
    each board is written into temporary keys, then renamed over the live ones with the
    members hash in one MULTI/EXEC. Returns board key -> players on it."""
    now = now or timezone.now()
    client = _redis().client
    built: dict[str, int] = {}
    for period in periods:
        key_of_period = period_key(period, now)
        time_to_live = _time_to_live(period, now, now) or 0
        for game in BOARD_GAMES:
            for metric in METRICS:
                board = board_key(key_of_period, game, metric)
                rows = leaderboard_ranking(game=game, period=period, metric=metric, now=now)
                _replace_board(client, board, rows, time_to_live)
                built[board] = len(rows)
                if progress is not None:
                    progress(f"{board}: {len(rows)} players")
    return built


def _replace_board(client: Any, board: str, rows: Sequence[Standing], time_to_live: int) -> None:
    suffix = uuid.uuid4().hex[:12]
    temp_board, temp_members = f"{board}:rebuild:{suffix}", f"{members_key(board)}:rebuild:{suffix}"
    for start in range(0, len(rows), REBUILD_CHUNK):
        chunk = rows[start : start + REBUILD_CHUNK]
        pipe = client.pipeline(transaction=False)
        pipe.zadd(temp_board, {_member(row.deciding_round, row.user_id): -row.value for row in chunk})
        pipe.hset(temp_members, mapping={str(row.user_id): _member(row.deciding_round, row.user_id) for row in chunk})
        pipe.expire(temp_board, REBUILD_TEMP_SECONDS)
        pipe.expire(temp_members, REBUILD_TEMP_SECONDS)
        pipe.execute()
    swap = client.pipeline(transaction=True)
    if rows:
        for temp, live in ((temp_board, board), (temp_members, members_key(board))):
            swap.rename(temp, live)
            if time_to_live:
                swap.expire(live, time_to_live)
            else:
                swap.persist(live)  # RENAME keeps the temporary key's time to live
    else:
        swap.delete(board, members_key(board))
    swap.execute()
