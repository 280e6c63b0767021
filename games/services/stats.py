"""Per-player, per-game statistics, kept in the round's transaction by one upsert:

    INSERT … VALUES (1 play, the round's win/loss/draw, bet, payout)
    ON CONFLICT (user_id, game) DO UPDATE SET plays = plays + 1, …

so two parallel rounds of one player never lose an update (no read-modify-write), and
``max_win`` / the win streaks are computed by the database from the row it updates.
``stats_recalculate`` rebuilds them from the rounds (``manage.py recalc_game_stats``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone

from games.enums import RoundResult, RoundStatus
from games.models import FairnessSeed, GameRound, PlayerGameStats

_UPSERT = """
INSERT INTO games_playergamestats AS s
    (user_id, game, plays, wins, losses, draws, total_bet, total_won, max_win,
     current_win_streak, best_win_streak, updated_at)
VALUES (%(user_id)s, %(game)s, 1, %(win)s, %(loss)s, %(draw)s, %(bet)s, %(payout)s, %(win_amount)s,
        %(win)s, %(win)s, %(now)s)
ON CONFLICT (user_id, game) DO UPDATE SET
    plays = s.plays + 1,
    wins = s.wins + excluded.wins,
    losses = s.losses + excluded.losses,
    draws = s.draws + excluded.draws,
    total_bet = s.total_bet + excluded.total_bet,
    total_won = s.total_won + excluded.total_won,
    max_win = CASE WHEN excluded.max_win > s.max_win THEN excluded.max_win ELSE s.max_win END,
    current_win_streak = CASE WHEN excluded.wins = 1 THEN s.current_win_streak + 1
                              WHEN excluded.draws = 1 THEN s.current_win_streak ELSE 0 END,
    best_win_streak = CASE WHEN excluded.wins = 1 AND s.current_win_streak + 1 > s.best_win_streak
                           THEN s.current_win_streak + 1 ELSE s.best_win_streak END,
    updated_at = excluded.updated_at
