"""How fast one WebSocket client may send: a token bucket per connection
(``WS_MESSAGE_BURST`` messages at once, refilled at ``WS_MESSAGES_PER_SECOND``).

Where the limit is counted depends on the server, because a flood must not
cost the event loop more than the messages up to the limit:

* under uvicorn (production's realtime service) the consumer counts
  (``realtime.consumers``) and closes with 4429. The server reads a client
  only as fast as the consumer takes its messages (uvicorn's WebSocket
  protocol stops reading a connection while messages of it wait for the
  application), so a flood reaches the event loop one socket read at a time,
  and what arrives after the close is dropped without reaching the consumer:
  in a test, a client flooding pings got its close after some 2,000 had been
  written, and ``/health`` on the same server stayed under 25 ms.
* daphne (``make run``'s server: Django's ``runserver`` in embedded mode)
  parses every frame the client sent (a read of 64 KB is some 6,000 tiny
  frames) before the consumer sees the next one, so a consumer that closes
  the socket on message 21 has already paid for the whole flood: 50,000
  pings held ``/health`` for over a second. :func:`install_daphne_limit`
  therefore makes daphne's WebSocket protocol count the messages as it
  parses them and, past the limit, send close 4429, end its side of the
  stream and read the rest without parsing it, until the client closes (or
  ``LIMITED_CLOSE_SECONDS`` pass). ``RealtimeConfig.ready`` installs it
  whenever daphne is imported (it is an installed app, so always); it takes
  effect when the process serves sockets with daphne, and the consumer then
  leaves the counting to it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

CLOSE_RATE_LIMITED = 4429  # the client sent messages faster than WS_MESSAGES_PER_SECOND
LIMITED_CLOSE_SECONDS = 10.0  # how long daphne reads and drops a limited client's data before resetting

_installed = False  # daphne's factory builds RateLimitedWebSocketProtocol
_serving = False  # ... and has built one: this process serves sockets through daphne


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; one per message."""

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def message_bucket() -> TokenBucket:
    """A fresh bucket with the configured limit, for one connection."""
    from django.conf import settings

    return TokenBucket(rate=settings.WS_MESSAGES_PER_SECOND, burst=settings.WS_MESSAGE_BURST)


def server_enforces_limit() -> bool:
    """Whether the server in this process applies the limit to its sockets
    (then the consumer need not). Daphne is imported everywhere (it is an
    installed app), so what counts is that its rate-limited protocol has
    accepted a connection -- before the consumer of that connection starts."""
    return _serving


def install_daphne_limit() -> bool:
    """Make daphne's WebSocket factory build rate-limited protocols (daphne is
    imported before the application, as an installed app). Returns whether
    the protocol is patched; idempotent."""
    global _installed
    if _installed:
        return True
    ws_protocol: Any = sys.modules.get("daphne.ws_protocol")
    if ws_protocol is None:
        return False
    from realtime import metrics

    base: Any = ws_protocol.WebSocketProtocol

    class RateLimitedWebSocketProtocol(base):  # type: ignore[misc, valid-type]  # daphne ships no type hints
        bucket: TokenBucket | None = None
        limited = False

        def onConnect(self, request: Any) -> Any:  # noqa: N802 - autobahn's name
            global _serving
            _serving = True
            return super().onConnect(request)

        def onMessage(self, payload: bytes, isBinary: bool) -> None:  # noqa: N802, N803 - autobahn's names
            if self.limited:
                return
            if self.bucket is None:
                self.bucket = message_bucket()
            if self.bucket.take():
                super().onMessage(payload, isBinary)
                return
            # Past the limit: send close 4429, end our side of the stream after
            # it, and stop parsing. What the client still sends is read and
            # thrown away unparsed -- its answer to the close too, so the close
            # handshake cannot complete: the connection ends when the client
            # closes it after reading our close and the end of the stream, or
            # when LIMITED_CLOSE_SECONDS have passed. Not sooner: a reset while
            # the client is still sending fails its next send, and client
            # libraries then tear the socket down before reading the close
            # frame they have already received (autobahn's own close handshake
            # timeout is 1 s, which a busy client can miss).
            self.limited = True
            metrics.websocket_policy_closes.labels(reason="rate_limited").inc()
            self.closeHandshakeTimeout = LIMITED_CLOSE_SECONDS
            self.sendCloseFrame(code=CLOSE_RATE_LIMITED, reasonUtf8=b"rate limited", isReply=False)
            self.data = b""  # the frames already buffered are not parsed either
            # FIN once the close frame is written; a transport that cannot half-close (TLS)
            # sends the frame and ends at the client's close or the timeout.
            half_close = getattr(self.transport, "loseWriteConnection", None)
            if half_close is not None:
                half_close()

        def dataReceived(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
            if not self.limited:
                super().dataReceived(data)

        def handle_reply(self, message: dict[str, Any]) -> None:
            if self.limited and message.get("type") == "websocket.send":
                return  # closing: a push that races the close is dropped, not an error
            super().handle_reply(message)

    ws_protocol.WebSocketFactory.protocol = RateLimitedWebSocketProtocol
    _format_connection_log_lazily()
    _installed = True
    logger.debug("daphne WebSocket protocol rate-limited")
    return True


class _Formatted:
    """``pformat(value)``, computed only if a log line is written."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        from pprint import pformat

        return format(pformat(self.value), spec)

    def __str__(self) -> str:
        return format(self, "")


def _format_connection_log_lazily() -> None:
    """autobahn pretty-prints every connection's settings for a debug log line
    (``log.debug(..., attrs=pformat(...))`` in ``_connectionMade``) whether or
    not debug is logged: some 7 % of the event loop's time during a connect
    storm. There, and only there, its module's ``pformat`` returns an object
    formatted when the line is written."""
    module: Any = sys.modules.get("autobahn.websocket.protocol")
    if module is None or getattr(module.pformat, "lazy", False):
        return
    eager = module.pformat

    def pformat(value: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs and sys._getframe(1).f_code.co_name == "_connectionMade":
            return _Formatted(value)
        return eager(value, *args, **kwargs)

    pformat.lazy = True  # type: ignore[attr-defined]
    module.pformat = pformat
