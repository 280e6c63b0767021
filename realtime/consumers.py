"""WebSocket ``/api/realtime/sync``: authenticated with an access JWT
(``?token=`` or ``Authorization: Bearer``) by the authenticator an app
registered (``realtime.registry.register_socket_authenticator``, which also
records the connection as activity); refused with close code 4401.

A connect, in order (``docs/client-contract.md`` has the client's side):

1. accept: the WebSocket handshake ends at once, whatever follows costs (a
   refused client sees accept, then the close code, as before);
2. authentication on a socket thread (``realtime.socket_work``), ahead of any
   initial state waiting there; usually no query (``accounts.auth_cache``);
3. one Lua script joins the player's group and the live feed's, marks the
   player present and reads their sequence number (``realtime.presence``);
   Redis or the database not answering closes the socket with 4503 (try
   again later);
4. ``sync_connected``;
5. ``initial_state`` with that sequence number, read on a socket thread;
   events arriving meanwhile are held and follow it, so the client sees the
   state, then the events numbered after it.

Every pushed event carries ``seq``, one more than the player's previous one.
A client that sees a gap (a message was lost) sends
``{"type": "resync", "since": <the last number it holds>}``. When every event
after that number is still kept (the channel layer keeps each player's last
few, ``REALTIME_REPLAY_EVENTS``), the answer is ``{"type": "replay", "since":
N, "seq": M, "count": k}`` followed by those k events, numbered N+1..M, as
they were first sent; otherwise (or without ``since``) a fresh
``initial_state`` with the current number, and events numbered up to it are
not sent again. Resyncs of one socket are at least
``RESYNC_MIN_INTERVAL_SECONDS`` apart (those asked for meanwhile are answered
by one more, then, from the lowest number asked for).

While open, the socket's memberships and the player's presence are renewed
every third of the layer's ``group_expiry`` (``REALTIME_GROUP_EXPIRY_SECONDS``;
``realtime.loop_sockets.LoopSockets`` renews all of a process's sockets
together): a server that dies leaves nothing behind for longer than that.
Joins and leaves go to Redis in batches, so a storm of connects or 10,000
sockets closing at once is a few dozen scripts.

What a client may send, per connection (settings, README):

* a message of at most ``WS_MAX_MESSAGE_BYTES`` bytes; a bigger one closes the
  socket with 4413 (too big). The ASGI server refuses far bigger
  frames before reading them (production's uvicorn ``--ws-max-size``);
* at most ``WS_MESSAGE_BURST`` messages at once, refilled at
  ``WS_MESSAGES_PER_SECOND``; a flood closes the socket with 4429, so one
  player cannot keep the server's event loop busy for everyone else. This
  consumer counts, except under daphne (``make run``), whose protocol counts
  before the frames are even parsed (``realtime.socket_limits``);
* ``ping`` (text) is answered ``pong``; ``{"type": "ping"}`` is answered
  ``{"type": "pong"}``; ``{"type": "resync"}`` (with ``since``) as above; anything else is ignored.

Besides the player's own events, every socket receives the live feed (big wins and jackpots of
all players, ``realtime.feed``) as ``{"type": "live_feed", "data": {...}}``."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from casino.degraded import dependency_failed
from casino.errors import ApplicationError
from realtime import metrics, presence
from realtime.channel_messages import event_messages
from realtime.feed import FEED_GROUP
from realtime.registry import initial_state_for, socket_authenticator
from realtime.services import user_group_name
from realtime.socket_limits import CLOSE_RATE_LIMITED, TokenBucket, message_bucket, server_enforces_limit
from realtime.socket_work import AUTHENTICATE, INITIAL_STATE, workers

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
CLOSE_UNAVAILABLE = 4503  # Redis or the database did not answer: connect again a little later
# Application close codes: daphne (autobahn) lets an application send only 1000
# or 3000-4999, so not RFC 6455's 1008 (policy) or 1009 (too big).
CLOSE_MESSAGE_TOO_BIG = 4413  # a message over WS_MAX_MESSAGE_BYTES

REDIS_TIMEOUT_SECONDS = 5.0  # a resync's sequence read (joins and leaves: the layer's batch timeout)
RESYNC_MIN_INTERVAL_SECONDS = 1.0
HOLD_MAX = 1000  # events held while an initial state is read; more are dropped (the client sees a gap)


def _token_from_scope(scope: dict[str, Any]) -> str | None:
    query_string: bytes = scope.get("query_string", b"")
    query = parse_qs(query_string.decode())
    if query.get("token"):
        return query["token"][0]
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode().partition(" ")
            if scheme.lower() == "bearer" and credentials:
                return credentials.strip()
    return None


class SyncConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]  # channels ships no type hints
    group: str | None = None  # the player's group while the socket is open
    closing = False
    bucket: TokenBucket | None = None
    user: Any = None
    user_id: int | None = None
    holding: list[dict[str, Any]] | None = None  # events waiting for the initial state being read
    state_task: asyncio.Future[None] | None = None
    leave_task: asyncio.Future[None] | None = None
    resyncing = False  # a task answering resyncs is under way
    resync_asked = False  # a resync asked for and not started yet
    resync_since: int | None = None  # ... from the lowest number those asked from (None: a whole state)
    last_state_at = float("-inf")

    async def dispatch(self, message: dict[str, Any]) -> None:
        """channels closes stale database connections before every message it
        hands a consumer (a hop to asgiref's thread: thousands a second with
        thousands of sockets and pushes). This consumer never uses the database
        on the event loop -- its blocking work runs on the socket threads, which
        look after their own connections -- so it goes straight to the handler."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """channels' own also hops to asgiref's one thread to close stale database
        connections: 10,000 sockets closing at once queued 10,000 hops behind each
        other. See :meth:`dispatch`."""
        await self.disconnect(message.get("code"))
        raise StopConsumer()

    async def connect(self) -> None:
        # Accept first: a refused client sees the close code after an accept
        # either way, and the WebSocket handshake must end within the server's
        # timeout however long authentication waits in a storm.
        await self.accept()
        with workers.handshake():  # initial states wait for greetings under way
            await self._greet()

    async def _greet(self) -> None:
        authenticate = socket_authenticator()  # fails loudly if no app registered one
        raw = _token_from_scope(self.scope)
        user = None
        if raw:
            try:
                user = await workers.run(authenticate, raw, priority=AUTHENTICATE)
            except ApplicationError:
                user = None
            except Exception as error:  # noqa: BLE001 - the database (or Redis) did not answer
                dependency_failed(dependency="database", use="socket_authenticate", error=error)
                await self._refuse(CLOSE_UNAVAILABLE, "unavailable")
                return
        if user is None:
            await self._refuse(CLOSE_UNAUTHORIZED, "unauthorized")
            return
        try:  # the layer gives up on a batch Redis did not take within its timeout
            seq = await presence.socket_join(
                self.channel_layer, channel=self.channel_name, user_id=user.pk, groups=[FEED_GROUP]
            )
        except Exception as error:  # noqa: BLE001 - Redis did not answer: the client comes back later
            dependency_failed(dependency="redis", use="socket_join", error=error)
            # The join may still happen after this: leave after it (or let the expiry clean up).
            self.leave_task = asyncio.ensure_future(self._leave(user.pk))
            await self._refuse(CLOSE_UNAVAILABLE, "unavailable")
            return
        self.user, self.user_id = user, user.pk
        self.group = user_group_name(user.pk)
        # daphne's protocol counts the messages itself (make run); under uvicorn this consumer does.
        self.bucket = None if server_enforces_limit() else message_bucket()
        self.holding = []
        metrics.websocket_connects.labels(result="accepted").inc()
        metrics.websocket_open.inc()
        await self.send_json(
            {
                "type": "sync_connected",
                "user_id": user.pk,
                "server_time": timezone.now().isoformat().replace("+00:00", "Z"),
            }
        )
        self.state_task = asyncio.ensure_future(self._quietly(self._send_initial_state(seq)))

    async def _refuse(self, code: int, result: str) -> None:
        metrics.websocket_connects.labels(result=result).inc()
        await self.close(code=code)

    async def _send_initial_state(self, seq: int, *, reload: bool = False) -> None:
        """``initial_state`` numbered ``seq``, then the events held meanwhile that
        come after it. ``reload``: read the player's row again first (a resync:
        the row authentication found may be long out of date)."""
        started = time.monotonic()
        try:
            state = await workers.run(_initial_state, self.user, reload, priority=INITIAL_STATE)
        except Exception as error:  # noqa: BLE001 - the database did not answer: the client comes back later
            dependency_failed(dependency="database", use="initial_state", error=error)
            self.holding = None
            await self.close(code=CLOSE_UNAVAILABLE)
            return
        self.last_state_at = time.monotonic()
        metrics.websocket_initial_state_seconds.observe(self.last_state_at - started)
        if self.closing or self.group is None:
            return
        # The state is encoded on the socket thread: a few KB of JSON is no work for the event loop.
        head = json.dumps({"type": "initial_state", "user_id": self.user_id, "seq": seq})
        await self.send(text_data=f'{head[:-1]}, "data": {state}}}')
        held, self.holding = self.holding or [], None
        for payload in held:
            if payload.get("seq") is None or payload["seq"] > seq:
                await self.send_json(payload)

    def _request_state(self, since: int | None) -> None:
        """A client's resync (from ``since``, or a whole state): one at a time,
        ``RESYNC_MIN_INTERVAL_SECONDS`` apart."""
        metrics.websocket_resyncs.inc()
        # Resyncs not started yet are answered by one: from the lowest number, a whole state if any asked one.
        if not self.resync_asked:
            self.resync_since = since
        elif self.resync_since is not None:
            self.resync_since = None if since is None else min(self.resync_since, since)
        self.resync_asked = True
        if self.resyncing:
            return  # the resync under way takes it when it is done with the one before
        under_way = self.state_task if self.state_task is not None and not self.state_task.done() else None
        self.resyncing = True
        self.state_task = asyncio.ensure_future(self._quietly(self._resync(after=under_way)))

    async def _resync(self, *, after: asyncio.Future[None] | None) -> None:
        """Answer the resyncs asked (``resync_asked``) until none is left; ``after``:
        the initial state still being sent, which goes first."""
        try:
            if after is not None:
                await after  # a failure of its own was logged by its _quietly
            await self._resyncs()
        finally:
            self.resyncing = False

    async def _resyncs(self) -> None:
        while True:
            wait = self.last_state_at + RESYNC_MIN_INTERVAL_SECONDS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            since, self.resync_since, self.resync_asked = self.resync_since, None, False
            if self.group is None or self.user_id is None:
                return
            self.holding = []  # from here on, events wait for the state (or the replay)
            try:
                replayed = None
                if since is not None:
                    replayed = await asyncio.wait_for(
                        presence.replay_since(self.channel_layer, self.user_id, since), REDIS_TIMEOUT_SECONDS
                    )
                if replayed is None:
                    seq = await asyncio.wait_for(
                        presence.current_seq(self.channel_layer, self.user_id), REDIS_TIMEOUT_SECONDS
                    )
            except Exception as error:  # noqa: BLE001 - Redis did not answer
                dependency_failed(dependency="redis", use="socket_resync", error=error)
                self.holding = None
                await self.close(code=CLOSE_UNAVAILABLE)
                return
            if replayed is not None and since is not None:
                await self._send_replay(since, *replayed)
            else:
                await self._send_initial_state(seq, reload=True)
            if not self.resync_asked:
                return

    async def _send_replay(self, since: int, seq: int, messages: list[dict[str, Any]]) -> None:
        """The events numbered after ``since`` up to ``seq``, as first sent; then
        the events held meanwhile that come after them."""
        metrics.websocket_replays.inc()
        self.last_state_at = time.monotonic()
        if self.closing or self.group is None:
            return
        await self.send_json({"type": "replay", "since": since, "seq": seq, "count": len(messages)})
        for message in messages:
            await self.send_json({**message["envelope"], "seq": message["seq"]})
        held, self.holding = self.holding or [], None
        for payload in held:
            if payload.get("seq") is None or payload["seq"] > seq:
                await self.send_json(payload)

    async def _quietly(self, work: Any) -> None:
        """Run a background step of the socket; a socket closing under it is not an error."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("realtime socket of player %s", self.user_id)

    async def disconnect(self, code: int | None) -> None:
        if self.state_task is not None and self.state_task is not asyncio.current_task():
            self.state_task.cancel()
        if self.group is None or self.user_id is None:
            return
        self.group = None
        metrics.websocket_open.dec()
        await self._leave(self.user_id)

    async def _leave(self, user_id: int) -> None:
        # No timeout of its own (a task and a timer per socket, 10,000 at once): the
        # layer gives up on a batch after realtime.loop_sockets.BATCH_TIMEOUT_SECONDS.
        try:
            await presence.socket_leave(
                self.channel_layer, channel=self.channel_name, user_id=user_id, groups=[FEED_GROUP]
            )
        except Exception as error:  # noqa: BLE001 - the memberships run out by themselves (group expiry)
            dependency_failed(dependency="redis", use="socket_leave", error=error)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or self.group is None:
            return  # closed, or never let in: whatever still arrives is dropped unread
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.WS_MAX_MESSAGE_BYTES:
            await self._close_for("message_too_big", CLOSE_MESSAGE_TOO_BIG)
            return
        if self.bucket is not None and not self.bucket.take():
            await self._close_for("rate_limited", CLOSE_RATE_LIMITED)
            return
        if text_data is None:
            return
        text = text_data.strip()
        if text == "ping":
            await self.send(text_data="pong")
        elif text.startswith("{"):
            message = _json_object(text)
            kind = message.get("type")
            if kind == "ping":
                await self.send_json({"type": "pong"})
            elif kind == "resync":
                since = message.get("since")
                # A number the client holds: a whole number, not a bool; anything else asks for a state.
                self._request_state(since if type(since) is int and since >= 0 else None)

    async def _close_for(self, reason: str, code: int) -> None:
        """Close for what the client sent, and end this consumer at once: while
        it runs, the server keeps handing it every frame still buffered on the
        connection (a flood: tens of thousands, each a dispatch on the event
        loop). Parsing them is the server's cost, which only the protocol
        limit (``realtime.socket_limits``) spares."""
        self.closing = True
        metrics.websocket_policy_closes.labels(reason=reason).inc()
        await self.close(code=code)
        await self.disconnect(code)
        raise StopConsumer()

    async def domain_event(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        envelope: dict[str, Any] = message["envelope"]
        seq = message.get("seq")
        payload = envelope if seq is None else {**envelope, "seq": seq}
        if self.holding is not None:
            if len(self.holding) < HOLD_MAX:
                self.holding.append(payload)
            return
        await self.send_json(payload)

    async def domain_events(self, message: dict[str, Any]) -> None:
        """Several events of the player at once (``realtime.channel_layer``: one transaction's),
        numbered from the message's ``seq``: sent to the client one by one, as ever."""
        for event in event_messages(message):
            await self.domain_event(event)

    async def live_feed(self, message: dict[str, Any]) -> None:
        """``realtime.feed.broadcast_feed``: a big win or a jackpot of any player."""
        if self.closing:
            return
        await self.send_json({"type": "live_feed", "data": message["data"]})

    async def session_close(self, message: dict[str, Any]) -> None:
        """``realtime.services.sockets_close``: the session was revoked."""
        await self.close(code=int(message["code"]))

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, cls=DjangoJSONEncoder))


def _initial_state(user: Any, reload: bool) -> str:
    """The player's initial state, as JSON."""
    if reload:
        user.refresh_from_db()
    return json.dumps(initial_state_for(user), cls=DjangoJSONEncoder)


def _json_object(text: str) -> dict[str, Any]:
    """A JSON object message, or {} (not JSON, not an object)."""
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
        return {}
    return payload if isinstance(payload, dict) else {}
