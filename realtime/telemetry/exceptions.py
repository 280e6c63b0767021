"""Refusals of a telemetry batch (each code has one class). A refusal refuses the
whole batch: the client fixes or drops it, and nothing of it is stored."""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import status

from casino.errors import ApplicationError
from realtime.telemetry.limits import MAX_EVENTS


class TooManyTelemetryEvents(ApplicationError):
    """More events in one request than :data:`~realtime.telemetry.limits.MAX_EVENTS`:
    like a body over the size limit, the client should send smaller batches."""

    code = "too_many_events"
    message = f"A telemetry request carries at most {MAX_EVENTS} events; send smaller batches."
    status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self) -> None:
        super().__init__(max_events=MAX_EVENTS)


class InvalidTelemetryEvent(ApplicationError):
    """An event whose name is not registered or whose properties break the name's
    schema. ``index`` is its place in the batch, ``field`` its field (``name``,
    ``properties.<key>``); the message spells both, in the request's own words."""

    code = "invalid_telemetry_event"
    status = status.HTTP_400_BAD_REQUEST

    def __init__(self, *, index: int, field: str, reason: str, list_name: str | None = "events") -> None:
        where = f"{list_name}.{index}.{field}" if list_name else field
        super().__init__(f"{where}: {reason}. Nothing of the batch was recorded.", index=index, field=field)
        self.index = index
        self.field = field
        self.reason = reason

    def renamed(self, *, list_name: str | None, fields: Mapping[str, str]) -> InvalidTelemetryEvent:
        """The same refusal in another request shape's words (the old client's
        ``items``/``action_type``/``context`` for ``events``/``name``/``properties``)."""
        head, dot, rest = self.field.partition(".")
        field = fields.get(head, head) + dot + rest
        return InvalidTelemetryEvent(index=self.index, field=field, reason=self.reason, list_name=list_name)
