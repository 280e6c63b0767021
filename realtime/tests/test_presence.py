"""Presence and the channel layer's queues: a push to a player without a
socket writes nothing and numbers nothing; memberships a dead server left
behind run out; a full process queue drops what does not fit, counted and
logged as a warning; a socket that cannot join is told to come back later."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from prometheus_client import REGISTRY

import realtime
from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from casino.asgi import application
from realtime import channel_messages
from realtime.channel_layer import RedisChannelLayer
from realtime.channel_messages import Push
from realtime.presence import user_group
from realtime.push import dispatcher
from realtime.tests.socket_clients import cheap_initial_state, open_all, redis_server, require_project_layer

pytestmark = pytest.mark.django_db(transaction=True)


def pushes(result: str) -> float:
    return REGISTRY.get_sample_value("realtime_pushes_total", {"result": result}) or 0.0


def test_a_push_to_a_player_without_a_socket_writes_nothing_and_numbers_nothing() -> None:
    # Given one player online and one not
    layer = require_project_layer()
    online, offline = UserFactory(), UserFactory()
    token = tokens_issue(user=online).access
    server = redis_server()
    before = {"absent": pushes("absent"), "written": pushes("written")}

    def commit() -> None:
        with transaction.atomic():
            realtime.emit_many(
                [("profile_update", offline, {"to": "offline"}), ("profile_update", online, {"to": "online"})]
            )
        assert dispatcher.wait_idle(10)

    async def scenario() -> list[dict[str, Any]]:
        (client,) = await open_all([token])
        await client.next_of("initial_state")
        # When a transaction pushes an event to each
        await sync_to_async(commit)()
        event = await client.next_of("profile_update")
        assert await client.silent(0.3)
        await client.close()
        return [event]

    with cheap_initial_state():
        (event,) = async_to_sync(scenario)()

    # Then only the online player's event was written, and the other player has no number
    assert event["data"] == {"to": "online"}
    assert pushes("written") - before["written"] == 1
    assert pushes("absent") - before["absent"] == 1
    assert not server.exists(layer.seq_key(offline.pk))


def test_what_a_dead_server_left_behind_runs_out() -> None:
    # Given a socket of a server that died without closing it: its membership and
    # the player's presence were last renewed longer ago than the group expiry
    layer = require_project_layer()
    server = redis_server()
    user_id = 10_000_000 + int(uuid.uuid4().int % 1_000_000)
    dead_channel = f"specific.{uuid.uuid4().hex}!{uuid.uuid4().hex}"

    async def scenario() -> tuple[Any, ...]:
        await layer.socket_join(channel=dead_channel, user_id=user_id, groups=[])
        stale = time.time() - layer.group_expiry - 10
        server.zadd(layer._group_key(user_group(user_id)), {dead_channel: stale})
        server.zadd(layer.presence_key(), {str(user_id): stale})
        # When an event is pushed to the player, and another socket joins anywhere
        result = await layer.push_many([Push(user_group(user_id), {"type": "domain.event"}, user_id, numbered=True)])
        present = await layer.players_present([user_id])
        other = await layer.new_channel()
        await layer.socket_join(channel=other, user_id=user_id + 1, groups=[])
        await layer.socket_leave(channel=other, user_id=user_id + 1, groups=[])
        return result, present, server.zscore(layer.presence_key(), str(user_id))

    result, present, score = async_to_sync(scenario)()

    # Then the push found nobody and wrote nothing, and the stale presence was swept away
    assert (result.written, result.absent) == (0, 1)
    assert present == set()
    assert score is None


def test_an_open_socket_renews_what_would_run_out() -> None:
    # Given a membership about to run out
    layer = require_project_layer()
    server = redis_server()
    user_id = 20_000_000 + int(uuid.uuid4().int % 1_000_000)

    async def scenario() -> tuple[int, int]:
        channel = await layer.new_channel()
        await layer.socket_join(channel=channel, user_id=user_id, groups=[])
        stale = time.time() - layer.group_expiry - 1
        server.zadd(layer._group_key(user_group(user_id)), {channel: stale})
        before = await layer.push_many([Push(user_group(user_id), {"type": "domain.event"}, user_id)])
        # When the socket renews its memberships
        await layer.socket_refresh(channel=channel, user_id=user_id, groups=[])
        after = await layer.push_many([Push(user_group(user_id), {"type": "domain.event", "n": 1}, user_id)])
        received = await layer.receive(channel)
        await layer.socket_leave(channel=channel, user_id=user_id, groups=[])
        assert received["n"] == 1
        return before.written, after.written

    # Then pushes reach it again
    assert async_to_sync(scenario)() == (0, 1)


def test_a_full_process_queue_drops_what_does_not_fit_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # Given a layer whose process queues hold 3 messages, and a socket that reads nothing
    layer = RedisChannelLayer(
        hosts=[settings.REDIS_URL], prefix=f"test-full-{uuid.uuid4().hex[:8]}", channel_capacity={"specific.*": 3}
    )
    drops = channel_messages._drop_log
    drops.last, drops.unlogged = 0.0, 0  # forget earlier tests' unlogged drops
    dropped = REGISTRY.get_sample_value("realtime_push_dropped_total", {"reason": "channel_full"}) or 0.0

    async def scenario() -> Any:
        channel = await layer.new_channel()
        await layer.socket_join(channel=channel, user_id=1, groups=[])
        # When five events are pushed to its player
        result = await layer.push_many(
            [Push(user_group(1), {"type": "domain.event", "n": n}, 1, numbered=True) for n in range(5)]
        )
        first = await layer.receive(channel)
        await layer.flush()
        return result, first

    with caplog.at_level("WARNING", logger="realtime.channel_messages"):
        result, first = async_to_sync(scenario)()

    # Then three were queued, two dropped: counted and logged as a warning
    assert (result.written, result.dropped) == (3, 2)
    assert first["n"] == 0
    assert (REGISTRY.get_sample_value("realtime_push_dropped_total", {"reason": "channel_full"}) or 0) == dropped + 2
    assert any("dropped 2 message" in record.getMessage() for record in caplog.records if record.levelname == "WARNING")


def test_a_socket_that_cannot_join_its_groups_is_closed_with_4503(
    throwaway_redis: Any, settings: Any, user: Any
) -> None:
    # Given the project's channel layer on a Redis that is down
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "realtime.channel_layer.RedisChannelLayer", "CONFIG": {"hosts": [throwaway_redis.url]}}
    }
    token = tokens_issue(user=user).access
    throwaway_redis.kill()

    # When the player connects
    async def scenario() -> tuple[dict[str, Any], float]:
        communicator = WebsocketCommunicator(application, f"/api/realtime/sync?token={token}")
        started = time.monotonic()
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        closed = await communicator.receive_output(timeout=10)
        return closed, time.monotonic() - started

    closed, elapsed = async_to_sync(scenario)()

    # Then the socket is closed with "try again later", promptly
    assert closed == {"type": "websocket.close", "code": 4503}
    assert elapsed < 8


def test_consecutive_events_of_a_player_travel_as_one_message_numbered_together() -> None:
    # Given two players with a socket each
    layer = require_project_layer()
    first, second = 30_000_000 + int(uuid.uuid4().int % 1_000_000), 31_000_000 + int(uuid.uuid4().int % 1_000_000)

    def event(user_id: int, n: int) -> Push:
        envelope = {"event_id": f"e{n}", "type": "profile_update", "user_id": user_id, "data": {"n": n}}
        return Push(user_group(user_id), {"type": "domain.event", "envelope": envelope}, user_id, numbered=True)

    async def scenario() -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
        channels = [await layer.new_channel(), await layer.new_channel()]
        starts = [
            await layer.socket_join(channel=channel, user_id=user_id, groups=[])
            for channel, user_id in zip(channels, (first, second), strict=True)
        ]
        # When the first player's events are pushed with one of the other's between them, and a session close
        close = Push(user_group(first), {"type": "session.close", "code": 4401}, first)
        result = await layer.push_many(
            [event(first, 0), event(first, 1), event(second, 2), event(first, 3), event(first, 4), close]
        )
        received = [[await layer.receive(channels[i]) for _ in range(n)] for i, n in ((0, 3), (1, 1))]
        for channel, user_id in zip(channels, (first, second), strict=True):
            await layer.socket_leave(channel=channel, user_id=user_id, groups=[])
        numbered = [
            [(m.get("seq", 0) - starts[i], m["envelope"]["data"]["n"]) for m in event_messages_of(received[i])]
            for i in (0, 1)
        ]
        return result, received, numbered

    result, received, numbered = async_to_sync(scenario)()

    # Then each run of one player's events was one message; the close went on its own
    assert [message["type"] for message in received[0]] == ["domain.events", "domain.events", "session.close"]
    assert [len(message["envelopes"]) for message in received[0][:2]] == [2, 2]
    assert result.written == 4 and result.events == 6
    # ... and every event has its own number, one after another per player
    assert numbered == [[(1, 0), (2, 1), (3, 3), (4, 4)], [(1, 2)]]


def event_messages_of(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for message in messages for event in channel_messages.event_messages(message) if "envelope" in event]


def test_a_message_of_several_events_a_full_queue_refuses_counts_each_event_dropped() -> None:
    # Given a layer whose process queues hold one message, and a socket that reads nothing
    layer = RedisChannelLayer(
        hosts=[settings.REDIS_URL], prefix=f"test-full-{uuid.uuid4().hex[:8]}", channel_capacity={"specific.*": 1}
    )

    def run(n: int) -> list[Push]:
        envelopes = [{"event_id": f"e{i}", "type": "profile_update", "user_id": 1, "data": {}} for i in range(n)]
        return [Push(user_group(1), {"type": "domain.event", "envelope": e}, 1, numbered=True) for e in envelopes]

    async def scenario() -> tuple[Any, Any]:
        channel = await layer.new_channel()
        await layer.socket_join(channel=channel, user_id=1, groups=[])
        # When a run of three events fills the queue and another run of three follows
        first = await layer.push_many(run(3))
        second = await layer.push_many(run(3))
        await layer.flush()
        return first, second

    first, second = async_to_sync(scenario)()

    # Then the first went as one message, and the second's three events are counted dropped
    assert (first.written, first.dropped) == (1, 0)
    assert (second.written, second.dropped) == (0, 3)


def test_a_transactions_pushes_reach_the_player_after_redis_lost_the_push_script() -> None:
    # Given a player with a socket, and a Redis that lost its scripts (a restart, SCRIPT FLUSH)
    layer = require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access
    server = redis_server()

    def commit() -> None:
        server.script_flush()
        with transaction.atomic():  # its pushes go in the after-commit pipeline: EVALSHA, no SCRIPT EXISTS
            realtime.emit_many([("profile_update", user, {"n": 1}), ("profile_update", user, {"n": 2})])
        assert dispatcher.wait_idle(10)

    async def scenario() -> list[dict[str, Any]]:
        (client,) = await open_all([token])
        await client.next_of("initial_state")
        # When a transaction pushes two events to them
        await sync_to_async(commit)()
        events = [await client.next_of("profile_update"), await client.next_of("profile_update")]
        await client.close()
        return events

    with cheap_initial_state():
        events = async_to_sync(scenario)()

    # Then the NOSCRIPT answer sent them again through the push thread, whose client loads the
    # script: both arrived, in order, numbered one after the other
    assert [event["data"]["n"] for event in events] == [1, 2]
    assert events[1]["seq"] == events[0]["seq"] + 1
    assert server.exists(layer.seq_key(user.pk))
