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

The package: ``boards`` (the definitions, keys and the Redis client with its scripts),
``recording`` (a round on its boards) and ``reading`` (a board read, from Redis or by SQL, and
the rebuild). Import from here.
"""

from games.services.leaderboards.boards import (
    ALL_GAMES,
    ALL_TIME,
    BIGGEST_WIN,
    BOARD_GAMES,
    CURRENCY,
    KEY_PREFIX,
    MAX,
    METRICS,
    MODE,
    PERIODS,
    ROUNDS_PLAYED,
    SUM,
    TOTAL_WON,
    WEEKLY,
    WEEKLY_KEEP,
    board_key,
    boards_redis,
    leaderboards_in_redis,
    members_key,
    period_bounds,
    period_key,
    week_start,
)
from games.services.leaderboards.reading import (
    Leaderboard,
    LeaderboardEntry,
    Standing,
    leaderboard_get,
    leaderboard_ranking,
    leaderboard_rebuild,
    redis_ranking,
)
from games.services.leaderboards.recording import (
    BOARD_UPDATES,
    BoardUpdate,
    CountedRound,
    board_updates,
    counted_round_from_event,
    leaderboard_record,
    leaderboard_record_on_commit,
    leaderboard_record_quietly,
)

__all__ = [
    "ALL_GAMES",
    "ALL_TIME",
    "BIGGEST_WIN",
    "BOARD_GAMES",
    "BOARD_UPDATES",
    "CURRENCY",
    "KEY_PREFIX",
    "MAX",
    "METRICS",
    "MODE",
    "PERIODS",
    "ROUNDS_PLAYED",
    "SUM",
    "TOTAL_WON",
    "WEEKLY",
    "WEEKLY_KEEP",
    "BoardUpdate",
    "CountedRound",
    "Leaderboard",
    "LeaderboardEntry",
    "Standing",
    "board_key",
    "board_updates",
    "boards_redis",
    "counted_round_from_event",
    "leaderboard_get",
    "leaderboard_ranking",
    "leaderboard_rebuild",
    "leaderboard_record",
    "leaderboard_record_on_commit",
    "leaderboard_record_quietly",
    "leaderboards_in_redis",
    "members_key",
    "period_bounds",
    "period_key",
    "redis_ranking",
    "week_start",
]