RETURNING current_win_streak
"""


def stats_record_round(*, user_id: int, game: str, bet: int, payout: int, result: str) -> int:
    """Count one settled round (a helper: runs in the round's transaction) and return the
    player's win streak in this game after it. ``max_win`` is the largest payout of a won round;
    a draw leaves the win streak as it was."""
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT,
            {
                "user_id": user_id,
                "game": game,
                "win": int(result == RoundResult.WIN),
                "loss": int(result == RoundResult.LOSE),
                "draw": int(result == RoundResult.DRAW),
                "bet": bet,
                "payout": payout,
                "win_amount": payout if result == RoundResult.WIN else 0,
                "now": timezone.now(),
            },
        )
        (streak,) = cursor.fetchone()
    return int(streak)


# --- Recalculation from the rounds (``manage.py recalc_game_stats``) ---------------------------
#
# The same definitions as the upsert above, over a player's settled rounds in the order they
# were settled (settled_at, then id): plays and the win/loss/draw counts, the sums of bets and
# payouts, max_win = the largest payout of a won round (0 without one); the win streaks by
# "gaps and islands": every loss starts a new run (a draw neither counts nor breaks one), so
#     run(round)   = number of losses up to and including it
#     best streak  = the most wins in one run
#     current      = the wins of the last run.
_RECOMPUTE = """
WITH settled AS (
    SELECT user_id, game, result, bet_amount, payout,
           SUM(CASE WHEN result = 'lose' THEN 1 ELSE 0 END)
               OVER (PARTITION BY user_id, game ORDER BY settled_at, id) AS run
    FROM games_gameround
    WHERE status = 'settled' AND user_id = ANY(%(user_ids)s)
), runs AS (
    SELECT user_id, game, run, COUNT(*) FILTER (WHERE result = 'win') AS wins
    FROM settled GROUP BY user_id, game, run
), streaks AS (
    SELECT user_id, game, MAX(wins) AS best, (ARRAY_AGG(wins ORDER BY run DESC))[1] AS current
    FROM runs GROUP BY user_id, game
)
SELECT t.user_id, t.game, t.plays, t.wins, t.losses, t.draws, t.total_bet, t.total_won, t.max_win,
       s.current, s.best
FROM (
    SELECT user_id, game, COUNT(*) AS plays,
           COUNT(*) FILTER (WHERE result = 'win') AS wins,
           COUNT(*) FILTER (WHERE result = 'lose') AS losses,
           COUNT(*) FILTER (WHERE result = 'draw') AS draws,
           SUM(bet_amount) AS total_bet, SUM(payout) AS total_won,
           COALESCE(MAX(payout) FILTER (WHERE result = 'win'), 0) AS max_win
    FROM settled GROUP BY user_id, game
) t JOIN streaks s USING (user_id, game)
"""

STATS_FIELDS: tuple[str, ...] = (
    "plays",
    "wins",
    "losses",
    "draws",
    "total_bet",
    "total_won",
    "max_win",
    "current_win_streak",
    "best_win_streak",
)
RECALCULATE_BATCH_SIZE = 500


def stats_recalculate(
    *,
    user_id: int | None = None,
    batch_size: int = RECALCULATE_BATCH_SIZE,
    progress: Callable[[int, int, int], None] | None = None,
) -> int:
    """Rebuild ``PlayerGameStats`` from the settled rounds of one player (``user_id``) or of every
    player, and return how many rows changed (inserted, corrected or deleted: a row without a
    settled round behind it goes). ``progress(players_done, players_total, rows_changed)`` is
    called after each batch.

    Players are done ``batch_size`` at a time, each batch in its own transaction that first
    locks what every writer of their statistics locks first: their seed rows (a new round takes
    its nonce there before anything else) and their open rounds (a live crash round is settled
    under its round lock), in that order, as ``games.locks`` orders them. No round of theirs can
    then be counted between the read and the write, and rounds waiting on those locks count
    themselves on top of the rebuilt rows once the batch commits."""
    if user_id is not None:
        user_ids = [user_id]
    else:
        played = GameRound.objects.filter(status=RoundStatus.SETTLED).values_list("user_id", flat=True)
        counted = PlayerGameStats.objects.values_list("user_id", flat=True)
        user_ids = sorted(set(played.distinct()) | set(counted.distinct()))
    changed = 0
    for start in range(0, len(user_ids), batch_size):
        batch = user_ids[start : start + batch_size]
        changed += _recalculate_batch(batch)
        if progress is not None:
            progress(min(start + batch_size, len(user_ids)), len(user_ids), changed)
    return changed


def _recalculate_batch(user_ids: list[int]) -> int:
    with transaction.atomic(durable=True):
        list(
            FairnessSeed.objects.select_for_update(of=("self",), no_key=True)
            .filter(user_id__in=user_ids, revealed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        list(
            GameRound.objects.select_for_update(of=("self",), no_key=True)
            .filter(user_id__in=user_ids, status=RoundStatus.OPEN)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        with connection.cursor() as cursor:
            cursor.execute(_RECOMPUTE, {"user_ids": user_ids})
            computed = {
                (row[0], row[1]): dict(zip(STATS_FIELDS, (int(value) for value in row[2:]), strict=True))
                for row in cursor.fetchall()
            }
        existing = {
            (row.user_id, row.game): row
            for row in PlayerGameStats.objects.select_for_update(of=("self",), no_key=True)
            .filter(user_id__in=user_ids)
            .order_by("pk")
        }
        now = timezone.now()
        stale = [row.pk for key, row in existing.items() if key not in computed]
        to_update: list[PlayerGameStats] = []
        to_create: list[PlayerGameStats] = []
        for (player_id, game), values in computed.items():
            row = existing.get((player_id, game))
            if row is None:
                to_create.append(PlayerGameStats(user_id=player_id, game=game, updated_at=now, **values))
            elif any(getattr(row, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(row, name, value)
                row.updated_at = now
                to_update.append(row)
        if stale:
            PlayerGameStats.objects.filter(pk__in=stale).delete()
        if to_update:
            PlayerGameStats.objects.bulk_update(to_update, [*STATS_FIELDS, "updated_at"])
        if to_create:
            PlayerGameStats.objects.bulk_create(to_create)
    return len(stale) + len(to_update) + len(to_create)
