"""Row locks of the event pipeline: the relay's claim on due outbox rows (and its mark of
the rows it sent).

One rule on top of ``FOR UPDATE SKIP LOCKED`` (two relays never take the same
row): a player's events leave in id order, so a row is not claimed while an
older row of the same player waits for a retry (pending, not due yet). Rows
another relay holds are skipped by ``SKIP LOCKED``; :func:`outbox_in_player_order`
then drops the claimed rows that would overtake them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from casino.rows import row_columns, row_from_values
from realtime.models import OutboxEvent

# Written out (the relay runs these every pass, a few times a second under load: the ORM's
# build and compile of the claim, its subquery and the order check were half of its CPU).
_TABLE = '"realtime_outboxevent"'
PENDING = OutboxEvent.Status.PENDING.value
SENT = OutboxEvent.Status.SENT.value


@cache
def _claim_sql() -> str:
    """Due pending rows, oldest first, but none of a player whose older pending row waits for
    its retry; locked, skipping rows another relay holds (PostgreSQL; SQLite serialises writers)."""
    lock = ""
    if connection.features.has_select_for_update_skip_locked:
        strength = "NO KEY UPDATE" if connection.features.has_select_for_no_key_update else "UPDATE"
        lock = f" FOR {strength} OF o SKIP LOCKED"
    return (
        f"SELECT {row_columns(OutboxEvent, table='o')} FROM {_TABLE} o "  # noqa: S608 - this module's names only
        "WHERE o.status = %s AND o.next_attempt_at <= %s "
        f"AND NOT EXISTS (SELECT 1 FROM {_TABLE} w WHERE w.status = %s AND w.user_id = o.user_id "
        "AND w.id < o.id AND w.next_attempt_at > %s) "
        f"ORDER BY o.id LIMIT %s{lock}"
    )


def _ids_clause(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """``column`` among ``ids``: one array parameter on PostgreSQL (one statement whatever the
    count), one parameter per id on other databases."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def outbox_lock_due(*, now: datetime, limit: int) -> list[OutboxEvent]:
    """Lock up to ``limit`` pending rows due at ``now``, oldest first: rows
    other relays hold are skipped, and so is every row of a player whose older
    row waits for its retry (it would overtake that row)."""
    moment = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(), [PENDING, moment, PENDING, moment, limit])
        return [row_from_values(OutboxEvent, values) for values in cursor.fetchall()]


def outbox_mark_sent(ids: Sequence[int], *, sent_at: datetime) -> None:
    """Mark the rows ``ids`` sent at ``sent_at`` (the relay's pass, once their delivery was reported)."""
    where, params = _ids_clause("id", ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {_TABLE} SET "status" = %s, "sent_at" = %s, "last_error" = \'\' WHERE {where}',  # noqa: S608
            [SENT, connection.ops.adapt_datetimefield_value(sent_at), *params],
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
    where, params = _ids_clause("user_id", sorted(players))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, user_id FROM {_TABLE} WHERE status = %s AND {where} AND id <= %s ORDER BY id",  # noqa: S608
            [PENDING, *params, max(claimed)],
        )
        pending = cursor.fetchall()
    for pk, user_id in pending:
        if user_id is not None and pk not in claimed and user_id not in first_missing:
            first_missing[user_id] = pk
    ready: list[OutboxEvent] = []
    held: list[OutboxEvent] = []
    for row in rows:
        cut = first_missing.get(row.user_id) if row.user_id is not None else None
        (held if cut is not None and row.pk > cut else ready).append(row)
    return ready, held
