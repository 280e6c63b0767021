"""WebSocket ``/api/realtime/sync``: authenticated with an access JWT
(``?token=`` or ``Authorization: Bearer``) by the authenticator an app
registered (``realtime.registry.register_socket_authenticator``, which also
records the connection as activity); refused with close code 4401.

What a client may send, per connection (settings, README):

* a message of at most ``WS_MAX_MESSAGE_BYTES`` bytes; a bigger one closes the
  socket with 4413 (too big). The ASGI server refuses far bigger
  frames before reading them (daphne ``--websocket-max-message-size``);
* at most ``WS_MESSAGE_BURST`` messages at once, refilled at
  ``WS_MESSAGES_PER_SECOND``; a flood closes the socket with 4429, so one
  player cannot keep the server's event loop busy for everyone else. Under
  daphne the server's protocol enforces it before the frames are even parsed
  (``realtime.socket_limits``); elsewhere this consumer does;
* ``ping`` (text) is answered ``pong``; ``{"type": "ping"}`` is answered
  ``{"type": "pong"}``; anything else is ignored.

Besides the player's own events, every socket receives the live feed (big wins and jackpots of
all players, ``realtime.feed``) as ``{"type": "live_feed", "data": {...}}``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from casino.errors import ApplicationError
from realtime import metrics
from realtime.feed import FEED_GROUP
from realtime.registry import initial_state_for, socket_authenticator
from realtime.services import user_group_name
from realtime.socket_limits import CLOSE_RATE_LIMITED, TokenBucket, message_bucket, server_enforces_limit

CLOSE_UNAUTHORIZED = 4401
# Application close codes: daphne (autobahn) lets an application send only 1000
# or 3000-4999, so not RFC 6455's 1008 (policy) or 1009 (too big).
CLOSE_MESSAGE_TOO_BIG = 4413  # a message over WS_MAX_MESSAGE_BYTES


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
    group: str | None = None
    closing = False
    bucket: TokenBucket | None = None

    async def connect(self) -> None:
        authenticate = socket_authenticator()  # fails loudly if no app registered one
        raw = _token_from_scope(self.scope)
        user = None
        if raw:
            try:
                user = await database_sync_to_async(authenticate)(raw)
            except ApplicationError:
                user = None
        if user is None:
            # Accept then close, so the client sees the application close code.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.user_id = user.pk
        # The server's protocol counts the messages when it can (daphne); else this consumer does.
        self.bucket = None if server_enforces_limit() else message_bucket()
        self.group = user_group_name(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(FEED_GROUP, self.channel_name)
        await self.accept()
        await self.send_json(
            {
                "type": "sync_connected",
                "user_id": user.pk,
                "server_time": timezone.now().isoformat().replace("+00:00", "Z"),
            }
        )
        state = await database_sync_to_async(initial_state_for)(user)
        await self.send_json({"type": "initial_state", "user_id": user.pk, "data": state})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(FEED_GROUP, self.channel_name)

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
        elif text.startswith("{") and _json_type(text) == "ping":
            await self.send_json({"type": "pong"})

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
        await self.send_json(message["envelope"])

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


def _json_type(text: str) -> object:
    """The ``type`` of a JSON object message, or None (not JSON, not an object)."""
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
        return None
    return payload.get("type") if isinstance(payload, dict) else None
