"""The limits of the telemetry contract (docs/telemetry.md). Constants, not settings:
a client is written against them."""

from __future__ import annotations

# The outbox type every accepted client event is written as (registered in realtime.registry).
TELEMETRY_EVENT_TYPE = "client_telemetry"

MAX_EVENTS = 50  # events in one request
MAX_BODY_BYTES = 32 * 1024  # the raw request body, as received
MAX_NAME_LENGTH = 64
MAX_CLIENT_TS_LENGTH = 40
