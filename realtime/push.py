"""Pushing committed events to players' WebSocket groups without blocking.

``async_to_sync(layer.group_send)`` per event costs a fresh event loop and a
Redis round trip on the request thread (measured: ~6 ms an event). Instead,
each process keeps one background thread with its own event loop and a queue:
``enqueue`` returns at once; the thread sends in FIFO order, so one player's
events arrive in commit order. A push is best effort -- the outbox row is the
durable record.

Redis down (design promise 9): ``enqueue`` never raises and never blocks. Each
send gives up after ``REALTIME_PUSH_TIMEOUT_SECONDS`` (a Redis that does not
answer must not hold every later push hostage), and once
``REALTIME_PUSH_MAX_PENDING`` pushes wait, new ones are dropped rather than
piling up in memory. Failures and drops are counted and logged
(``realtime.degraded``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from realtime.degraded import dependency_failed

logger = logging.getLogger(__name__)


class PushDispatcher:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] | None = None
        self._started = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition()

    def _ensure_started(self) -> None:
        if self._started.is_set():
            return
        with self._lock:
            if self._started.is_set():
                return
            thread = threading.Thread(target=self._run, name="realtime-push", daemon=True)
            thread.start()
            self._started.wait(5)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._queue = asyncio.Queue()
        self._started.set()
        loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            if item is None:
                return
            group, message = item
            try:
                layer = get_channel_layer()  # per push: follows a settings change (tests)
                if layer is not None:
                    await asyncio.wait_for(
                        layer.group_send(group, message), timeout=settings.REALTIME_PUSH_TIMEOUT_SECONDS
                    )
            except Exception as error:  # noqa: BLE001 - best effort; the outbox keeps the event
                dependency_failed(dependency="redis", use="push", error=error)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def enqueue(self, group: str, message: dict[str, Any]) -> bool:
        """Queue a push; False when it was dropped (too many waiting)."""
        self._ensure_started()
        assert self._loop is not None
        assert self._queue is not None
        with self._idle:
            if self._pending >= settings.REALTIME_PUSH_MAX_PENDING:
                dropped = True
            else:
                dropped = False
                self._pending += 1
        if dropped:
            dependency_failed(
                dependency="redis",
                use="push_dropped",
                error=OverflowError(f"{settings.REALTIME_PUSH_MAX_PENDING} pushes already waiting"),
            )
            return False
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (group, message))
        return True

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued push went out (for tests and shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)


dispatcher = PushDispatcher()
