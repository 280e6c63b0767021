"""``manage.py rebuild_leaderboards [--period weekly|all_time]``: rebuild the Redis leaderboards
exactly from the settled rounds, through :func:`games.services.leaderboards.leaderboard_rebuild`
(each board built into temporary keys, then renamed over the live one atomically), printing one
line per board.

The subscriber keeps the boards on each round's commit; this is the repair after Redis lost
data or missed rounds while it was down, and the first fill of a new Redis. Weekly: the
current ISO week (UTC). In embedded mode (no ``REDIS_URL``) there is nothing to rebuild: the
boards are read from the rounds.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from games.services import leaderboard_rebuild
from games.services.leaderboards import PERIODS, leaderboards_in_redis


class Command(BaseCommand):
    help = "Rebuild the Redis leaderboards from the settled rounds (weekly: the current ISO week)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--period", choices=PERIODS, help="Only this period's boards (default: both).")

    def handle(self, *args: Any, **options: Any) -> None:
        if not leaderboards_in_redis():
            raise CommandError("REDIS_URL is not set: the leaderboards are read from the rounds, nothing to rebuild.")
        periods = (options["period"],) if options["period"] else PERIODS
        started = time.monotonic()
        self.stdout.write(f"Rebuilding the {' and '.join(periods)} leaderboards from the settled rounds...")
        built = leaderboard_rebuild(periods=periods, progress=lambda line: self.stdout.write(f"  {line}"))
        seconds = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Done in {seconds:.2f} s: {len(built)} boards rebuilt."))
