"""Prometheus metrics of the event pipeline.

Counters are per process (the relay and the sink each run as their own
process and are scraped on their own); the outbox gauges are read from the
database at scrape time by a collector, so every web process reports the same
truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
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

# --- Sockets and pushes (realtime.consumers, realtime.push, realtime.channel_layer) ---------
websocket_connects = Counter(
    "websocket_connects",
    "WebSocket connects by outcome: accepted (authenticated and greeted), unauthorized (4401), "
    "unavailable (4503: Redis or the database did not answer).",
    ["result"],
)
websocket_open = Gauge("websocket_open", "WebSockets open in this process.", multiprocess_mode="livesum")
websocket_resyncs = Counter("websocket_resyncs", "Resyncs clients asked for (a gap in seq).")
websocket_replays = Counter(
    "websocket_replays", "Resyncs answered with the missed events (replay); the others got a fresh initial_state."
)
websocket_initial_state_seconds = Histogram(
    "websocket_initial_state_seconds",
    "Time to read a socket's initial state (waiting for a socket thread included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
pushes = Counter(
    "realtime_pushes",
    "Pushed events by outcome: written (one message per process holding a socket of the player), "
    "absent (the player had no socket: nothing sent, no sequence number).",
    ["result"],
)
push_dropped = Counter(
    "realtime_push_dropped",
    "Pushed messages lost: channel_full (a process's queue in Redis was full), queue_full (this "
    "process had REALTIME_PUSH_MAX_PENDING pushes waiting), failed (Redis did not answer in time).",
    ["reason"],
)
push_batch_events = Histogram(
    "realtime_push_batch_events",
    "Events sent to Redis together by the push dispatcher (one script per batch).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
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
