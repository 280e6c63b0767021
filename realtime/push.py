"""Pushing events to players' WebSocket groups without blocking.

A transaction's pushes go in its after-commit Redis pipeline (``realtime.services.PUSHES``,
``casino.redis_writes``); this thread carries the others: pushes outside a commit (the live
feed, ``push_to_user``), pushes through a layer other than the project's Redis one, and
pushes Redis answered ``NOSCRIPT`` in that pipeline (this thread's client loads the script).

``async_to_sync(layer.group_send)`` per event costs a fresh event loop and
Redis round trips on the request thread (measured: ~6 ms an event). Instead,
each process keeps one background thread and a queue: ``enqueue_many``
returns at once; the thread sends in FIFO order, with the layer's
synchronous client (``push_many_now``: no event loop, whose tasks and
pool cost more CPU than the script call itself), so one
player's events arrive in commit order. A transaction's events are queued
together (``realtime.services``), and whatever is waiting when the thread
gets to it goes out together: under the project's Redis layer one Lua script
for up to ``realtime.channel_layer.BATCH_EVENTS`` events, which skips players
without a socket, numbers each player's events (``realtime.presence``) and
carries consecutive events of one player as one message to the socket's
process.
A push is best effort -- the outbox row is the durable record, and a client
that sees a gap in the numbers asks for a fresh state.

Redis down (design promise 9): ``enqueue_many`` never raises and never
blocks. Each batch gives up after ``REALTIME_PUSH_TIMEOUT_SECONDS`` (its
client's socket timeout; a Redis
that does not answer must not hold every later push hostage), and once
``REALTIME_PUSH_MAX_PENDING`` pushes wait, new ones are dropped rather than
piling up in memory. Failures and drops are counted
(``realtime_push_dropped_total``, ``dependency_failures_total``) and logged
as warnings.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Sequence
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from casino.degraded import dependency_failed
from realtime import metrics
from realtime.channel_messages import Push, report_drops

logger = logging.getLogger(__name__)

BATCH_MAX = 1000  # pushes taken off the queue at once


class PushDispatcher:
    """The process's push thread and its queue (the module docstring)."""

    def __init__(self) -> None:
        self._queue: collections.deque[list[Push]] = collections.deque()
        self._ready = threading.Condition()  # guards _queue; the thread waits on it for work
        self._thread: threading.Thread | None = None
        self._pending = 0
        self._idle = threading.Condition()  # guards _pending
        self._loop: asyncio.AbstractEventLoop | None = None  # only for a layer without push_many_now

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._ready:
            if self._thread is not None and self._thread.is_alive():
                return  # started meanwhile by another thread
            self._thread = threading.Thread(target=self._run, name="realtime-push", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue:
                    self._ready.wait()
                batch = list(self._queue.popleft())
                while len(batch) < BATCH_MAX and self._queue:
                    batch += self._queue.popleft()
            try:
                self._send(batch)
            except Exception as error:  # noqa: BLE001 - best effort; the outbox keeps the event
                dependency_failed(dependency="redis", use="push", error=error)
                report_drops(len(batch), reason="failed", detail=f"{type(error).__name__}: {error}")
            finally:
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()

    def _send(self, batch: list[Push]) -> None:
        layer = get_channel_layer()  # per batch: follows a settings change (tests)
        if layer is None:
            return
        metrics.push_batch_events.observe(len(batch))
        timeout = settings.REALTIME_PUSH_TIMEOUT_SECONDS
        # The project's layer: one synchronous script call, no event loop (its client's sockets time out).
        push_many_now = getattr(layer, "push_many_now", None)
        if push_many_now is not None and push_many_now(batch, timeout=timeout) is not None:
            return
        # Another layer (a stock channels_redis one, a Sentinel host): through an event loop of this thread.
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        push_many = getattr(layer, "push_many", None)
        if push_many is not None:
            self._loop.run_until_complete(asyncio.wait_for(push_many(batch), timeout=timeout))
            return
        for push in batch:  # one group_send each
            self._loop.run_until_complete(asyncio.wait_for(layer.group_send(push.group, push.message), timeout=timeout))

    def enqueue_many(self, pushes: Sequence[Push]) -> bool:
        """Queue pushes, in order; False when they were dropped (too many waiting)."""
        if not pushes:
            return True
        self._ensure_started()
        with self._idle:
            if self._pending >= settings.REALTIME_PUSH_MAX_PENDING:
                dropped = True
            else:
                dropped = False
                self._pending += len(pushes)
        if dropped:
            limit = settings.REALTIME_PUSH_MAX_PENDING
            dependency_failed(
                dependency="redis", use="push_dropped", error=OverflowError(f"{limit} pushes already waiting")
            )
            report_drops(len(pushes), reason="queue_full", detail=f"{limit} pushes already waiting in this process")
            return False
        with self._ready:
            self._queue.append(list(pushes))
            self._ready.notify()
        return True

    def enqueue(self, group: str, message: dict[str, Any]) -> bool:
        """Queue one message for a group (no presence check, no sequence number)."""
        return self.enqueue_many([Push(group=group, message=message)])

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued push went out (for tests and shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)


dispatcher = PushDispatcher()
