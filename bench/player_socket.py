"""The app's realtime socket in the player scenario (bench/locustfile.py, ``PlayerUser``).

A player in a visit has the app open, and the app holds ``/api/realtime/sync``
(docs/client-contract.md): every balance, round, purchase and progress change
the player's requests cause is pushed to it, and every big win of anyone goes
to every socket (the live feed). Without sockets the scenario's pushes find
no player present and cost the server nothing past the check: the bench
would flatter the realtime tier. So a share of visits (``socket_ratio``)
opens the socket once signed in, in a greenlet of its own beside the visit's
requests, reads everything pushed to it until the visit ends, and records
(bench/recording.py, ``record_socket``; summed per stage by
bench/socket_stats.py):

* ``connect``: from opening the connection to the ``initial_state`` (what the
  app needs to draw), ``ok`` or why not;
* ``push``: each event pushed to the player, by type, with its delay from the
  event's time (``timestamp``: when the transaction emitted it, before its
  commit) to its arrival here;
* ``gap``: events the player's sequence numbers say never arrived (the count
  missing), ``dup``: an event numbered at or below the last one that was not
  asked for again;
* a gap is answered as the app answers it (docs/live-ops.md, the socket's
  sequence numbers): ``{"type": "resync", "since": <the last number held>}``;
  ``recovered``: a missing event that came back in the server's ``replay``,
  ``resync``: ``replay`` (the count the server re-sent) or ``state`` (the
  missing events a fresh ``initial_state`` covered, when the server no longer
  kept them). The missing events count as lost whatever came back: the target
  is every event pushed the first time;
* ``feed``: a live-feed message; ``drop``: the server closed a socket whose
  visit was still going.

The socket closes when the visit ends, or when Locust stops the user.
"""

from __future__ import annotations

import contextlib
import json
import time

import gevent
import websocket

from bench.recording import record_socket
from bench.socket_sequence import SequenceBook

SYNC_PATH = "/api/realtime/sync"
CONNECT_TIMEOUT_S = 30.0


class PlayerSocket:
    """One visit's socket: opened at once in a greenlet of its own, read until ``close()``."""

    def __init__(self, base_url: str, token: str) -> None:
        self.url = f"{base_url}{SYNC_PATH}?token={token}"
        self.ws: websocket.WebSocket | None = None
        self.closing = False
        self.book = SequenceBook(record_socket)
        self.reader = gevent.spawn(self._run)

    def close(self) -> None:
        """The visit is over: close the socket, in a greenlet of its own (the close handshake
        must not delay the user's next request)."""
        self.closing = True
        gevent.spawn(self._close)

    def _close(self) -> None:
        self.reader.kill()  # it no longer reads: the close handshake reads the server's answer
        if self.ws is not None:
            with contextlib.suppress(Exception):  # already closed by the other side
                self.ws.close(timeout=2)

    def _run(self) -> None:
        started = time.time()
        try:
            # skip_utf8_validation: the library's validator is a pure-Python loop over every byte (the
            # load generator's CPU is taken from the server's cores); a text frame is decoded anyway.
            ws = websocket.create_connection(self.url, timeout=CONNECT_TIMEOUT_S, skip_utf8_validation=True)
        except Exception as error:  # noqa: BLE001 - refused, reset, timed out: the row says which
            if not self.closing:
                record_socket("connect", _reason(error), (time.time() - started) * 1000, at=started)
            return
        self.ws = ws
        connected = False
        try:
            while True:
                text = ws.recv()
                if not text:  # a close frame
                    break
                message = json.loads(text)
                kind = message.get("type")
                if kind == "initial_state":
                    self.book.state(message.get("seq"))
                    if not connected:
                        connected = True
                        ws.settimeout(None)  # from now on a quiet socket is normal: wait as long as it takes
                        record_socket("connect", "ok", (time.time() - started) * 1000, at=started)
                elif kind == "live_feed":
                    record_socket("feed", "live_feed", 0.0)
                elif kind == "replay":
                    self.book.replay(int(message.get("count") or 0))
                elif "seq" in message:
                    _outcome, since = self.book.event(message)
                    if since is not None:
                        ws.send(json.dumps({"type": "resync", "since": since}))
        except Exception as error:  # noqa: BLE001 - the connection ended: a drop unless the visit closed it
            if not self.closing:
                self._ended(_reason(error), connected, started)
            return
        if not self.closing:
            self._ended(f"closed {ws.getstatus() or ''}".strip(), connected, started)

    def _ended(self, reason: str, connected: bool, started: float) -> None:
        """The server ended the socket: a failed connect (counted where it started) or a drop (now)."""
        if connected:
            record_socket("drop", reason, 0.0)
        else:
            record_socket("connect", reason, (time.time() - started) * 1000, at=started)


def _reason(error: BaseException) -> str:
    if isinstance(error, websocket.WebSocketBadStatusException):
        return f"http {error.status_code}"
    return type(error).__name__
