"""Row locks of the event pipeline: the relay's claim on due outbox rows.

One rule on top of ``FOR UPDATE SKIP LOCKED`` (two relays never take the same
row): a player's events leave in id order, so a row is not claimed while an
older row of the same player waits for a retry (pending, not due yet). Rows
another relay holds are skipped by ``SKIP LOCKED``; :func:`outbox_in_player_order`
then drops the claimed rows that would overtake them.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef

from realtime.models import OutboxEvent


def outbox_lock_due(*, now: datetime, limit: int) -> list[OutboxEvent]:
    """Lock up to ``limit`` pending rows due at ``now``, oldest first: rows
    other relays hold are skipped, and so is every row of a player whose older
    row waits for its retry (it would overtake that row)."""
    older_waiting = OutboxEvent.objects.filter(
        status=OutboxEvent.Status.PENDING,
        user_id=OuterRef("user_id"),
        pk__lt=OuterRef("pk"),
        next_attempt_at__gt=now,
    )
    return list(
        OutboxEvent.objects.select_for_update(skip_locked=True, of=("self",), no_key=True)
        .filter(status=OutboxEvent.Status.PENDING, next_attempt_at__lte=now)
        .filter(~Exists(older_waiting))
        .order_by("id")[:limit]
    )


def outbox_in_player_order(rows: list[OutboxEvent]) -> tuple[list[OutboxEvent], list[OutboxEvent]]:
    """Split locked ``rows`` (id order) into those that may be sent now and
    those held back: a player's row is held when an older pending row of the
    same player is not among ``rows`` (another relay holds it, or it is not
    due). What may be sent is, per player, a prefix of their pending rows.

    Rows without a player (``user_id`` null) carry no order and are never held.
    One read of the pending ids (committed state: a row another relay is
    sending still reads as pending, so it holds the younger ones back)."""
    players = {row.user_id for row in rows if row.user_id is not None}
    if not players:
        return rows, []
    claimed = {row.pk for row in rows}
    first_missing: dict[int, int] = {}  # player -> their oldest pending id not claimed here
    pending = (
        OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING, user_id__in=players, pk__lte=max(claimed))
        .order_by("id")
        .values_list("pk", "user_id")
    )
    for pk, user_id in pending:
        if user_id is not None and pk not in claimed and user_id not in first_missing:
            first_missing[user_id] = pk
    ready: list[OutboxEvent] = []
    held: list[OutboxEvent] = []
    for row in rows:
        cut = first_missing.get(row.user_id) if row.user_id is not None else None
        (held if cut is not None and row.pk > cut else ready).append(row)
    return ready, held
