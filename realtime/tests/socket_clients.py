"""Many sockets in this process: channels' ``WebsocketCommunicator`` against the
real ASGI application and the real Redis channel layer, for the scale,
presence and sequence tests."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db.backends.utils import CursorWrapper

from casino.asgi import application
from conftest import require_service
from realtime import registry


def require_project_layer() -> Any:
    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    require_service("the project's Redis channel layer", backend.startswith("realtime.channel_layer"))
    return get_channel_layer()


class Client:
    """One socket: the communicator and what it received, parsed."""

    def __init__(self, token: str) -> None:
        self.communicator = WebsocketCommunicator(application, f"/api/realtime/sync?token={token}")
        self.received: list[dict[str, Any]] = []

    async def open(self, timeout: float = 30) -> dict[str, Any]:
        """Connect; returns ``sync_connected``."""
        connected, code = await self.communicator.connect(timeout=timeout)
        assert connected, f"refused: {code}"
        return await self.next(timeout)

    async def next(self, timeout: float = 10) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await self.communicator.receive_from(timeout=timeout))
        self.received.append(message)
        return message

    async def next_of(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The next message of type ``kind`` (others are kept in ``received``)."""
        while True:
            message = await self.next(timeout)
            if message.get("type") == kind:
                return message

    async def send(self, payload: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(payload))

    async def silent(self, seconds: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=seconds)

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_all(tokens: list[str], *, timeout: float = 60) -> list[Client]:
    """Open a socket per token, all at once; each has received ``sync_connected``."""
    clients = [Client(token) for token in tokens]
    await asyncio.gather(*(client.open(timeout) for client in clients))
    return clients


async def close_all(clients: list[Client]) -> None:
    await asyncio.gather(*(client.close() for client in clients))


@contextmanager
def cheap_initial_state() -> Iterator[None]:
    """The initial state without the database (one section: the player's id),
    for tests about everything but the state."""
    saved = dict(registry._INITIAL_STATE)
    registry._INITIAL_STATE.clear()
    registry._INITIAL_STATE["probe"] = lambda user: {"id": user.pk}
    try:
        yield
    finally:
        registry._INITIAL_STATE.clear()
        registry._INITIAL_STATE.update(saved)


@contextmanager
def gated_initial_state() -> Iterator[threading.Event]:
    """:func:`cheap_initial_state`, each read waiting until the test sets the
    yielded event (a state that takes its time)."""
    gate = threading.Event()

    def slow_state(player: Any) -> dict[str, Any]:
        assert gate.wait(10)
        return {"id": player.pk}

    with cheap_initial_state():
        registry._INITIAL_STATE["probe"] = slow_state
        yield gate


@contextmanager
def counted_queries(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement this process runs meanwhile, from any thread."""
    seen: list[str] = []
    execute: Callable[..., Any] = CursorWrapper.execute

    def counting(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        seen.append(sql)
        return execute(self, sql, params)

    with monkeypatch.context() as patch:
        patch.setattr(CursorWrapper, "execute", counting)
        yield seen


def redis_server() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def redis_clients_of_this_run(server: redis.Redis) -> list[dict[str, Any]]:
    """Redis's own list of the clients connected to this run's database (not the asker)."""
    db = server.connection_pool.connection_kwargs.get("db", 0)
    me = server.client_id()
    return [client for client in server.client_list() if int(client["db"]) == int(db) and int(client["id"]) != me]
