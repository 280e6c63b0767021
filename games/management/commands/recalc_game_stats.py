"""``manage.py recalc_game_stats [--user ID] [--batch-size N]``: rebuild the players' game
statistics (``PlayerGameStats``) from their settled rounds, through
:func:`games.services.stats.stats_recalculate`, and report how many rows it changed.

Each round keeps the statistics itself (one upsert in its transaction); this is the repair and
the proof: after a clean history it changes nothing (``0 rows changed``).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from games.services import stats_recalculate
from games.services.stats import RECALCULATE_BATCH_SIZE


class Command(BaseCommand):
    help = "Recompute the players' game statistics from their settled rounds; prints the rows changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", type=int, help="Only this player's statistics (user id).")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=RECALCULATE_BATCH_SIZE,
            help=f"Players per transaction (default {RECALCULATE_BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        started = time.monotonic()

        def progress(done: int, total: int, changed: int) -> None:
            self.stdout.write(f"  {done}/{total} players ({100 * done // total}%), {changed} rows changed so far")

        who = f"player {options['user']}" if options["user"] is not None else "every player"
        self.stdout.write(f"Recalculating game statistics of {who} from the settled rounds...")
        changed = stats_recalculate(user_id=options["user"], batch_size=batch_size, progress=progress)
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Done in {seconds:.2f} s: {changed} rows changed."))
