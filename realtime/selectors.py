from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from realtime.models import OutboxEvent
from realtime.registry import online_players_source

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboxHealth:
    pending: int
    dead: int
    lag_seconds: float


def outbox_health() -> OutboxHealth:
    """One query: pending and dead counts and the oldest pending row's age."""
    row = OutboxEvent.objects.aggregate(
        pending=Count("id", filter=Q(status=OutboxEvent.Status.PENDING)),
        dead=Count("id", filter=Q(status=OutboxEvent.Status.DEAD)),
        oldest=Min("occurred_at", filter=Q(status=OutboxEvent.Status.PENDING)),
    )
    lag = (timezone.now() - row["oldest"]).total_seconds() if row["oldest"] else 0.0
    return OutboxHealth(pending=row["pending"], dead=row["dead"], lag_seconds=max(0.0, lag))


# --- Live metrics ------------------------------------------------------------------

ONLINE_WINDOW = timedelta(minutes=5)
ROUNDS_WINDOW = timedelta(hours=1)
GAME_ROUND_EVENT = "game_event"


@dataclass(frozen=True)
class GlobalMetrics:
    online_users: int
    spins_last_hour: int
    big_wins_last_hour: int
    generated_at: datetime
    source: str  # "clickhouse" or "postgresql"

    def as_dict(self) -> dict[str, object]:
        return {
            "online_users": self.online_users,
            "spins_last_hour": self.spins_last_hour,
            "big_wins_last_hour": self.big_wins_last_hour,
            "generated_at": self.generated_at,
            "source": self.source,
        }


def _online_users(now: datetime) -> int:
    # The accounts app registers the source: activity is recorded on every
    # authenticated request and socket connection, not at login, so a player
    # who went quiet drops out after five minutes.
    return online_players_source()(now - ONLINE_WINDOW)


def _rounds_from_postgres(since: datetime, threshold: int) -> tuple[int, int]:
    rounds = OutboxEvent.objects.filter(type=GAME_ROUND_EVENT, occurred_at__gte=since)
    row = rounds.aggregate(total=Count("id"), big=Count("id", filter=Q(data__win__gte=threshold)))
    return int(row["total"]), int(row["big"])


def _rounds_from_clickhouse(since: datetime, threshold: int) -> tuple[int, int]:
    from realtime import clickhouse

    ch = clickhouse.client()
    try:
        # A constant table name; every value is a bound parameter.
        query = (
            "SELECT uniqExact(event_id), uniqExactIf(event_id, visitParamExtractInt(data, 'win') >= %(threshold)s) "  # noqa: S608
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
    )
