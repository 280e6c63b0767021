"""gunicorn's sync worker, woken alone for a new connection.

gunicorn's sync workers share the listening socket and wait for it with
``select()``: a connection arriving while several workers wait wakes every one
of them, one accepts it and the others find nothing (``EAGAIN``) and wait again.
This worker waits with its own ``epoll`` set instead, the listener registered
with ``EPOLLEXCLUSIVE`` (Linux 4.5+): the kernel wakes one waiting worker per
connection. Everything else is gunicorn's ``SyncWorker``.
"""

from __future__ import annotations

import os
import select
import socket

from gunicorn.workers.sync import SyncWorker


class ExclusiveWaitSyncWorker(SyncWorker):
    """A sync worker whose wait for a connection wakes it alone (module docstring)."""

    _poller: select.epoll

    def run(self) -> None:
        self._poller = select.epoll()
        for listener in self.sockets:
            try:
                self._poller.register(listener.fileno(), select.EPOLLIN | select.EPOLLEXCLUSIVE)
            except OSError:  # a kernel before 4.5 (EINVAL): woken with the others, as the stock worker is
                self._poller.register(listener.fileno(), select.EPOLLIN)
        self._poller.register(self.PIPE[0], select.EPOLLIN)
        super().run()

    def wait(self, timeout: int) -> list[socket.socket | int] | None:
        self.notify()
        events = self._poller.poll(timeout)
        if not events:
            return None
        by_fd = {listener.fileno(): listener for listener in self.sockets}
        ready: list[socket.socket | int] = []
        for fd, _mask in events:
            if fd == self.PIPE[0]:
                os.read(self.PIPE[0], 1)
                ready.append(fd)
            elif fd in by_fd:
                ready.append(by_fd[fd])
        return ready
