"""Domain events leaving the transaction: ``realtime.emit(type, user, data)``.

See ``realtime/services.py`` for the promise (outbox row + subscribers inside
the caller's transaction, WebSocket push on commit). This package imports no
domain app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from realtime.models import OutboxEvent
    from realtime.registry import UserRef


def emit(event_type: str, user: UserRef, data: dict[str, Any]) -> OutboxEvent:
    """Shortcut for :func:`realtime.services.emit` (imported lazily so the app
    package can be imported before the app registry is ready)."""
    from realtime.services import emit as _emit

    return _emit(event_type=event_type, user=user, data=data)


def emit_many(events: list[tuple[str, UserRef, dict[str, Any]]]) -> list[OutboxEvent]:
    """Shortcut for :func:`realtime.services.emit_many`: several events, one INSERT."""
    from realtime.services import emit_many as _emit_many

    return _emit_many(events)


def emit_grouped(event_type: str, user: UserRef, parts: list[tuple[str, dict[str, Any]]]) -> OutboxEvent | None:
    """Shortcut for :func:`realtime.services.emit_grouped`: one outbox row, each part its own event."""
    from realtime.services import emit_grouped as _emit_grouped

    return _emit_grouped(event_type, user, parts)
