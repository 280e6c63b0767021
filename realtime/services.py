"""``emit``: the one way a state change announces itself (design promise 3).

Inside the caller's transaction ``emit``

1. writes an :class:`~realtime.models.OutboxEvent` row (shipped later to Kafka
   by the relay, at least once), unless the type is registered ``stored=False``
   (a notification: its inbox row is the durable record);
2. runs the in-process subscribers registered for the type, in the same
   transaction (missions, achievements, wallet opening...);
3. has the envelope ``{event_id, type, user_id, data, timestamp}`` pushed to
   the player's channel group ``user.<id>`` once the transaction commits
   (unless the type is registered with ``pushed=False``). The transaction's
   pushes go, in emit order, in its after-commit Redis pipeline
   (``casino.redis_writes``, :data:`PUSHES`), with its dashboard and
   leaderboard writes: one round trip, one script call for the pushes, a run
   of one player's events as one message (``realtime.channel_layer``). A
   rolled-back transaction (or savepoint) pushes and stores nothing. The
   script numbers each player's events (``seq``, ``realtime.presence``) and
   skips players without a socket. Without a Redis layer (embedded mode),
   or when Redis lost the script, the pushes go through ``realtime.push``'s
   thread instead.

The push runs after the commit, so it never raises (design promise 9): with
Redis down it is counted and logged (``casino.degraded``) and the response
of the committed request stays a success; the outbox row is the durable record.
Measured (bench/README.md, "Eighteenth round"): the push thread's own round trip
and wake-up cost a spin more CPU than the script call itself.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from casino.db import json_safe, rows_insert_later
from casino.degraded import dependency_failed
from casino.redis_writes import RedisWriter, on_commit_redis_many
from realtime import metrics as push_metrics
from realtime.channel_layer import RedisChannelLayer
from realtime.channel_messages import Push, report_drops
from realtime.models import OutboxEvent, envelope_timestamp
from realtime.presence import local_sequence, user_group
from realtime.push import dispatcher
from realtime.registry import (
    EVENT_TYPES,
    DomainEvent,
    UnknownEventType,
    UserRef,
    is_pushed,
    is_stored,
    subscribers_for,
)

logger = logging.getLogger(__name__)


def user_group_name(user_id: int) -> str:
    return user_group(user_id)


def _json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through JSON as Django's encoder writes it, so dates and decimals become
    strings (``casino.db.json_safe``). The result carries its JSON text: the outbox row's
    INSERT sends that text instead of encoding the data a second time."""
    return json_safe(data)


# Every column an emitted row sets (the rest keep their defaults: attempts 0, no error, not sent).
OUTBOX_FIELDS = (
    "event_id",
    "type",
    "user_id",
    "data",
    "occurred_at",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
)


def emit(*, event_type: str, user: UserRef, data: dict[str, Any]) -> OutboxEvent:
    return emit_many([(event_type, user, data)])[0]


def emit_many(events: list[tuple[str, UserRef, dict[str, Any]]]) -> list[OutboxEvent]:
    """``emit`` for several ``(event_type, user, data)`` at once, in this
    order, with one INSERT for all their outbox rows. The rows come back in
    that order; those of a type registered ``stored=False`` are never saved."""
    for event_type, _, _ in events:
        if event_type not in EVENT_TYPES:
            raise UnknownEventType(f"unregistered event type {event_type!r}; register it in realtime.registry")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("realtime.emit must be called inside the transaction that changes the state")
    occurred_at = timezone.now()
    rows = [
        OutboxEvent(
            event_id=uuid.uuid4(),
            type=event_type,
            user_id=getattr(user, "pk", user),
            data=_json_safe(data),
            occurred_at=occurred_at,
            next_attempt_at=occurred_at,
        )
        for event_type, user, data in events
    ]
    # One INSERT for every event of the transaction, before it commits; at once inside a savepoint
    # (after what was queued earlier: the outbox keeps emit order). A type not stored writes no row.
    rows_insert_later([row for row in rows if is_stored(row.type)], OUTBOX_FIELDS)
    timestamp = envelope_timestamp(occurred_at)
    pushes = [
        push
        for row, (_, user, _) in zip(rows, events, strict=True)
        if (push := _deliver(str(row.event_id), row.type, row.user_id, row.data, timestamp, user))
    ]
    if pushes:
        on_commit_redis_many(PUSHES, pushes)
    return rows


def emit_grouped(event_type: str, user: UserRef, parts: list[tuple[str, dict[str, Any]]]) -> OutboxEvent | None:
    """Several changes of one player made by one transaction, stored and shipped as ONE
    outbox row of ``event_type`` (``data``: ``{"changes": [{"type", "data"}, ...]}``) but
    otherwise each its own event: each part's subscribers run, and each part of a pushed
    type is pushed to the player as an event of its own type, in order. A part's
    ``event_id`` is derived from the row's (``part_event_id``), so it is traced back to
    the row. None (no row) when ``parts`` is empty.

    For changes that come in numbers on every round (the progress of a dozen missions and
    events): the outbox, Kafka and ClickHouse carry one row where they carried a dozen,
    and a client sees the same events as before."""
    if not parts:
        return None
    for part_type, _ in parts:
        if part_type not in EVENT_TYPES:
            raise UnknownEventType(f"unregistered event type {part_type!r}; register it in realtime.registry")
    [row] = emit_many([(event_type, user, {"changes": [{"type": t, "data": data} for t, data in parts]})])
    timestamp = envelope_timestamp(row.occurred_at)
    pushes = []
    for index, change in enumerate(row.data["changes"]):
        part_id = str(part_event_id(row.event_id, index))
        if push := _deliver(part_id, change["type"], row.user_id, change["data"], timestamp, user):
            pushes.append(push)
    if pushes:
        on_commit_redis_many(PUSHES, pushes)
    return row


