"""A board read: from Redis, or by one SQL query over the rounds (embedded mode, a Redis outage);
and the rebuild of every board from that query."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.models import User
from casino.degraded import dependency_failed
from games.enums import RoundResult, RoundStatus
from games.models import GameRound
from games.services.leaderboards.boards import (
    ALL_GAMES,
    BIGGEST_WIN,
    BOARD_GAMES,
    CURRENCY,
    METRICS,
    PERIODS,
    REBUILD_CHUNK,
    REBUILD_TEMP_SECONDS,
    ROUNDS_PLAYED,
    TOTAL_WON,
    board_key,
    board_member,
    board_time_to_live,
    boards_redis,
    leaderboards_in_redis,
    member_user_id,
    members_key,
    period_bounds,
    period_key,
)


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
    flat, mine = boards_redis().standing(keys=[board, members_key(board)], args=[user_id, limit])
    top = zip(flat[0::2], flat[1::2], strict=True)
    standings = [
        Standing(rank=index + 1, user_id=member_user_id(member), value=-int(float(score)), deciding_round=0)
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
    rows = boards_redis().client.zrange(board, 0, -1, withscores=True)
    return [
        Standing(
            rank=index + 1,
            user_id=member_user_id(member),
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
    client = boards_redis().client
    built: dict[str, int] = {}
    for period in periods:
        key_of_period = period_key(period, now)
        time_to_live = board_time_to_live(period, now, now) or 0
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
        pipe.zadd(temp_board, {board_member(row.deciding_round, row.user_id): -row.value for row in chunk})
        pipe.hset(
            temp_members, mapping={str(row.user_id): board_member(row.deciding_round, row.user_id) for row in chunk}
        )
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
