"""ClickHouse: the analytics copy of every domain event.

Table ``events_log`` (works on ClickHouse 18.16, Debian's, and newer):

* ``ReplacingMergeTree(ingested_ms)`` ordered by ``(event_date, type,
  event_id)``: rows with the same event id collapse on merge, so the Kafka
  relay's at-least-once delivery becomes effectively-once;
* until a merge happens duplicates may still be there, so every count uses
  ``uniqExact(event_id)`` (never ``count()``);
* ``occurred_ms`` / ``ingested_ms`` are epoch milliseconds (``DateTime`` has
  only seconds in 18.16); the ingestion delay is their difference.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from django.conf import settings

from casino.inserts import json_encode

TABLE = "events_log"

CREATE_DATABASE = "CREATE DATABASE IF NOT EXISTS {database}"
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {database}.events_log (
    event_id String,
    type String,
    user_id UInt64,
    data String,
    occurred_at DateTime,
    occurred_ms UInt64,
    ingested_ms UInt64,
    event_date Date
) ENGINE = ReplacingMergeTree(ingested_ms)
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_date, type, event_id)
"""
COLUMNS = ("event_id", "type", "user_id", "data", "occurred_at", "occurred_ms", "ingested_ms", "event_date")


def database_name(url: str | None = None) -> str:
    path = urlparse(url or settings.CLICKHOUSE_URL).path.strip("/")
    return path or "default"


def client(url: str | None = None) -> Any:
    from clickhouse_driver import Client

    return Client.from_url(url or settings.CLICKHOUSE_URL)


def ensure_schema(ch: Any = None) -> None:
    """Create the database and table if missing (idempotent)."""
    url = settings.CLICKHOUSE_URL
    database = database_name(url)
    parsed = urlparse(url)
    from clickhouse_driver import Client

    # Connect without the database first: it may not exist yet.
    bootstrap = Client(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 9000,
        user=parsed.username or "default",
        password=parsed.password or "",
    )
    try:
        bootstrap.execute(CREATE_DATABASE.format(database=database))
        bootstrap.execute(CREATE_TABLE.format(database=database))
    finally:
        bootstrap.disconnect()


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def rows_from_envelopes(envelopes: Iterable[dict[str, Any]], *, ingested: datetime) -> list[tuple[Any, ...]]:
    ingested_ms = int(ingested.timestamp() * 1000)
    rows = []
    for envelope in envelopes:
        occurred = parse_timestamp(envelope["timestamp"])
        rows.append(
            (
                str(envelope["event_id"]),
                str(envelope["type"]),
                int(envelope.get("user_id") or 0),
                json_encode(envelope.get("data") or {}).decode(),
                occurred.replace(tzinfo=None),
                int(occurred.timestamp() * 1000),
                ingested_ms,
                occurred.date(),
            )
        )
    return rows


def insert_rows(ch: Any, rows: list[tuple[Any, ...]]) -> None:
    ch.execute(f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES", rows)


def count_events(ch: Any, *, event_type: str | None = None, since: datetime | None = None) -> int:
    """Distinct events (duplicates not yet merged away count once)."""
    where: list[str] = ["1 = 1"]
    params: dict[str, Any] = {}
    if event_type:
        where.append("type = %(type)s")
        params["type"] = event_type
    if since:
        where.append("occurred_ms >= %(since_ms)s")
        params["since_ms"] = int(since.timestamp() * 1000)
    # Only fixed condition strings are joined; every value is a bound parameter.
    query = f"SELECT uniqExact(event_id) FROM {TABLE} WHERE {' AND '.join(where)}"  # noqa: S608
    result = ch.execute(query, params)
    return int(result[0][0])
