"""Client telemetry: what a player's web client says it showed or did.

The client posts batches of named events (``screen_view``, ``spin_button``,
``shop_open``...) to ``POST /api/telemetry/events`` (the old client to
``/api/actions`` and ``/api/actions/bulk``). Each name is one of a registry of
client event names, each with a small property schema (:mod:`.registry`; the
built-in set is :mod:`.catalog`, an app adds its own with
:func:`register_telemetry_event` in its ``AppConfig.ready()``). A batch that
breaks the registry is refused whole; personal fields are dropped before
anything is stored.

An accepted batch becomes ``client_telemetry`` outbox rows (one INSERT), which
the relay ships to Kafka and the sink to ClickHouse like every domain event.
They are claims, never facts: the type is registered with ``pushed=False`` (no
socket sees them again) and nothing subscribes to it, so telemetry can never
move a balance, a statistic, a limit, progress or a reward. docs/telemetry.md
is the client developer's page.
"""

from __future__ import annotations

from realtime.telemetry import catalog as _catalog  # noqa: F401 - registers the built-in event names
from realtime.telemetry.limits import MAX_BODY_BYTES, MAX_EVENTS, TELEMETRY_EVENT_TYPE
from realtime.telemetry.registry import (
    Prop,
    TelemetrySchema,
    boolean,
    integer,
    number,
    obj,
    register_telemetry_event,
    string,
    telemetry_events,
)

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_EVENTS",
    "TELEMETRY_EVENT_TYPE",
    "Prop",
    "TelemetrySchema",
    "boolean",
    "integer",
    "number",
    "obj",
    "register_telemetry_event",
    "string",
    "telemetry_events",
]
