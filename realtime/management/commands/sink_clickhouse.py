"""``manage.py sink_clickhouse``: consume domain events from Kafka into ClickHouse."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from casino.gc_tuning import gc_freeze_startup
from realtime import sink
from realtime.metrics import serve_metrics


class Command(BaseCommand):
    help = "Consume casino.events from Kafka and insert them into ClickHouse (long-running)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.KAFKA_BOOTSTRAP_SERVERS or not settings.CLICKHOUSE_URL:
            raise CommandError("Both KAFKA_BOOTSTRAP_SERVERS and CLICKHOUSE_URL must be set.")
        serve_metrics(self)
        self.stdout.write(
            f"sink: {settings.KAFKA_TOPIC} -> ClickHouse events_log "
            f"(batch {settings.SINK_BATCH_ROWS} rows / {settings.SINK_FLUSH_SECONDS}s; Ctrl-C stops)"
        )
        gc_freeze_startup()  # start-up is over: full collections skip what it loaded (casino.gc_tuning)
        stats = sink.sink_run()
        self.stdout.write(f"sink stopped: {stats.inserted} rows in {stats.batches} batches, {stats.skipped} skipped")
