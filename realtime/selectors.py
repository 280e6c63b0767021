from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from realtime.feed import feed_counts
from realtime.models import OutboxEvent
from realtime.registry import DomainEvent, online_players_source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxHealth:
    pending: int
    dead: int
    lag_seconds: float


def outbox_health() -> OutboxHealth:
    """One query: pending and dead counts and the oldest pending row's age. It reads only
    pending and dead rows (their partial indexes), not the sent ones the outbox keeps for a day."""
    row = OutboxEvent.objects.filter(status__in=[OutboxEvent.Status.PENDING, OutboxEvent.Status.DEAD]).aggregate(
        pending=Count("id", filter=Q(status=OutboxEvent.Status.PENDING)),
        dead=Count("id", filter=Q(status=OutboxEvent.Status.DEAD)),
        oldest=Min("occurred_at", filter=Q(status=OutboxEvent.Status.PENDING)),
    )
    lag = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else 0.0
    return OutboxHealth(pending=row["pending"], dead=row["dead"], lag_seconds=max(0.0, lag))


# --- Live metrics ------------------------------------------------------------------

ONLINE_WINDOW = timedelta(minutes=5)
ROUNDS_WINDOW = timedelta(hours=1)
GAME_ROUND_EVENT = "game_round"  # a settled round (games.services.rounds.round_event_data)


@dataclass(frozen=True)
class GlobalMetrics:
    online_users: int
    spins_last_hour: int
    big_wins_last_hour: int
    generated_at: datetime
    source: str  # "clickhouse" or "postgresql"
    big_wins_today: int = 0  # live feed items of the UTC day (realtime.feed)
    jackpots_today: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "online_users": self.online_users,
            "spins_last_hour": self.spins_last_hour,
            "big_wins_last_hour": self.big_wins_last_hour,
            "generated_at": self.generated_at,
            "source": self.source,
            "big_wins_today": self.big_wins_today,
            "jackpots_today": self.jackpots_today,
        }


def _online_users(now: datetime) -> int:
    # The accounts app registers the source: activity is recorded on every
    # authenticated request and socket connection, not at login, so a player
    # who went quiet drops out after five minutes.
    return online_players_source()(now - ONLINE_WINDOW)


def _rounds_from_postgres(since: datetime, threshold: int) -> tuple[int, int]:
    rounds = OutboxEvent.objects.filter(type=GAME_ROUND_EVENT, occurred_at__gte=since)
    row = rounds.aggregate(
        total=Count("id"), big=Count("id", filter=Q(data__result="win", data__payout__gte=threshold))
    )
    return int(row["total"]), int(row["big"])


def _rounds_from_clickhouse(since: datetime, threshold: int) -> tuple[int, int]:
    from realtime import clickhouse

    ch = clickhouse.client()
    try:
        # A constant table name; every value is a bound parameter.
        query = (
            "SELECT uniqExact(event_id), uniqExactIf(event_id, visitParamExtractString(data, 'result') = 'win' "  # noqa: S608
            "AND visitParamExtractInt(data, 'payout') >= %(threshold)s) "
            f"FROM {clickhouse.TABLE} WHERE type = %(type)s AND occurred_ms >= %(since_ms)s"
        )
        params = {"threshold": threshold, "type": GAME_ROUND_EVENT, "since_ms": int(since.timestamp() * 1000)}
        result = ch.execute(query, params)
    finally:
        ch.disconnect()
    return int(result[0][0]), int(result[0][1])


def global_metrics(*, now: datetime | None = None) -> GlobalMetrics:
    """Live figures for everyone (no personal data). Game counts come from
    ClickHouse when it is configured, otherwise from the outbox in PostgreSQL."""
    now = now or timezone.now()
    since = now - ROUNDS_WINDOW
    threshold = settings.BIG_WIN_THRESHOLD_GOLD
    rounds = big_wins = -1
    source = "postgresql"
    if settings.CLICKHOUSE_URL:
        try:
            rounds, big_wins = _rounds_from_clickhouse(since, threshold)
            source = "clickhouse"
        except Exception:  # noqa: BLE001 - analytics down must not take the live figures down
            logger.warning("live metrics: ClickHouse unavailable, counting from PostgreSQL", exc_info=True)
    if source == "postgresql":
        rounds, big_wins = _rounds_from_postgres(since, threshold)
    return GlobalMetrics(
        online_users=_online_users(now),
        spins_last_hour=rounds,
        big_wins_last_hour=big_wins,
        generated_at=now,
        source=source,
        **feed_counts(now=now),
    )


