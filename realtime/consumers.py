"""WebSocket ``/api/realtime/sync``: authenticated with an access JWT
(``?token=`` or ``Authorization: Bearer``); refused with close code 4401."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from casino.activity import record_activity
from casino.authentication import user_from_access_token
from casino.errors import ApplicationError
from realtime.registry import initial_state_for
from realtime.services import user_group_name

CLOSE_UNAUTHORIZED = 4401


def _token_from_scope(scope: dict[str, Any]) -> str | None:
    query = parse_qs(scope.get("query_string", b"").decode())
    if query.get("token"):
        return query["token"][0]
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode().partition(" ")
            if scheme.lower() == "bearer" and credentials:
                return credentials.strip()
    return None


class SyncConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        raw = _token_from_scope(self.scope)
        user = None
        if raw:
            try:
                user = await database_sync_to_async(user_from_access_token)(raw)
            except ApplicationError:
                user = None
        if user is None:
            # Accept then close, so the client sees the application close code.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        self.user_id = user.pk
        await database_sync_to_async(record_activity)(user.pk)
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

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, cls=DjangoJSONEncoder))
