"""A settled round on its boards: the updates, applied with one script call (on commit, in the
transaction's Redis pipeline: ``casino.redis_writes``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone
from redis.exceptions import NoScriptError

from casino.degraded import dependency_failed
from casino.redis_keys import redis_key
from casino.redis_writes import RedisWriter, on_commit_redis
from games.enums import RoundResult
from games.services.leaderboards.boards import (
    ALL_GAMES,
    BIGGEST_WIN,
    CURRENCY,
    KEY_PREFIX,
    MODE,
    PERIODS,
    ROUND_DIGITS,
    ROUNDS_PLAYED,
    TOTAL_WON,
    board_time_to_live,
    boards_redis,
    leaderboards_in_redis,
    period_key,
)


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
        time_to_live = board_time_to_live(period, round_.settled_at, now)
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
    redis = boards_redis()
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
        return boards_redis().client if leaderboards_in_redis() else None

    def queue(self, pipe: Any, items: list[Any]) -> None:
        sha = boards_redis().update.sha
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
