"""The sockets of one event loop and their joins, renewals and leaves, sent to Redis in
batches through the channel layer's script (``realtime.channel_layer.RedisChannelLayer
.run_socket_operations``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from casino.degraded import dependency_failed

if TYPE_CHECKING:
    from realtime.channel_layer import RedisChannelLayer

BATCH_SOCKETS = 500  # joins, renewals and leaves per script
BATCH_TIMEOUT_SECONDS = 5.0  # a batch of joins, renewals and leaves Redis did not take by then failed

SocketOperation = tuple[str, str, int, tuple[str, ...]]  # 'join' | 'renew' | 'leave', channel, user id, groups


class LoopSockets:
    """The sockets of one event loop (a server process's) and their pending
    joins and leaves. Operations queue in order and one task sends them, up to
    ``BATCH_SOCKETS`` a script: a storm of connects, or 10,000 sockets closing
    at once, is a few dozen scripts on one connection rather than as many
    commands as sockets fighting for the pool. A renewal task sends a renewal
    for every open socket every third of the group expiry."""

    def __init__(self, layer: RedisChannelLayer) -> None:
        self.layer = layer
        self.open: dict[str, tuple[int, tuple[str, ...]]] = {}
        self.pending: list[tuple[SocketOperation, asyncio.Future[int] | None]] = []
        self.sender: asyncio.Task[None] | None = None
        self.renewer: asyncio.Task[None] | None = None

    async def join(self, channel: str, user_id: int, groups: tuple[str, ...]) -> int:
        self.open[channel] = (user_id, groups)
        if self.renewer is None or self.renewer.done():
            self.renewer = asyncio.ensure_future(self._renew())
        return await self.run(("join", channel, user_id, groups))

    async def leave(self, channel: str, user_id: int, groups: tuple[str, ...]) -> None:
        self.open.pop(channel, None)
        await self.run(("leave", channel, user_id, groups))

    def run(self, operation: SocketOperation) -> asyncio.Future[int]:
        """Queue an operation; its result once its batch was sent."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue(operation, future)
        return future

    def _queue(self, operation: SocketOperation, future: asyncio.Future[int] | None) -> None:
        self.pending.append((operation, future))
        if self.sender is None or self.sender.done():
            self.sender = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        await asyncio.sleep(0)  # the other sockets of this turn of the loop queue theirs
        while self.pending:
            batch, self.pending = self.pending[:BATCH_SOCKETS], self.pending[BATCH_SOCKETS:]
            try:
                results = await asyncio.wait_for(
                    self.layer.run_socket_operations([operation for operation, _ in batch]), BATCH_TIMEOUT_SECONDS
                )
            except Exception as error:  # noqa: BLE001 - each waiting socket decides what it means
                for _, future in batch:
                    if future is not None and not future.done():
                        future.set_exception(error)
                if any(future is None for _, future in batch):  # renewals: the expiry covers a missed one
                    dependency_failed(dependency="redis", use="socket_renew", error=error)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future is not None and not future.done():
                    future.set_result(result)

    async def _renew(self) -> None:
        interval = max(1.0, self.layer.group_expiry / 3)
        while self.open:
            await asyncio.sleep(interval)
            for channel, (user_id, groups) in list(self.open.items()):
                self._queue(("renew", channel, user_id, groups), None)
