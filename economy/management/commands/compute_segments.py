"""``manage.py compute_segments [--source auto|clickhouse|postgresql]``: every player's RFM
group now, as the nightly task computes it (``economy.services.segments``), with progress.

Exit status 1 (``CommandError``) when the source asked for cannot be read."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from casino.errors import ApplicationError
from economy.services.segments import SOURCES, segments_compute


class Command(BaseCommand):
    help = "Recompute every player's RFM segment (PlayerSegment) and record a SegmentRun."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--source",
            choices=SOURCES,
            default="auto",
            help="auto (default): ClickHouse when CLICKHOUSE_URL is set, else PostgreSQL; "
            "clickhouse fails rather than falling back.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(done: int, total: int) -> None:
            self.stdout.write(f"  {done}/{total} players written ({100 * done // max(1, total)}%)")

        try:
            run = segments_compute(source=options["source"], progress=progress, say=self.stdout.write)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(self.style.SUCCESS(f"OK: segment run #{run.pk}, {run.players} player(s)."))
