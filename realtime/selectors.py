from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Min, Q
from django.utils import timezone

from realtime.models import OutboxEvent


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
