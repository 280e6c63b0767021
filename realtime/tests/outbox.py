"""Reading the outbox in tests: what was announced, a grouped row's changes each as its own event."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from realtime.models import OutboxEvent
from realtime.services import part_event_id

GROUPED_TYPES = ("progress_update",)


def announced(rows: QuerySet[OutboxEvent] | None = None, *, types: tuple[str, ...] = ()) -> list[OutboxEvent]:
    """The events ``rows`` (all rows by default) announced, in id order, a grouped row's
    changes as events of their own types (unsaved, with their derived ids); ``types``: only those."""
    rows = OutboxEvent.objects.all() if rows is None else rows
    events: list[OutboxEvent] = []
    for row in rows.order_by("id"):
        if row.type in GROUPED_TYPES:
            events += [_part(row, index, change) for index, change in enumerate(row.data["changes"])]
        else:
            events.append(row)
    return [event for event in events if not types or event.type in types]


def _part(row: OutboxEvent, index: int, change: dict[str, Any]) -> OutboxEvent:
    return OutboxEvent(
        event_id=part_event_id(row.event_id, index),
        type=change["type"],
        user_id=row.user_id,
        data=change["data"],
        occurred_at=row.occurred_at,
    )
