"""``manage.py clickhouse_schema``: create the ClickHouse database and table (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime import clickhouse


class Command(BaseCommand):
    help = "Create the ClickHouse database and the events_log table if missing."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.CLICKHOUSE_URL:
            raise CommandError("CLICKHOUSE_URL is not set.")
        clickhouse.ensure_schema()
        self.stdout.write(f"ClickHouse schema ready: {clickhouse.database_name()}.{clickhouse.TABLE}")
