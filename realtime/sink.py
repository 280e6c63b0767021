"""Kafka -> ClickHouse sink (``manage.py sink_clickhouse``).

A consumer-group member that collects messages until ``SINK_BATCH_ROWS`` rows
or ``SINK_FLUSH_SECONDS`` have passed, inserts the batch into ``events_log``
and only then commits the offsets. If the insert fails, the same batch is
retried (with backoff) before anything new is read, and nothing is committed
meanwhile: a crash re-reads the batch, and ReplacingMergeTree plus
``uniqExact(event_id)`` make the repeat harmless.

A dependency that is down never ends the process: at start the sink waits for
ClickHouse and then for the broker (``waiting for ...`` log lines, a doubling
delay up to ``DEPENDENCY_WAIT_MAX_SECONDS``); later, a failed insert is retried
the same way, a failed offset commit is logged and left to the next batch's
commit (a re-read batch is harmless), and the Redis heartbeat fails quietly.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from dataclasses import dataclass
from threading import Event
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from casino.degraded import dependency_failed, dependency_wait
from realtime import clickhouse, metrics

logger = logging.getLogger(__name__)


@dataclass
class SinkStats:
    batches: int = 0
    inserted: int = 0
    skipped: int = 0
    last_insert_at: float = 0.0


def envelope_decode(value: bytes) -> Any:
    """A message's envelope: orjson (about a quarter of the json module's CPU for an envelope), the json
    module for what orjson refuses (an integer beyond 64 bits); ValueError when it is no JSON."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return json.loads(value)


def make_consumer(group_id: str | None = None, **overrides: Any) -> Any:
    from confluent_kafka import Consumer

    config = {
        "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
        "group.id": group_id or settings.SINK_CONSUMER_GROUP,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "client.id": "casino-clickhouse-sink",
    }
    config.update(overrides)
    return Consumer(config)


def ensure_topic(topic: str | None = None) -> None:
    """Create the topic if missing, so a consumer never subscribes to nothing."""
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = topic or settings.KAFKA_TOPIC
    admin = AdminClient({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS})
    if topic in admin.list_topics(timeout=10).topics:
        return
    futures = admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])
    for future in futures.values():
        try:
            future.result(10)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


def _store_sink_heartbeat(stats: SinkStats) -> None:
    from django.core.cache import cache

    try:
        cache.set("sink:last_insert_at", stats.last_insert_at, timeout=None)
    except Exception as error:  # noqa: BLE001 - Redis down: the heartbeat is informative only
        dependency_failed(dependency="redis", use="sink_heartbeat", error=error)


def sink_run(
    *, stop: Event | None = None, consumer: Any = None, ch: Any = None, stats: SinkStats | None = None
) -> SinkStats:
    stop = stop or Event()
    stats = stats or SinkStats()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(signum, lambda *_: stop.set())
        except ValueError:  # not the main thread
            break
    if not dependency_wait(
        clickhouse.ensure_schema, dependency="clickhouse", name=f"ClickHouse ({_safe_url()})", stop=stop
    ):
        return stats
    if not dependency_wait(
        ensure_topic, dependency="kafka", name=f"the Kafka broker at {settings.KAFKA_BOOTSTRAP_SERVERS}", stop=stop
    ):
        return stats
    ch = ch or clickhouse.client()
    consumer = consumer or make_consumer()
    consumer.subscribe([settings.KAFKA_TOPIC])
    batch_rows = settings.SINK_BATCH_ROWS
    flush_seconds = settings.SINK_FLUSH_SECONDS
    try:
        while not stop.is_set():
            envelopes: list[dict[str, Any]] = []
            deadline = time.monotonic() + flush_seconds
            while len(envelopes) < batch_rows and time.monotonic() < deadline and not stop.is_set():
                messages = consumer.consume(
                    num_messages=min(1000, batch_rows - len(envelopes)), timeout=max(0.05, deadline - time.monotonic())
                )
                for message in messages:
                    if message.error():
                        logger.warning("sink: consumer error %s", message.error())
                        continue
                    try:
                        envelopes.append(envelope_decode(message.value()))
                    except (TypeError, ValueError):
                        stats.skipped += 1
                        logger.warning("sink: skipped a message that is not JSON at offset %s", message.offset())
            if not envelopes:
                continue
            _insert_with_retry(ch, envelopes, stats, stop)
            try:
                consumer.commit(asynchronous=False)
            except Exception as error:  # noqa: BLE001 - the next commit covers these offsets too
                dependency_failed(dependency="kafka", use="sink_commit", error=error)
    finally:
        consumer.close()
        ch.disconnect()
    return stats


def _insert_with_retry(ch: Any, envelopes: list[dict[str, Any]], stats: SinkStats, stop: Event) -> None:
    delay = 0.5
    while True:
        now = timezone.now()
        try:
            rows = clickhouse.rows_from_envelopes(envelopes, ingested=now)
            clickhouse.insert_rows(ch, rows)
        except (KeyError, ValueError, TypeError) as exc:
            # A malformed envelope would block the partition forever: keep the good ones.
            good = [e for e in envelopes if _well_formed(e)]
            stats.skipped += len(envelopes) - len(good)
            logger.warning("sink: dropped %s malformed envelope(s): %s", len(envelopes) - len(good), exc)
            if len(good) == len(envelopes):
                raise
            envelopes = good
            if not envelopes:
                return
            continue
        except Exception:
            metrics.clickhouse_insert_failures.inc()
            logger.exception("sink: insert failed; waiting for ClickHouse, next try in %.1fs", delay)
            if stop.wait(delay):
                raise
            delay = min(settings.DEPENDENCY_WAIT_MAX_SECONDS, delay * 2)
            continue
        stats.batches += 1
        stats.inserted += len(rows)
        stats.last_insert_at = time.time()
        _store_sink_heartbeat(stats)
        metrics.clickhouse_inserted.inc(len(rows))
        for row in rows:
            metrics.clickhouse_ingestion_delay.observe(max(0.0, (row[6] - row[5]) / 1000))
        return


def _safe_url() -> str:
    """CLICKHOUSE_URL without its password, for log lines."""
    from urllib.parse import urlparse

    parsed = urlparse(settings.CLICKHOUSE_URL)
    return f"{parsed.hostname}:{parsed.port or 9000}{parsed.path}"


def _well_formed(envelope: dict[str, Any]) -> bool:
    try:
        clickhouse.rows_from_envelopes([envelope], ingested=timezone.now())
    except (KeyError, ValueError, TypeError):
        return False
    return True