def part_event_id(group_event_id: uuid.UUID, index: int) -> uuid.UUID:
    """The ``event_id`` of the ``index``-th part of a grouped row (``emit_grouped``): the row's
    with its lowest bits flipped by ``index + 1``, so the row's id is the part's flipped back.
    A random (version 4) id stays one, as its version and variant bits are not among them; a
    derivation by hash (``uuid5``) cost a spin's dozen parts more CPU than their pushes."""
    return uuid.UUID(int=group_event_id.int ^ (index + 1))


def _deliver(
    event_id: str, event_type: str, user_id: int | None, data: dict[str, Any], timestamp: str, user: UserRef
) -> Push | None:
    """Run the subscribers now; the push to send on commit, if any. The event as its outbox
    row's ``envelope()`` has it, built from its fields (a grouped row's part has no row)."""
    domain_event = DomainEvent(
        event_id=event_id,
        type=event_type,
        user=user if isinstance(user, AbstractBaseUser) else None,
        user_id=user_id,
        data=data,
        timestamp=timestamp,
    )
    for subscriber in subscribers_for(event_type):
        subscriber(domain_event)
    if user_id is None or not is_pushed(event_type):
        return None
    envelope = {"event_id": event_id, "type": event_type, "user_id": user_id, "data": data, "timestamp": timestamp}
    return _event_push(user_id, envelope)


def _event_push(user_id: int, envelope: dict[str, Any]) -> Push:
    return Push(
        group=user_group_name(user_id),
        message={"type": "domain.event", "envelope": envelope},
        user_id=user_id,
        numbered=True,
    )


CLOSE_SESSION_REVOKED = 4401  # the player must log in again (logout-all, password change, ban)
CLOSE_SELF_EXCLUDED = 4403  # the player may not play now (self-exclusion)


def sockets_close(*, user_id: int, code: int) -> None:
    """Close every open WebSocket of the player with ``code`` once the caller's
    transaction commits (a revoked session must stop receiving events at once;
    a rolled-back revocation closes nothing). Outside a transaction: now."""
    push = Push(group=user_group_name(user_id), message={"type": "session.close", "code": code}, user_id=user_id)
    on_commit_redis_many(PUSHES, [push])  # after the events pushed before it, in order


def push_to_user(user_id: int, envelope: dict[str, Any]) -> None:
    """Queue an envelope for every WebSocket of the player (non-blocking; see
    ``realtime.push``). Best effort: the outbox row is the durable record."""
    _push([_event_push(user_id, envelope)])


def send_to_group(group: str, message: dict[str, Any], *, use: str = "push") -> None:
    """Queue ``message`` for every socket of a channel group (a player's, or the live feed's).
    Never raises: it runs after commit (see the module docstring)."""
    _push([Push(group=group, message=message)], use=use)


class _Pushes(RedisWriter):
    """A transaction's pushes in its after-commit Redis pipeline (the module docstring):
    every push, in order; the project's Redis layer queues its script calls there.
    Any other layer, or none, takes them its own way (:func:`_push`)."""

    distinct = False

    def client(self) -> Any | None:
        layer = get_channel_layer()
        if not isinstance(layer, RedisChannelLayer):
            return None
        return layer.push_client(settings.REALTIME_PUSH_TIMEOUT_SECONDS)

    def queue(self, pipe: Any, items: list[Any]) -> None:
        get_channel_layer().push_queue(pipe, items, timeout=settings.REALTIME_PUSH_TIMEOUT_SECONDS)

    def replies(self, items: list[Any], replies: list[Any]) -> None:
        try:
            again = get_channel_layer().push_replies(items, replies)
        except Exception as error:  # noqa: BLE001 - after commit: counted and logged, never raised
            dependency_failed(dependency="redis", use="push", error=error)
            report_drops(len(items), reason="failed", detail=f"{type(error).__name__}: {error}")
            return
        push_metrics.push_batch_events.observe(len(items))
        if again:  # Redis lost the script: the push thread's client loads it again
            _push(again)

    def without_pipeline(self, items: list[Any]) -> None:
        _push(items)


PUSHES = _Pushes()


def _push(pushes: list[Push], *, use: str = "push") -> None:
    """Queue pushes for the dispatcher, in order. Never raises: it runs after
    commit (see the module docstring)."""
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        if isinstance(layer, InMemoryChannelLayer):
            # Embedded mode, one process: the layer's queues belong to the server's
            # event loop, which async_to_sync reuses from a sync view. The process
            # serves every socket, so its own counter numbers the events.
            for push in pushes:
                message = push.message
                if push.numbered and push.user_id is not None:
                    message = {**message, "seq": local_sequence.next(push.user_id)}
                async_to_sync(layer.group_send)(push.group, message)
            return
        dispatcher.enqueue_many(pushes)
    except Exception as error:  # noqa: BLE001 - best effort; the outbox has the event
        dependency_failed(dependency="channel_layer", use=use, error=error)
