"""The socket bench's clients (bench/sockets.py): authenticated WebSockets opened,
read and closed from one asyncio loop with ``websockets``, each remembering when
it was greeted, when its initial state came and which events reached it. A client
that sees a gap in its events' numbers asks for a resync as the app does
(bench/socket_sequence.py) and keeps what the replay brought back apart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench.socket_sequence import SequenceBook
from bench.stack import BenchError


def _unrecorded(_kind: str, _name: str, _ms: float) -> None:
    """The socket bench counts from the events it keeps (``Socket.events``, ``Socket.recovered``)."""


@dataclass
class Socket:
    player_id: int
    ws: Any = None
    opened: float = 0.0  # seconds the handshake took (until sync_connected)
    state_at: float | None = None  # when initial_state arrived (perf counter)
    state_seq: int | None = None
    events: list[tuple[str, int | None, float]] = field(default_factory=list)  # event_id, seq, received (epoch)
    recovered: list[str] = field(default_factory=list)  # event_ids a resync's replay brought back
    book: SequenceBook = field(default_factory=lambda: SequenceBook(_unrecorded))
    reader: asyncio.Task[None] | None = None
    error: str = ""


class Clients:
    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self, player: dict[str, Any], *, timeout: float = 30) -> Socket:
        from websockets.asyncio.client import connect

        sock = Socket(player_id=player["id"])
        started = time.perf_counter()
        try:
            sock.ws = await connect(
                f"{self.url}?token={player['token']}",
                open_timeout=timeout,
                ping_interval=None,
                close_timeout=10,
                max_queue=None,
                proxy=None,
            )
            hello = json.loads(await asyncio.wait_for(sock.ws.recv(), timeout))
            if hello.get("type") != "sync_connected":
                raise BenchError(f"greeted with {hello}")
            sock.opened = time.perf_counter() - started
            sock.reader = asyncio.ensure_future(self._read(sock))
        except Exception as error:  # noqa: BLE001 - counted as a failed handshake
            sock.error = f"{type(error).__name__}: {error}"
        return sock

    async def _read(self, sock: Socket) -> None:
        try:
            async for raw in sock.ws:
                received = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "initial_state":
                    sock.state_at = time.perf_counter()
                    sock.state_seq = message.get("seq")
                    sock.book.state(sock.state_seq)
                elif kind == "replay":
                    sock.book.replay(int(message.get("count") or 0))
                elif "seq" in message:
                    outcome, since = sock.book.event(message)
                    if kind == "stats_update" and outcome == "push":
                        sock.events.append((message["event_id"], message["seq"], received))
                    elif kind == "stats_update" and outcome == "recovered":
                        sock.recovered.append(message["event_id"])
                    if since is not None:
                        await sock.ws.send(json.dumps({"type": "resync", "since": since}))
        except Exception:  # noqa: BLE001, S110 - the socket closed: what it read is kept
            pass

    async def open_many(self, players: list[dict[str, Any]], *, concurrency: int | None = None) -> list[Socket]:
        if concurrency is None:
            return list(await asyncio.gather(*(self.open(player) for player in players)))
        gate = asyncio.Semaphore(concurrency)

        async def one(player: dict[str, Any]) -> Socket:
            async with gate:
                return await self.open(player)

        return list(await asyncio.gather(*(one(player) for player in players)))

    @staticmethod
    async def wait_states(sockets: list[Socket], timeout: float) -> float:
        """Seconds until every open socket had its initial state (or the timeout)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if all(s.state_at is not None for s in sockets if s.ws is not None and not s.error):
                break
            await asyncio.sleep(0.05)
        return time.perf_counter() - started

    @staticmethod
    async def close_many(sockets: list[Socket]) -> None:
        async def close(sock: Socket) -> None:
            if sock.ws is not None:
                with contextlib.suppress(Exception):  # already gone
                    await sock.ws.close()
            if sock.reader is not None:
                await asyncio.gather(sock.reader, return_exceptions=True)

        await asyncio.gather(*(close(sock) for sock in sockets))
