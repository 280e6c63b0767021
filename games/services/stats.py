"""Per-player, per-game statistics, kept in the round's transaction by one upsert:

    INSERT … VALUES (1 play, the round's win/loss/draw, bet, payout)
    ON CONFLICT (user_id, game) DO UPDATE SET plays = plays + 1, …

so two parallel rounds of one player never lose an update (no read-modify-write), and
``max_win`` / the win streaks are computed by the database from the row it updates.
``stats_recalculate`` rebuilds them from the rounds (``manage.py recalc_game_stats``).
"""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from games.enums import RoundResult

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
"""


def stats_record_round(*, user_id: int, game: str, bet: int, payout: int, result: str) -> None:
    """Count one settled round (a helper: runs in the round's transaction). ``max_win`` is the
    largest payout of a won round; a draw leaves the win streak as it was."""
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
