from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from conftest import current_run_id, require_service


@pytest.fixture
def kafka_topic(settings: Any) -> str:
    """A fresh topic per test, so tests never read each other's events."""
    require_service("Kafka", bool(django_settings.KAFKA_BOOTSTRAP_SERVERS))
    settings.KAFKA_TOPIC = f"casino.test.{current_run_id()}.{uuid.uuid4().hex[:12]}"
    from realtime.sink import ensure_topic

    ensure_topic(settings.KAFKA_TOPIC)
    return settings.KAFKA_TOPIC


@pytest.fixture
def clickhouse_db(settings: Any) -> Iterator[str]:
    """A throwaway ClickHouse database per test."""
    require_service("ClickHouse", bool(django_settings.CLICKHOUSE_URL))
    name = f"casino_test_{current_run_id()}_{uuid.uuid4().hex[:10]}"
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


class ThrowawayRedis:
    """A private ``redis-server`` on a free port; :meth:`kill` is the outage."""

    def __init__(self, process: Any, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    def kill(self) -> None:
        self.process.kill()
        from casino.childprocess import port_open

        assert not port_open(self.port), "redis-server still answers after SIGKILL"


@pytest.fixture
def throwaway_redis(settings: Any, tmp_path: Any) -> Iterator[ThrowawayRedis]:
    """Start a ``redis-server`` of the test's own and point the cache, the
    channel layer and the sliding windows (``REDIS_URL``) at it, so the test
    can kill it. Everything is restored (and the server stopped) afterwards."""
    import shutil

    from casino.childprocess import ProcessGroup, free_port, port_open, wait_until
    from casino.ratelimit import distinct_window_backend, sliding_window_backend

    binary = shutil.which("redis-server")
    require_service("redis-server (a binary to start a throwaway Redis)", binary is not None)
    assert binary is not None
    group = ProcessGroup(tmp_path)
    port = free_port()
    process = group.start(
        "redis-server",
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
    )
    try:
        wait_until(lambda: port_open(port), timeout=10, message=lambda: process.describe())
        redis = ThrowawayRedis(process, port)
        settings.REDIS_URL = redis.url
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis.url,
                "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0},
            }
        }
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis.url]}}
        }
        sliding_window_backend.cache_clear()
        distinct_window_backend.cache_clear()
        yield redis
    finally:
        group.stop_all()
        sliding_window_backend.cache_clear()
        distinct_window_backend.cache_clear()
