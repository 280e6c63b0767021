"""Personal fields never reach the outbox, Kafka or ClickHouse.

A client's forms hold a player's password, phone number and email, and a
careless event could carry them along; analytics must never receive them.
They are dropped (not refused: the event is still worth having) wherever they
are, before an event is checked against its schema or stored."""

from __future__ import annotations

from typing import Any

# A key naming one of these, in any case and spelling (phoneNumber, user_email, new_password).
PERSONAL_KEY_PARTS = ("password", "phone", "email")


def is_personal_key(key: str) -> bool:
    normal = key.lower().replace("_", "").replace("-", "")
    return any(part in normal for part in PERSONAL_KEY_PARTS)


def personal_fields_drop(value: Any) -> Any:
    """``value`` without the personal keys of its objects, at any depth."""
    if isinstance(value, dict):
        return {key: personal_fields_drop(item) for key, item in value.items() if not is_personal_key(str(key))}
    if isinstance(value, list):
        return [personal_fields_drop(item) for item in value]
    return value
