"""The Redis channel layer of the project: ``channels_redis`` with a bounded
pool, pushes in batches with per-player sequence numbers, presence, and drops
that are counted.

What the stock layer does that a socket server with thousands of sockets
cannot live with, and what this one does instead:

* **Connections.** The stock pool of an event loop opens a connection for
  every command running at once: 10,000 sockets closing together opened
  thousands and hit Redis's ``maxclients``. Here each event loop has one
  :class:`redis.asyncio.BlockingConnectionPool` of ``max_connections``
  (``REALTIME_REDIS_MAX_CONNECTIONS``): a command waits for a free connection
  (up to ``pool_timeout`` seconds) instead of opening another. Connections
  carry a client name (``CLIENT LIST`` shows whose they are).
* **Pushes.** The stock ``group_send`` costs four round trips per event, even
  for a player with no socket. :meth:`RedisChannelLayer.push_many` sends a
  batch of events in one Lua script: for each event it checks the player's
  presence (``realtime.presence``), reads the group's fresh members, numbers
  the event with the player's sequence and writes it to the queue of each
  process holding one of their sockets. Presence, sequence and delivery
  change together, so every socket of a player receives the numbers in order.
  Messages get their score (their place in a queue) from Redis's clock, never
  one process's, and never below the last one queued.
* **Drops.** A process's sockets share one queue in Redis; when it holds
  ``capacity`` messages (its process fell behind), the stock layer drops new
  ones and logs at INFO. Here the capacity of those queues is sized
  (``REALTIME_CHANNEL_CAPACITY``), and a drop is counted
  (``realtime_push_dropped_total{reason="channel_full"}``) and logged as a
  warning.
* **Replay.** The same script keeps a numbered event in the player's list of
  recent ones, ``<prefix>:recent:<id>`` (the last ``replay_events``, for
  ``replay_seconds`` after the last push: ``REALTIME_REPLAY_EVENTS``,
  ``REALTIME_REPLAY_SECONDS``). A client that saw a gap asks for the events
  after the last number it holds; :meth:`RedisChannelLayer.replay_since`
  returns them when every one is still kept (else the client gets a fresh
  state). Only players with a socket get numbers, so only they keep a list.
* **Sockets** join, renew and leave in batches, one script per
  ``BATCH_SOCKETS`` (``realtime.loop_sockets``, one per event loop), and their
  memberships run out after ``group_expiry`` (``REALTIME_GROUP_EXPIRY_SECONDS``,
  not the stock 24 hours) unless renewed, which the process does for every
  open socket every third of it.

* **Receiving.** The stock receive costs four commands for each message a
  process takes off its queue (a clean-up script, BZPOPMIN, a ZADD to the
  queue's backup, a ZPOPMIN out of it). Here one script takes a message that
  already waits (and drops from the backup the messages handed on since), and
  BZPOPMIN waits for one when none does: one command a message under load,
  two when the process was waiting (:meth:`RedisChannelLayer._brpop_with_clean`).
  A receive is cancelled when the socket whose consumer ran it closes; a
  BZPOPMIN under way then keeps running, and the next receive takes its
  answer, so a message Redis popped at that moment is not lost with it.

* **One message for a transaction's events.** A spin pushes its round, two
  balance changes, a dozen progress changes and their notifications to one
  player: each its own message was each its own queue entry, receive round
  trip and dispatch in the socket server. :meth:`RedisChannelLayer.push_many`
  sends consecutive domain events of one player (``domain.event`` messages
  carrying only an ``envelope``) as one ``domain.events`` message carrying
  the envelopes, numbered together (the first event's number; the consumer
  numbers the rest on); the player's list of recent events still keeps each
  event as its own message, so a replay is unchanged.

Message format: a message written by :meth:`push_many` is the stock one (the
random prefix, then msgpack) with a header between the two, ``0xC1`` (a byte
msgpack never starts with), the sequence number (of its first event),
``;``, the receiving channels separated by ``,``, ``;``. :meth:`deserialize`
reads both forms and hands the consumer ``message["seq"]``.

One Redis host (``REDIS_URL``); the scripts read keys they cannot declare, so
not a Redis Cluster (the stock layer does not support one either).

The pushes and messages themselves (:class:`~realtime.channel_messages.Push`, a batch's
messages, the events a received message carries, drops counted and logged) are plain data
in ``realtime.channel_messages``: the pushing code (``realtime.push``, ``realtime.services``)
and the socket's consumer import them from there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from channels_redis.core import RedisChannelLayer as StockRedisChannelLayer
from redis import asyncio as aioredis
from redis.exceptions import NoScriptError

from realtime import metrics
from realtime.channel_messages import (
    EVENT_MESSAGE,
    EVENTS_MESSAGE,
    Push,
    PushResult,
    push_result,
    push_runs,
    report_drops,
)
from realtime.channel_scripts import PUSH, REPLAY, TAKE
from realtime.loop_sockets import LoopSockets, SocketOperation
from realtime.presence import CURRENT_SEQ, PRESENT, SEQ_TTL_SECONDS, SOCKETS, group_user_id, user_group

logger = logging.getLogger(__name__)

HEADER = 0xC1
BATCH_EVENTS = 200  # events per script: a script blocks Redis while it runs


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A kept BZPOPMIN may fail with nobody awaiting it any more (its connection closed): its
    error is read here, so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


class RedisChannelLayer(StockRedisChannelLayer):  # type: ignore[misc]  # channels_redis ships no type hints
    """``channels_redis`` with what the module docstring lists. Extra options
    (``CHANNEL_LAYERS[...]["CONFIG"]``): ``max_connections`` and
    ``pool_timeout`` of each event loop's pool, ``client_name`` of its
    connections."""

    def __init__(
        self,
        *args: Any,
        max_connections: int = 20,
        pool_timeout: float = 5.0,
        client_name: str = "casino-channels",
        replay_events: int = 50,
        replay_seconds: int = 300,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if self.ring_size != 1:
            raise ValueError("realtime.channel_layer.RedisChannelLayer runs on one Redis host")
        if self._serializer.random_prefix_length < 1:
            raise ValueError("the random prefix keeps equal messages apart in a queue: keep random_prefix_length")
        self.max_connections = max_connections
        self.pool_timeout = pool_timeout
        self.client_name = client_name
        self.replay_events = replay_events
        self.replay_seconds = replay_seconds
        self._prefix_length: int = self._serializer.random_prefix_length
        self._process_capacity: int = self.get_capacity("specific.x!y")
        self._sync_push_scripts: dict[float, Any] = {}  # by socket timeout: the push thread's (push_many_now)
        # Receiving (_brpop_with_clean): per queue, the message a script moved to its backup for the
        # receive running now, and those handed on since, which the next script drops from the backup.
        self._taken: dict[str, bytes] = {}
        self._handed_on: dict[str, list[bytes]] = {}
        # ... and the BZPOPMIN under way on a queue, kept when the receive that sent it was cancelled.
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._loop_sockets: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopSockets] = (
            weakref.WeakKeyDictionary()
        )

    # --- connections -------------------------------------------------------------------------

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "address" not in host:
            return super().create_pool(index)  # sentinels: the stock pool
        address = host.pop("address")
        host.setdefault("client_name", f"{self.client_name}-{os.getpid()}")  # CLIENT LIST: which process
        return aioredis.BlockingConnectionPool.from_url(
            address, max_connections=self.max_connections, timeout=self.pool_timeout, **host
        )

    def _script(self, source: str) -> Any:
        """``source`` registered with this event loop's client (EVALSHA, loaded again when Redis lost it)."""
        connection = self.connection(0)
        scripts: dict[str, Any] | None = getattr(connection, "_realtime_scripts", None)
        if scripts is None:
            scripts = {}
            connection._realtime_scripts = scripts
        script = scripts.get(source)
        if script is None:
            script = scripts[source] = connection.register_script(source)
        return script

    # --- keys --------------------------------------------------------------------------------

    def presence_key(self) -> str:
        return f"{self.prefix}:presence"

    def seq_key(self, user_id: int) -> str:
        return f"{self.prefix}:seq:{user_id}"

    def recent_key(self, user_id: int) -> str:
        return f"{self.prefix}:recent:{user_id}"

    def _group_keys(self, groups: Sequence[str]) -> list[bytes]:
        return [self._group_key(group) for group in groups]

    # --- sockets: membership, presence, sequence ----------------------------------------------
    # A process's sockets join, renew and leave through one queue per event loop
    # (:class:`LoopSockets`): one script per batch, whatever the number of sockets.

    def loop_sockets(self) -> LoopSockets:
        loop = asyncio.get_running_loop()
        sockets = self._loop_sockets.get(loop)
        if sockets is None:
            sockets = self._loop_sockets[loop] = LoopSockets(self)
        return sockets

    async def socket_join(self, *, channel: str, user_id: int, groups: Sequence[str]) -> int:
        """Join the player's group and ``groups``, mark the player present; their
        current sequence number. The socket's memberships are renewed from now
        on, until it leaves."""
        return await self.loop_sockets().join(channel, user_id, tuple(groups))

    async def socket_refresh(self, *, channel: str, user_id: int, groups: Sequence[str]) -> None:
        await self.loop_sockets().run(("renew", channel, user_id, tuple(groups)))

    async def socket_leave(self, *, channel: str, user_id: int, groups: Sequence[str]) -> None:
        await self.loop_sockets().leave(channel, user_id, tuple(groups))

    async def run_socket_operations(self, operations: Sequence[SocketOperation]) -> list[int]:
        """One script for the operations, in order; per operation the sequence number of a join, else 0."""
        args: list[Any] = [self.prefix, self.group_expiry, SEQ_TTL_SECONDS, len(operations)]
        for op, channel, user_id, groups in operations:
            keys = self._group_keys([user_group(user_id), *groups])
            args += [op, channel, user_id, len(keys), *keys]
        results = await self._script(SOCKETS)(keys=[self.presence_key()], args=args)
        return [int(result) for result in results]

    async def current_seq(self, user_id: int) -> int:
        seq = await self._script(CURRENT_SEQ)(keys=[self.presence_key(), self.seq_key(user_id)], args=[SEQ_TTL_SECONDS])
        return int(seq)

    async def replay_since(self, user_id: int, seq: int) -> tuple[int, list[dict[str, Any]]] | None:
        """The player's current sequence number and the events numbered after
        ``seq`` (each message as a socket receives it, with ``seq``), if Redis
        still keeps every one of them (the last ``replay_events``, for
        ``replay_seconds``); else None."""
        current, complete, *items = await self._script(REPLAY)(
            keys=[self.seq_key(user_id), self.recent_key(user_id)], args=[seq]
        )
        if not current or not int(complete):
            return None
        messages = []
        for item in items:
            number, raw = bytes(item).split(b";", 1)
            message = super().deserialize(raw)
            message["seq"] = int(number)
            messages.append(message)
        return int(current), messages

    async def players_present(self, user_ids: Sequence[int]) -> set[int]:
        if not user_ids:
            return set()
        flags = await self._script(PRESENT)(keys=[self.presence_key()], args=list(user_ids))
        return {user_id for user_id, flag in zip(user_ids, flags, strict=True) if int(flag)}

    async def players_present_count(self) -> int:
        count: int = await self.connection(0).zcount(self.presence_key(), time.time(), "+inf")
        return count

    # The channels API, for code that joins a player's group directly: presence follows.

    async def group_add(self, group: str, channel: str) -> None:
        user_id = group_user_id(group)
        if user_id is None:
            await super().group_add(group, channel)
            return
        await self.socket_join(channel=channel, user_id=user_id, groups=[])

    async def group_discard(self, group: str, channel: str) -> None:
        user_id = group_user_id(group)
        if user_id is None:
            await super().group_discard(group, channel)
            return
        await self.socket_leave(channel=channel, user_id=user_id, groups=[])

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self.push_many([Push(group=group, message=message, user_id=group_user_id(group))])

    # --- pushes --------------------------------------------------------------------------------

    async def push_many(self, pushes: Sequence[Push]) -> PushResult:
        """Send each push to its group, in order, ``BATCH_EVENTS`` to a script; consecutive
        domain events of one player as one message (the module docstring)."""
        total = PushResult()
        for start in range(0, len(pushes), BATCH_EVENTS):
            chunk = pushes[start : start + BATCH_EVENTS]
            answer = await self._script(PUSH)(keys=[self.presence_key()], args=self._push_args(chunk))
            total.add(push_result(answer, events=len(chunk)))
        self._pushed(total)
        return total

    def push_many_now(self, pushes: Sequence[Push], *, timeout: float) -> PushResult | None:
        """:meth:`push_many` from a thread without an event loop (``realtime.push``'s): the
        same scripts through a synchronous client of this layer's own, whose socket
        operations give up after ``timeout`` seconds. An event loop, its tasks and its
        connection pool cost the push thread more CPU than the script call itself
        (measured: 0.32 against 0.13 ms for a spin's events). None when the layer's host
        is not an address (Sentinel): use :meth:`push_many`."""
        script = self._sync_push_script(timeout)
        if script is None:
            return None
        total = PushResult()
        for start in range(0, len(pushes), BATCH_EVENTS):
            chunk = pushes[start : start + BATCH_EVENTS]
            answer = script(keys=[self.presence_key()], args=self._push_args(chunk))
            total.add(push_result(answer, events=len(chunk)))
        self._pushed(total)
        return total

    def push_client(self, timeout: float) -> Any | None:
        """The synchronous client of :meth:`push_many_now` (sockets that give up after
        ``timeout`` seconds), for a pipeline of the caller's (:meth:`push_queue`); None
        when the layer's host is not an address (Sentinel)."""
        script = self._sync_push_script(timeout)
        return None if script is None else script.registered_client

    def push_queue(self, pipe: Any, pushes: Sequence[Push], *, timeout: float) -> None:
        """Queue on ``pipe`` (a pipeline to this layer's Redis) the script calls of
        :meth:`push_many_now` for ``pushes``: ``EVALSHA`` of the script as that client
        loads it (no ``SCRIPT EXISTS`` round trip first; :meth:`push_replies` tells
        which calls found it missing), ``BATCH_EVENTS`` pushes a call."""
        sha = self._sync_push_script(timeout).sha
        for start in range(0, len(pushes), BATCH_EVENTS):
            pipe.evalsha(sha, 1, self.presence_key(), *self._push_args(pushes[start : start + BATCH_EVENTS]))

    def push_replies(self, pushes: Sequence[Push], replies: Sequence[Any]) -> list[Push]:
        """Count the replies of :meth:`push_queue`'s calls as :meth:`push_many_now` counts
        its own; the pushes of the calls Redis answered ``NOSCRIPT`` (it lost the script:
        the caller sends them again another way). Raises the first other error reply."""
        total = PushResult()
        again: list[Push] = []
        for index, start in enumerate(range(0, len(pushes), BATCH_EVENTS)):
            chunk = pushes[start : start + BATCH_EVENTS]
            reply = replies[min(index, len(replies) - 1)]
            if isinstance(reply, NoScriptError):
                again.extend(chunk)
            elif isinstance(reply, BaseException):
                raise reply
            else:
                total.add(push_result(reply, events=len(chunk)))
        self._pushed(total)
        return again

    def _sync_push_script(self, timeout: float) -> Any:
        """``PUSH`` registered with this layer's synchronous client for ``timeout`` (made once)."""
        script = self._sync_push_scripts.get(timeout)
        if script is None:
            host = dict(self.hosts[0])
            if "address" not in host:
                return None
            client = redis.Redis.from_url(
                host.pop("address"),
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                client_name=f"{self.client_name}-push-{os.getpid()}",
                **host,
            )
            script = self._sync_push_scripts[timeout] = client.register_script(PUSH)
        return script

    def _push_args(self, chunk: Sequence[Push]) -> list[Any]:
        """The ``PUSH`` script's arguments for up to ``BATCH_EVENTS`` pushes."""
        runs = push_runs(chunk)
        args: list[Any] = [
            self.prefix,
            self.group_expiry,
            self.expiry,
            SEQ_TTL_SECONDS,
            self._process_capacity,
            self.capacity,
            self.replay_events,
            self.replay_seconds,
            len(runs),
        ]
        for push, envelopes in runs:
            assert self.require_valid_group_name(push.group), "Group name not valid"
            message = push.message if len(envelopes) == 1 else {"type": EVENTS_MESSAGE, "envelopes": envelopes}
            raw = self.serialize(message)
            args += [
                self._group_key(push.group),
                "" if push.user_id is None else str(push.user_id),
                "1" if push.numbered and push.user_id is not None else "0",
                len(envelopes),
                raw[: self._prefix_length],
                raw[self._prefix_length :],
            ]
            if len(envelopes) > 1:  # each event on its own too, for the player's replay list
                args += [self.serialize({"type": EVENT_MESSAGE, "envelope": envelope}) for envelope in envelopes]
        return args

    def _pushed(self, total: PushResult) -> None:
        metrics.pushes.labels(result="written").inc(total.written)
        metrics.pushes.labels(result="absent").inc(total.absent)
        if total.dropped:
            report_drops(
                total.dropped,
                reason="channel_full",
                detail=f"a process queue in Redis held {self._process_capacity} messages (its server fell behind)",
            )

    # --- receiving ---------------------------------------------------------------------------
    # The stock receive sends four commands for each message a process takes off its queue: a
    # script putting back what a cancelled receive left in the queue's backup, BZPOPMIN, a ZADD of
    # the message to the backup and, once it was handed on, a ZPOPMIN taking it out again.

    async def _brpop_with_clean(self, index: int, channel: str, timeout: int) -> bytes | None:
        """The next message of the queue ``channel``; None after ``timeout`` seconds without one.

        First one script (``TAKE``): it drops from the backup the messages handed on since the
        last call, puts back in the queue what a cancelled receive left there and, when a
        message waits, moves the first one to the backup and returns it, so a receive cancelled
        while it waits for the answer loses nothing (the next call puts the message back). When
        none waits, BZPOPMIN, whose message goes straight to the caller (the stock receive wrote
        it to the backup first: one more command a message).

        A receive is cancelled when the socket whose consumer runs it closes. Once Redis has
        popped a message for a BZPOPMIN, the answer is on its way: a cancelled await would drop
        it with the connection, and the message -- one transaction's events for some player of
        this process -- would be lost. So the BZPOPMIN runs in a task of its own that a
        cancellation does not stop (:meth:`_waiting_pop`), and the next receive of the queue
        takes its answer before asking Redis for anything: in order, once."""
        waiting = self._waiting.get(channel)
        if waiting is not None and waiting.get_loop() is not asyncio.get_running_loop():
            self._waiting.pop(channel, None)  # another event loop's (tests run several): not ours to await
            waiting = None
        kept = waiting is not None
        if waiting is None:
            handed_on = self._handed_on.get(channel, [])
            backup = self._backup_channel_name(channel)
            taken = await self._script(TAKE)(keys=[channel, backup], args=[int(self.expiry), *handed_on])
            self._handed_on.pop(channel, None)  # out of the backup now (sent again if the call was cancelled)
            if taken is not None:
                self._taken[channel] = taken
                return bytes(taken)
            waiting = self._waiting[channel] = asyncio.ensure_future(
                self.connection(index).bzpopmin(channel, timeout=timeout)
            )
            waiting.add_done_callback(_retrieved)
        return await self._waiting_pop(channel, waiting, kept=kept)

    async def _waiting_pop(self, channel: str, waiting: asyncio.Future[Any], *, kept: bool) -> bytes | None:
        """The answer of the BZPOPMIN under way on ``channel``. Cancelled meanwhile, the caller
        leaves it running, kept for the next receive; once its answer is read, it is forgotten.
        ``kept``: a cancelled receive's -- if its command failed, this receive asks again
        (None) instead of failing for it."""
        try:
            result = await asyncio.shield(waiting)
        except asyncio.CancelledError:
            if waiting.cancelled():  # the command itself was (the pools closing): nothing to keep
                self._waiting.pop(channel, None)
            raise
        except Exception:
            self._waiting.pop(channel, None)
            if kept:
                return None
            raise
        self._waiting.pop(channel, None)
        return None if result is None else bytes(result[1])

    async def close_pools(self) -> None:
        """Close the event loops' pools, cancelling first the BZPOPMINs kept for a next receive
        (nobody receives through these pools any more)."""
        running = asyncio.get_running_loop()
        for waiting in self._waiting.values():
            if waiting.get_loop() is running:
                waiting.cancel()
        self._waiting.clear()
        await super().close_pools()

    async def _clean_receive_backup(self, index: int, channel: str) -> None:
        """The message just received was handed on: the next receive's script drops it from the
        backup (the stock layer sent a ZPOPMIN of its own for it)."""
        taken = self._taken.pop(channel, None)
        if taken is not None:
            self._handed_on.setdefault(channel, []).append(taken)

    def deserialize(self, message: bytes) -> dict[str, Any]:
        length = self._prefix_length
        if len(message) <= length or message[length] != HEADER:
            result: dict[str, Any] = super().deserialize(message)
            return result
        seq, channels, body = message[length + 1 :].split(b";", 2)
        result = super().deserialize(message[:length] + body)
        result["__asgi_channel__"] = channels.decode().split(",")
        if seq:
            result["seq"] = int(seq)
        return result
