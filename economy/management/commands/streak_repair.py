"""``manage.py streak_repair [--since YYYY-MM-DD | --days N]``: make streak
records agree with the ledger (see ``economy.services.streak.streak_repair``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from economy.services.streak import streak_repair
from economy.streaks import utc_today


class Command(BaseCommand):
    help = "Repair streak days that disagree with the ledger's streak claims; prints the report."

    def add_arguments(self, parser: CommandParser) -> None:
        window = parser.add_mutually_exclusive_group()
        window.add_argument("--since", help="First UTC day to check (YYYY-MM-DD). Default: all history.")
        window.add_argument("--days", type=int, help="Check from N UTC days ago up to today (the task uses 7).")

    def handle(self, *args: Any, **options: Any) -> None:
        since = self._since(options.get("since"), options.get("days"))
        report = streak_repair(since=since)
        window = f"since {since.isoformat()}" if since else "all history"
        self.stdout.write(
            f"Streak repair #{report.pk} ({window}): {report.claims_checked} claim(s) checked, "
            f"{report.days_repaired} day(s) repaired, {report.streaks_recounted} streak(s) recounted."
        )
        for detail in report.details:
            self.stdout.write(f"  user {detail.get('user_id')} {detail.get('date')}: {detail.get('problem')}")

    @staticmethod
    def _since(since: str | None, days: int | None) -> date | None:
        if since:
            try:
                return date.fromisoformat(since)
            except ValueError as exc:
                raise CommandError(f"--since must be a date YYYY-MM-DD, got {since!r}") from exc
        if days is not None:
            if days < 0:
                raise CommandError("--days cannot be negative")
            return utc_today() - timedelta(days=days)
        return None
