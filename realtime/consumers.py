"""WebSocket ``/api/realtime/sync``: authenticated with an access JWT
(``?token=`` or ``Authorization: Bearer``) by the authenticator an app
registered (``realtime.registry.register_socket_authenticator``, which also
records the connection as activity); refused with close code 4401."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from casino.errors import ApplicationError
from realtime.registry import initial_state_for, socket_authenticator
from realtime.services import user_group_name

CLOSE_UNAUTHORIZED = 4401


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
        self.group = user_group_name(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
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

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is not None and text_data.strip() == "ping":
            await self.send(text_data="pong")

    async def domain_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["envelope"])

    async def session_close(self, message: dict[str, Any]) -> None:
        """``realtime.services.sockets_close``: the session was revoked."""
        await self.close(code=int(message["code"]))

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, cls=DjangoJSONEncoder))
