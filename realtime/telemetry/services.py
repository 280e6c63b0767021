"""Recording a batch of client telemetry: check it against the registry, drop
personal fields, write one ``client_telemetry`` outbox row per event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

import realtime
from realtime.telemetry.exceptions import InvalidTelemetryEvent, TooManyTelemetryEvents
from realtime.telemetry.limits import MAX_EVENTS, TELEMETRY_EVENT_TYPE
from realtime.telemetry.privacy import personal_fields_drop
from realtime.telemetry.registry import telemetry_schema


@dataclass(frozen=True)
class ClientEvent:
    """One event as the client sent it (already of the right JSON types)."""

    name: str
    client_ts: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def telemetry_event_data(*, index: int, event: ClientEvent) -> dict[str, Any]:
    """The outbox data of one event, or :class:`InvalidTelemetryEvent`. Personal
    fields go first, so a client that sends them is not refused for it."""
    schema = telemetry_schema(event.name)
    if schema is None:
        raise InvalidTelemetryEvent(index=index, field="name", reason=f"{event.name!r} is not a known event name")
    properties = personal_fields_drop(event.properties)
    problem = schema.problem(properties)
    if problem is not None:
        key, reason = problem
        raise InvalidTelemetryEvent(
            index=index, field=f"properties.{key}" if key else "properties", reason=f"{reason} ({event.name})"
        )
    return {"name": event.name, "client_ts": event.client_ts, "properties": properties, "client_reported": True}


def telemetry_record(*, user: AbstractBaseUser, events: Sequence[ClientEvent]) -> int:
    """Write the batch, all or nothing, and return how many events it held.

    Every event is checked before anything is written, so one bad event refuses
    the batch. The rows go out in one INSERT; their time is the server's (the
    outbox row's), ``client_ts`` stays what the client claimed. Nothing reacts to
    them (no subscriber, no push): telemetry is for analytics only."""
    if len(events) > MAX_EVENTS:
        raise TooManyTelemetryEvents()
    data = [telemetry_event_data(index=index, event=event) for index, event in enumerate(events)]
    if not data:
        return 0
    with transaction.atomic():
        realtime.emit_many([(TELEMETRY_EVENT_TYPE, user, item) for item in data])
    return len(data)