# --- Domain events of a past window ------------------------------------------------


@dataclass(frozen=True)
class DomainEventHistory:
    """Domain events of a window, oldest first, each once (by ``event_id``).

    ``complete_since``: from then on the source holds every event of the window; before it,
    some may be gone (the outbox deletes sent rows after ``OUTBOX_SENT_RETENTION``).
    ``truncated``: the window held more than the limit; only the oldest ``limit`` are here."""

    events: list[DomainEvent]
    source: str  # "clickhouse" or "postgresql"
    since: datetime
    until: datetime
    complete_since: datetime
    truncated: bool


def domain_events_since(
    event_types: Iterable[str], since: datetime, *, until: datetime | None = None, limit: int = 200_000
) -> DomainEventHistory:
    """Past domain events of ``event_types`` that happened in ``[since, until)``, for readers that
    replay history (the events back office's "who would already qualify" preview).

    From ClickHouse's ``events_log`` when ``CLICKHOUSE_URL`` is set (the whole history the sink
    has ingested, duplicates collapsed by ``event_id``), else — or when ClickHouse does not
    answer — from the PostgreSQL outbox, which keeps pending rows but deletes sent ones after
    ``OUTBOX_SENT_RETENTION`` (24 h by default) when the relay runs (Kafka configured)."""
    types = sorted(set(event_types))
    until = until or timezone.now()
    if not types or since >= until:
        return DomainEventHistory([], "postgresql", since, until, since, False)
    if settings.CLICKHOUSE_URL:
        try:
            return _history_from_clickhouse(types, since, until, limit)
        except Exception:  # noqa: BLE001 - analytics down: read what PostgreSQL still has
            logger.warning("domain event history: ClickHouse unavailable, reading the outbox", exc_info=True)
    return _history_from_postgres(types, since, until, limit)


def _history_from_postgres(types: list[str], since: datetime, until: datetime, limit: int) -> DomainEventHistory:
    rows = list(
        OutboxEvent.objects.filter(type__in=types, occurred_at__gte=since, occurred_at__lt=until)
        .order_by("occurred_at", "id")
        .values_list("event_id", "type", "user_id", "data", "occurred_at")[: limit + 1]
    )
    events = [
        DomainEvent(
            event_id=str(event_id),
            type=type_,
            user=None,
            user_id=user_id,
            data=data if isinstance(data, dict) else {},
            timestamp=occurred_at.isoformat().replace("+00:00", "Z"),
        )
        for event_id, type_, user_id, data, occurred_at in rows[:limit]
    ]
    complete_since = since
    if settings.KAFKA_BOOTSTRAP_SERVERS:  # the relay sends rows, and sent rows are pruned
        complete_since = max(since, timezone.now() - settings.OUTBOX_SENT_RETENTION)
    return DomainEventHistory(events, "postgresql", since, until, min(complete_since, until), len(rows) > limit)


def _history_from_clickhouse(types: list[str], since: datetime, until: datetime, limit: int) -> DomainEventHistory:
    from realtime import clickhouse

    ch = clickhouse.client()
    try:
        # A constant table name; every value is a bound parameter. GROUP BY event_id: the
        # ReplacingMergeTree may still hold a redelivered event twice before it merges.
        query = (
            "SELECT event_id, any(type), any(user_id), any(data), any(occurred_ms) AS occurred "  # noqa: S608
            f"FROM {clickhouse.TABLE} WHERE type IN %(types)s AND event_date >= %(since_date)s "
            "AND occurred_ms >= %(since_ms)s AND occurred_ms < %(until_ms)s "
            "GROUP BY event_id ORDER BY occurred, event_id LIMIT %(limit)s"
        )
        params = {
            "types": tuple(types),
            "since_date": since.astimezone(UTC).date(),
            "since_ms": int(since.timestamp() * 1000),
            "until_ms": int(until.timestamp() * 1000),
            "limit": limit + 1,
        }
        rows = ch.execute(query, params)
    finally:
        ch.disconnect()
    events = []
    for event_id, type_, user_id, data, occurred_ms in rows[:limit]:
        occurred = datetime.fromtimestamp(int(occurred_ms) / 1000, tz=UTC)
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            payload = {}
        events.append(
            DomainEvent(
                event_id=str(event_id),
                type=str(type_),
                user=None,
                user_id=int(user_id) or None,
                data=payload if isinstance(payload, dict) else {},
                timestamp=occurred.isoformat().replace("+00:00", "Z"),
            )
        )
    return DomainEventHistory(events, "clickhouse", since, until, since, len(rows) > limit)
