from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from conftest import require_service


@pytest.fixture
def kafka_topic(settings: Any) -> str:
    """A fresh topic per test, so tests never read each other's events."""
    require_service("Kafka", bool(django_settings.KAFKA_BOOTSTRAP_SERVERS))
    settings.KAFKA_TOPIC = f"casino.test.{uuid.uuid4().hex[:12]}"
    from realtime.sink import ensure_topic

    ensure_topic(settings.KAFKA_TOPIC)
    return settings.KAFKA_TOPIC


@pytest.fixture
def clickhouse_db(settings: Any) -> Iterator[str]:
    """A throwaway ClickHouse database per test."""
    require_service("ClickHouse", bool(django_settings.CLICKHOUSE_URL))
    name = f"casino_test_{uuid.uuid4().hex[:10]}"
    base = django_settings.CLICKHOUSE_URL.rsplit("/", 1)[0]
    settings.CLICKHOUSE_URL = f"{base}/{name}"
    from realtime import clickhouse

    clickhouse.ensure_schema()
    yield settings.CLICKHOUSE_URL
    client = clickhouse.client(f"{base}/default")
    client.execute(f"DROP DATABASE IF EXISTS {name}")
    client.disconnect()


def consume_all(topic: str, *, expected: int, timeout: float = 30.0) -> list[Any]:
    """Read ``topic`` from the beginning until ``expected`` messages (or timeout)."""
    import time

    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": django_settings.KAFKA_BOOTSTRAP_SERVERS,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.5):
                if message.error() is None:
                    messages.append(message)
        # Linger briefly: anything beyond "expected" would be a duplicate.
        extra_deadline = time.monotonic() + 1.0
        while time.monotonic() < extra_deadline:
            for message in consumer.consume(num_messages=1000, timeout=0.2):
                if message.error() is None:
                    messages.append(message)
    finally:
        consumer.close()
    return messages
