"""How a socket server takes messages off its queue in Redis (``RedisChannelLayer._brpop_with_clean``):
a message that waits costs one command, every message is received once and in order, and a
receive cancelled after Redis gave it a message loses nothing. Against the real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings

from realtime.channel_layer import RedisChannelLayer
from realtime.channel_scripts import TAKE
from realtime.tests.socket_clients import redis_server


def fresh_layer() -> RedisChannelLayer:
    return RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=f"test-receive-{uuid.uuid4().hex[:8]}")


def count_commands(layer: RedisChannelLayer) -> list[str]:
    """The commands the layer's client sends on this event loop, by name, as they go."""
    client = layer.connection(0)
    sent: list[str] = []
    original = client.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]).upper())
        return await original(*args, **options)

    client.execute_command = counted
    return sent


def queue_keys(layer: RedisChannelLayer, channel: str) -> tuple[str, str]:
    key = layer.prefix + layer.non_local_name(channel)
    return key, layer._backup_channel_name(key)


def test_waiting_messages_are_received_in_order_with_one_command_each() -> None:
    # Given five messages waiting in a process's queue, behind one received already (its script loaded)
    layer = fresh_layer()
    server = redis_server()

    async def scenario() -> tuple[list[int], list[str], int, int]:
        channel = await layer.new_channel()
        for n in range(6):
            await layer.send(channel, {"type": "test.message", "n": n})
        assert (await layer.receive(channel))["n"] == 0
        sent = count_commands(layer)
        # When the process receives them
        received = [(await layer.receive(channel))["n"] for _ in range(5)]
        commands = list(sent)
        # ... and looks for a sixth that never comes
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.3)
        queue, backup = queue_keys(layer, channel)
        await layer.flush()
        return received, commands, server.zcard(queue), server.exists(backup)

    received, commands, left, backed_up = async_to_sync(scenario)()

    # Then each came once, in order, with one script call each (the stock layer sent four)
    assert received == [1, 2, 3, 4, 5]
    assert commands == ["EVALSHA"] * 5
    # ... and the next look dropped the last one from the backup: nothing is left behind
    assert (left, backed_up) == (0, 0)


def test_a_message_sent_while_the_process_waits_costs_two_commands_and_no_backup() -> None:
    # Given a process waiting on its empty queue
    layer = fresh_layer()
    server = redis_server()

    async def scenario() -> tuple[int, list[str], int]:
        channel = await layer.new_channel()
        sent = count_commands(layer)
        waiting = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.2)
        # When a message arrives
        other = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=layer.prefix)
        await other.send(channel, {"type": "test.message", "n": 7})
        message = await asyncio.wait_for(waiting, 5)
        commands = [name for name in sent if name != "SCRIPT"]
        _, backup = queue_keys(layer, channel)
        backed_up = server.exists(backup)
        await layer.flush()
        return message["n"], commands, backed_up

    n, commands, backed_up = async_to_sync(scenario)()

    # Then it is received through BZPOPMIN, after the script found nothing, and never written to the backup
    assert n == 7
    assert commands == ["EVALSHA", "BZPOPMIN"]
    assert backed_up == 0


def test_a_receive_cancelled_after_redis_gave_it_a_message_loses_nothing() -> None:
    # Given two messages waiting, and a receive whose script took the first one but was
    # cancelled before the answer reached it (the script run here directly, its answer dropped)
    layer = fresh_layer()
    server = redis_server()

    async def scenario() -> tuple[list[int], int, int]:
        channel = await layer.new_channel()
        for n in range(2):
            await layer.send(channel, {"type": "test.message", "n": n})
        queue, backup = queue_keys(layer, channel)
        assert server.register_script(TAKE)(keys=[queue, backup], args=[60]) is not None
        assert (server.zcard(queue), server.zcard(backup)) == (1, 1)
        # When the process receives again
        received = [(await layer.receive(channel))["n"] for _ in range(2)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.3)
        left, backed_up = server.zcard(queue), server.exists(backup)
        await layer.flush()
        return received, left, backed_up

    received, left, backed_up = async_to_sync(scenario)()

    # Then the first message came back from the backup, in its place, and each came once
    assert received == [0, 1]
    assert (left, backed_up) == (0, 0)


def test_a_receive_cancelled_while_it_waits_takes_nothing_with_it() -> None:
    # Given a process waiting on its empty queue, whose receive is then cancelled
    layer = fresh_layer()

    async def scenario() -> list[int]:
        channel = await layer.new_channel()
        waiting = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.2)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        # When messages arrive afterwards
        for n in range(3):
            await layer.send(channel, {"type": "test.message", "n": n})
        received = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(3)]
        await layer.flush()
        return received

    # Then the next receives get every one of them
    assert async_to_sync(scenario)() == [0, 1, 2]


def test_a_receive_cancelled_once_redis_popped_a_message_for_it_loses_nothing() -> None:
    # Given a process waiting on its empty queue (BZPOPMIN), and a message Redis pops for it
    # while the process's event loop is busy elsewhere (the answer waits unread on the socket),
    # when the receive is cancelled before it reads the answer -- the socket whose consumer
    # held the process's receive closed at that moment
    layer = fresh_layer()
    server = redis_server()

    async def scenario() -> list[int]:
        channel = await layer.new_channel()
        queue, _ = queue_keys(layer, channel)
        waiting = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(0.2)

        def send_elsewhere() -> None:  # another process pushes, while this event loop does not run
            other = RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=layer.prefix)
            asyncio.run(other.send(channel, {"type": "test.message", "n": 0}))

        sender = threading.Thread(target=send_elsewhere)
        sender.start()
        sender.join()
        for _ in range(100):  # Redis gave it to the waiting BZPOPMIN: the queue is empty again
            if server.zcard(queue) == 0:
                break
            time.sleep(0.01)
        assert server.zcard(queue) == 0, "Redis did not pop the message for the waiting receive"
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        # When messages follow and the process receives again
        await layer.send(channel, {"type": "test.message", "n": 1})
        received = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(2)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.3)
        await layer.flush()
        return received

    # Then the popped message is the next one received, before the one that followed, once each
    assert async_to_sync(scenario)() == [0, 1]
