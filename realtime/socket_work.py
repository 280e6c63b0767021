"""The threads that do a socket's blocking work: authentication (with the
activity mark) and the initial state.

Channels' ``database_sync_to_async`` runs every call on asgiref's one
thread, one after the other, and closes the database connection after each
(the ASGI server runs with ``CONN_MAX_AGE=0``): three calls per connect, each
opening a PostgreSQL connection, capped a server at some 55 connects a second,
and a reconnect storm timed out on the handshake. It also runs each call in a
copy of the calling consumer's context, and Django's cache handler keeps a
cache (with its Redis connection) per context: every open socket pinned a
Redis connection of its own.

Here a process has ``REALTIME_SOCKET_THREADS`` threads:

* **Handshakes first.** A handshake waits only for its authentication
  (usually no query: ``accounts.auth_cache``), which any thread takes before
  anything else. The initial state (a dozen queries, and several times the
  CPU of a handshake) is sent after the handshake. Threads building states
  hold the interpreter lock the event loop needs to accept handshakes (in a
  storm of 400 they took two thirds of it), so while handshakes are under
  way (:meth:`SocketWorkers.handshake`) no state is started unless one has
  waited ``STATE_MAX_WAIT_SECONDS``; otherwise at most half the threads (at
  least one) read states at once.
* **Bounded connections.** The work runs in the threads' own contexts, not the
  consumers': each thread has one cache (one Redis connection) and one
  database connection, whatever the number of sockets. A thread keeps its
  database connection while work keeps coming and closes it after
  ``LINGER_SECONDS`` without, and after any error.
* **Abandoned work is skipped.** A job whose socket went away before a thread
  took it (the client gave up) is dropped unrun.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections

T = TypeVar("T")

AUTHENTICATE = 0  # kinds of work, in the order threads take them
INITIAL_STATE = 1
LINGER_SECONDS = 1.0
STATE_MAX_WAIT_SECONDS = 2.0


class _Job:
    __slots__ = ("args", "func", "future", "kind", "loop", "queued_at")

    def __init__(
        self, kind: int, func: Callable[..., Any], args: tuple[Any, ...], loop: Any, future: asyncio.Future[Any]
    ) -> None:
        self.queued_at = time.monotonic()
        self.kind = kind
        self.func = func
        self.args = args
        self.loop = loop
        self.future = future


class SocketWorkers:
    def __init__(self, size: int | None = None) -> None:
        self._size = size
        self._ready = threading.Condition()
        self._waiting: dict[int, deque[_Job]] = {AUTHENTICATE: deque(), INITIAL_STATE: deque()}
        self._states_running = 0
        self._handshakes = 0
        self._threads: list[threading.Thread] = []

    @property
    def size(self) -> int:
        return max(1, int(self._size if self._size is not None else settings.REALTIME_SOCKET_THREADS))

    @property
    def state_threads(self) -> int:
        return max(1, self.size // 2)

    def waiting(self) -> int:
        with self._ready:
            return sum(len(jobs) for jobs in self._waiting.values())

    def _ensure_started(self) -> None:
        if len(self._threads) >= self.size:
            return
        with self._ready:
            while len(self._threads) < self.size:
                thread = threading.Thread(target=self._work, name=f"realtime-socket-{len(self._threads)}", daemon=True)
                thread.start()
                self._threads.append(thread)

    @contextlib.contextmanager
    def handshake(self) -> Iterator[None]:
        """A handshake under way (from the consumer's accept to its greeting,
        ``sync_connected``): initial states wait for it (module docstring)."""
        with self._ready:
            self._handshakes += 1
        try:
            yield
        finally:
            with self._ready:
                self._handshakes -= 1
                self._ready.notify_all()

    async def run(self, func: Callable[..., T], *args: Any, priority: int) -> T:
        """``func(*args)`` on a socket thread (``priority``: ``AUTHENTICATE`` or
        ``INITIAL_STATE``); raises what it raised."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._ready:
            self._waiting[priority].append(_Job(priority, func, args, loop, future))
            self._ready.notify()
        return await future

    def _take(self, timeout: float | None) -> _Job | None:
        """The next job; None after ``timeout`` without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._ready:
            while True:
                if self._waiting[AUTHENTICATE]:
                    return self._waiting[AUTHENTICATE].popleft()
                states = self._waiting[INITIAL_STATE]
                recheck = None
                if states and self._states_running < self.state_threads:
                    waited = time.monotonic() - states[0].queued_at
                    if not self._handshakes or waited >= STATE_MAX_WAIT_SECONDS:
                        self._states_running += 1
                        return states.popleft()
                    recheck = STATE_MAX_WAIT_SECONDS - waited
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                if recheck is not None:
                    remaining = recheck if remaining is None else min(remaining, recheck)
                self._ready.wait(remaining)

    def _work(self) -> None:
        holding = False  # this thread has a database connection open (or may have)
        while True:
            job = self._take(LINGER_SECONDS if holding else None)
            if job is None:
                connections.close_all()
                holding = False
                continue
            try:
                if job.future.cancelled():
                    continue  # the socket went away while the job waited
                holding = True
                try:
                    outcome: tuple[bool, Any] = (True, job.func(*job.args))
                except BaseException as error:  # noqa: BLE001 - handed to the awaiting consumer
                    outcome = (False, error)
                    connections.close_all()  # whatever failed may have broken the connection
                with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody waits any more
                    job.loop.call_soon_threadsafe(_settle, job.future, outcome)
            finally:
                if job.kind == INITIAL_STATE:
                    with self._ready:
                        self._states_running -= 1
                        self._ready.notify()


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


workers = SocketWorkers()
