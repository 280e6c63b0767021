"""Prometheus metrics of the event pipeline.

Counters are per process (the relay and the sink each run as their own
process and are scraped on their own); the outbox gauges are read from the
database at scrape time by a collector, so every web process reports the same
truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

kafka_publish_failures = Counter(
    "kafka_publish_failures", "Outbox rows whose Kafka delivery failed (each failed attempt counts)."
)
outbox_relayed = Counter("outbox_relayed_events", "Outbox rows delivered to Kafka.")
clickhouse_ingestion_delay = Histogram(
    "clickhouse_ingestion_delay_seconds",
    "Time from an event's occurrence to its insert into ClickHouse.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300),
)
clickhouse_inserted = Counter("clickhouse_inserted_events", "Events inserted into ClickHouse by the sink.")
clickhouse_insert_failures = Counter("clickhouse_insert_failures", "Failed ClickHouse batch inserts.")
websocket_policy_closes = Counter(
    "websocket_policy_closes",
    "WebSockets the server closed for what the client sent (message_too_big, rate_limited).",
    ["reason"],
)


class OutboxCollector(Collector):
    """outbox_pending_count, outbox_lag_seconds, outbox_dead_count from the database."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Names only: registering must not query the database (apps may not be ready).
        for name in ("outbox_pending_count", "outbox_lag_seconds", "outbox_dead_count"):
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError

        from realtime.selectors import outbox_health

        try:
            health = outbox_health()
        except DatabaseError:
            return
        yield GaugeMetricFamily("outbox_pending_count", "Outbox rows waiting for the relay.", value=health.pending)
        yield GaugeMetricFamily(
            "outbox_lag_seconds", "Age of the oldest pending outbox row (0 when none).", value=health.lag_seconds
        )
        yield GaugeMetricFamily("outbox_dead_count", "Outbox rows given up after 10 attempts.", value=health.dead)


_collector_registered = False


def register_collectors() -> None:
    global _collector_registered
    if not _collector_registered:
        REGISTRY.register(OutboxCollector())
        _collector_registered = True


def serve_metrics(command: Any = None) -> None:
    """Long-running processes (relay, sink) serve /metrics on METRICS_PORT."""
    from django.conf import settings
    from prometheus_client import start_http_server

    if settings.METRICS_PORT:
        start_http_server(settings.METRICS_PORT)
        if command is not None:
            command.stdout.write(f"metrics on :{settings.METRICS_PORT}/metrics")
