"""Recording the events ``emit`` hands out, for a test: what its subscribers (and so the
player's socket, for a pushed type) were given, stored in the outbox or not; and what
reached a player's channel group on the real channel layer."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from realtime.channel_messages import event_messages
from realtime.registry import _SUBSCRIBERS, DomainEvent, subscribe
from realtime.services import user_group_name


@contextlib.contextmanager
def emitted(event_type: str) -> Iterator[list[DomainEvent]]:
    """The events of ``event_type`` emitted while the block runs, in order (from any thread)."""
    seen: list[DomainEvent] = []
    lock = threading.Lock()

    def recorder(event: DomainEvent) -> None:
        with lock:
            seen.append(event)

    subscribe(event_type, recorder)
    try:
        yield seen
    finally:
        _SUBSCRIBERS[event_type].remove(recorder)


def pushed_while(user: Any, action: Any, wait: float = 1.5) -> list[dict[str, Any]]:
    """Listen on a real channel in the player's group (Redis channel layer)
    while ``action`` runs in a worker thread; return what arrived."""
    import asyncio

    from asgiref.sync import sync_to_async

    async def scenario() -> list[dict[str, Any]]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(user_group_name(user.pk), channel)
        try:
            await sync_to_async(action)()
            received = []
            while True:
                try:
                    received += event_messages(await asyncio.wait_for(layer.receive(channel), wait))
                except TimeoutError:
                    return received
        finally:
            await layer.group_discard(user_group_name(user.pk), channel)

    return async_to_sync(scenario)()
