"""Per-player sequence numbers on the socket: every pushed event carries
``seq``, one more than the player's last, on every socket of the player; a
resync answers with a fresh ``initial_state`` carrying the current number;
events that arrive while a state is read follow it."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction

import realtime
from accounts.tests.factories import UserFactory, players_in_bulk
from accounts.tokens import tokens_issue
from realtime.presence import local_sequence
from realtime.push import dispatcher
from realtime.tests.socket_clients import (
    Client,
    cheap_initial_state,
    close_all,
    gated_initial_state,
    open_all,
    require_project_layer,
)

pytestmark = pytest.mark.django_db(transaction=True)


def events_of(client: Client) -> list[dict[str, Any]]:
    return [message for message in client.received if message.get("type") == "profile_update"]


async def collect(client: Client, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Read until the client holds ``count`` events."""
    deadline = time.monotonic() + timeout
    while len(events_of(client)) < count:
        await client.next(max(0.1, deadline - time.monotonic()))
    return events_of(client)


def test_every_pushed_event_is_numbered_one_more_than_the_last_and_none_is_lost() -> None:
    # Given 6 players with two sockets each
    require_project_layer()
    players = players_in_bulk(6, prefix="seq")
    tokens = [tokens_issue(user=player).access for player in players]
    per_player = 60
    emitted: dict[str, float] = {}

    def emit_all() -> None:
        # 360 events committed back to back, some transactions carrying three players' events
        try:
            started = time.monotonic()
            i = 0
            while i < per_player * len(players):
                batch = [players[(i + k) % len(players)] for k in range(1 + i % 3)]
                batch = batch[: per_player * len(players) - i]
                with transaction.atomic():
                    realtime.emit_many([("profile_update", player.pk, {"n": i + k}) for k, player in enumerate(batch)])
                i += len(batch)
            emitted["seconds"] = time.monotonic() - started
        finally:
            connection.close()

    async def scenario() -> tuple[list[Client], dict[int, int]]:
        clients = await open_all([token for token in tokens for _ in range(2)])
        first = {}
        for client in clients:
            state = await client.next_of("initial_state")
            first[id(client)] = state["seq"]
        # When events are committed as fast as this process can
        await sync_to_async(emit_all, thread_sensitive=False)()
        for client in clients:
            await collect(client, per_player)
        for client in clients:
            assert await client.silent(0.1)
        await close_all(clients)
        return clients, first

    with cheap_initial_state():
        clients, first = async_to_sync(scenario)()

    # Then each socket got exactly its player's events, in commit order, numbered from its state on
    for client in clients:
        events, start = events_of(client), first[id(client)]
        assert [event["seq"] for event in events] == list(range(start + 1, start + 1 + per_player))
        numbers = [event["data"]["n"] for event in events]
        assert numbers == sorted(numbers)
    # ... and both sockets of a player saw the same numbers for the same events
    by_player: dict[int, list[list[tuple[int, int]]]] = {}
    for client in clients:
        by_player.setdefault(events_of(client)[0]["user_id"], []).append(
            [(event["seq"], event["data"]["n"]) for event in events_of(client)]
        )
    assert all(a == b for a, b in by_player.values())
    rate = per_player * len(players) / emitted["seconds"]
    assert rate > 20, f"{rate:.0f} events/s"


def test_a_resync_answers_with_the_state_as_it_is_now_and_the_current_number() -> None:
    # Given a connected player who received two events
    require_project_layer()
    user = UserFactory(nickname="Before")
    token = tokens_issue(user=user).access

    def change(nickname: str | None = None) -> None:
        with transaction.atomic():
            if nickname:
                user.nickname = nickname
                user.save(update_fields=["nickname"])
            realtime.emit("profile_update", user, {"nickname": user.nickname})
        assert dispatcher.wait_idle(10)

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        (client,) = await open_all([token])
        state = await client.next_of("initial_state")
        await sync_to_async(change)()
        await sync_to_async(change)("After")
        seen = await collect(client, 2)
        # When the client asks for a resync
        await client.send({"type": "resync"})
        fresh = await client.next_of("initial_state")
        await sync_to_async(change)()
        later = await client.next_of("profile_update")
        await client.close()
        return state, seen, fresh, later

    state, seen, fresh, later = async_to_sync(scenario)()

    # Then the fresh state shows the change and carries the last number; the next event follows it
    assert state["data"]["profile"]["nickname"] == "Before"
    assert [event["seq"] for event in seen] == [state["seq"] + 1, state["seq"] + 2]
    assert fresh["data"]["profile"]["nickname"] == "After"
    assert fresh["seq"] == state["seq"] + 2
    assert later["seq"] == fresh["seq"] + 1


def test_events_committed_while_the_initial_state_is_read_follow_it() -> None:
    # Given an initial state that takes its time (it waits for the test)
    require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access

    def commit_event(gate: threading.Event) -> None:
        with transaction.atomic():
            realtime.emit("profile_update", user, {"nickname": "Early"})
        assert dispatcher.wait_idle(10)
        time.sleep(0.2)  # the consumer has the event in hand
        gate.set()

    async def scenario(gate: threading.Event) -> list[dict[str, Any]]:
        (client,) = await open_all([token])
        # When an event is committed after the handshake, before the state is sent
        await sync_to_async(commit_event, thread_sensitive=False)(gate)
        await client.next_of("profile_update")
        await client.close()
        return client.received

    with gated_initial_state() as gate:
        received = async_to_sync(scenario)(gate)

    # Then the client gets the state first, then the event numbered right after it
    assert [message["type"] for message in received] == ["sync_connected", "initial_state", "profile_update"]
    assert received[2]["seq"] == received[1]["seq"] + 1


def test_a_counter_lost_with_redis_starts_above_every_number_given_before() -> None:
    # Given a connected player whose counter Redis lost
    layer = require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access

    def push() -> None:
        with transaction.atomic():
            realtime.emit("profile_update", user, {})
        assert dispatcher.wait_idle(10)

    async def scenario() -> tuple[int, int]:
        (client,) = await open_all([token])
        await sync_to_async(push)()
        before = (await client.next_of("profile_update"))["seq"]
        await layer.connection(0).delete(layer.seq_key(user.pk))
        # When the next event is pushed
        await sync_to_async(push)()
        after = (await client.next_of("profile_update"))["seq"]
        await client.close()
        return before, after

    before, after = async_to_sync(scenario)()

    # Then its number jumps ahead (the client sees a gap and resyncs), never back
    assert after > before + 1


def test_embedded_mode_numbers_events_in_the_process(settings: Any) -> None:
    # Given the in-memory channel layer of embedded mode
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    user = UserFactory()
    token = tokens_issue(user=user).access
    start = local_sequence.current(user.pk)

    def push() -> None:
        with transaction.atomic():
            realtime.emit_many([("profile_update", user, {"n": 1}), ("profile_update", user, {"n": 2})])

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        (client,) = await open_all([token])
        state = await client.next_of("initial_state")
        await sync_to_async(push)()
        events = await collect(client, 2)
        await client.close()
        return state, events

    with cheap_initial_state():
        state, events = async_to_sync(scenario)()

    # Then the state carries the process's number and the events follow it
    assert state["seq"] == start
    assert [event["seq"] for event in events] == [start + 1, start + 2]


def _push_profile_updates(user: Any, count: int) -> None:
    for n in range(count):
        with transaction.atomic():
            realtime.emit("profile_update", user, {"n": n})
    assert dispatcher.wait_idle(10)


def test_a_resync_since_a_number_replays_the_missed_events_as_first_sent() -> None:
    # Given a connected player who received three events
    require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        (client,) = await open_all([token])
        state = await client.next_of("initial_state")
        await sync_to_async(_push_profile_updates)(user, 3)
        seen = list(await collect(client, 3))
        # When the client says it holds only the first and asks for the rest
        client.received.clear()
        await client.send({"type": "resync", "since": seen[0]["seq"]})
        await client.next_of("replay")
        await collect(client, 2)
        assert await client.silent(0.3)
        replayed = list(client.received)
        # and later asks from the last number it holds (nothing missed)
        client.received.clear()
        await asyncio.sleep(1.0)  # resyncs of a socket are a second apart
        await client.send({"type": "resync", "since": seen[-1]["seq"]})
        await client.next_of("replay")
        assert await client.silent(0.3)
        nothing = list(client.received)
        await client.close()
        return state, seen, replayed, nothing

    state, seen, replayed, nothing = async_to_sync(scenario)()

    # Then it gets the two events it missed, exactly as first sent, and no new state
    assert [event["seq"] for event in seen] == [state["seq"] + 1, state["seq"] + 2, state["seq"] + 3]
    assert replayed[0] == {"type": "replay", "since": seen[0]["seq"], "seq": seen[-1]["seq"], "count": 2}
    assert replayed[1:] == seen[1:]
    assert nothing == [{"type": "replay", "since": seen[-1]["seq"], "seq": seen[-1]["seq"], "count": 0}]


def test_a_resync_from_a_number_no_longer_kept_gets_a_fresh_state_and_the_kept_list_stays_bounded() -> None:
    # Given a layer that keeps a player's last 2 events, and a player who received 4
    layer = require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access
    kept = layer.replay_events
    layer.replay_events = 2

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], int]:
        (client,) = await open_all([token])
        state = await client.next_of("initial_state")
        await sync_to_async(_push_profile_updates)(user, 4)
        seen = list(await collect(client, 4))
        length = await layer.connection(0).llen(layer.recent_key(user.pk))
        # When the client asks for everything after its first event (three, of which two are kept)
        client.received.clear()
        await client.send({"type": "resync", "since": seen[0]["seq"]})
        await client.next_of("initial_state")
        assert await client.silent(0.3)
        answer = list(client.received)
        await client.close()
        return state, seen, answer, length

    try:
        state, seen, answer, length = async_to_sync(scenario)()
    finally:
        layer.replay_events = kept

    # Then it gets a whole state carrying the current number, and Redis kept only 2 events
    assert length == 2
    assert [message["type"] for message in answer] == ["initial_state"]
    assert answer[0]["seq"] == seen[-1]["seq"] == state["seq"] + 4


def test_a_resync_with_a_number_the_server_never_gave_gets_a_fresh_state() -> None:
    # Given a connected player
    require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        (client,) = await open_all([token])
        state = await client.next_of("initial_state")
        # When the client claims a number ahead of the server's, or sends one that is not a number
        await client.send({"type": "resync", "since": state["seq"] + 10})
        first = await client.next_of("initial_state")
        await asyncio.sleep(1.0)
        await client.send({"type": "resync", "since": "12"})
        second = await client.next_of("initial_state")
        await client.close()
        return state, [first, second]

    state, answers = async_to_sync(scenario)()

    # Then each is answered with a whole state at the current number
    assert [answer["seq"] for answer in answers] == [state["seq"], state["seq"]]


def test_a_resync_asked_while_the_first_state_is_read_is_answered_after_it() -> None:
    # Given a first initial state that takes its time (it waits for the test)
    require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access

    async def scenario(gate: threading.Event) -> list[dict[str, Any]]:
        (client,) = await open_all([token])
        # When the client asks for a resync before its first state arrived
        await client.send({"type": "resync"})
        await asyncio.sleep(0.3)
        gate.set()
        await client.next_of("initial_state")
        await client.next_of("initial_state")
        await client.close()
        return client.received

    with gated_initial_state() as gate:
        received = async_to_sync(scenario)(gate)

    # Then it gets the first state, then the resync's (not lost behind the first)
    assert [message["type"] for message in received] == ["sync_connected", "initial_state", "initial_state"]


def test_a_transactions_events_arrive_one_by_one_numbered_in_order_and_replay_as_first_sent() -> None:
    # Given a connected player
    layer = require_project_layer()
    user = UserFactory()
    token = tokens_issue(user=user).access
    sent: list[int] = []
    original = layer._pushed

    def counting(total: Any) -> None:  # what each push's script calls wrote, however they were sent
        sent.append(total.written)
        original(total)

    def one_transaction() -> None:
        with transaction.atomic():
            realtime.emit("profile_update", user, {"n": 0})
            transaction.on_commit(lambda: time.sleep(0.05))  # another hook, between the emits' (Redis I/O)
            realtime.emit_many([("profile_update", user, {"n": 1}), ("profile_update", user, {"n": 2})])
        assert dispatcher.wait_idle(10)

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        (client,) = await open_all([token])
        state = await client.next_of("initial_state")
        # When one transaction emits three events for them, with another after-commit hook between
        await sync_to_async(one_transaction)()
        seen = list(await collect(client, 3))
        assert await client.silent(0.3)
        # and the client asks for the last two again
        client.received.clear()
        await client.send({"type": "resync", "since": seen[0]["seq"]})
        await client.next_of("replay")
        replayed = list(await collect(client, 2))
        await client.close()
        return state, seen, replayed

    layer._pushed = counting  # type: ignore[method-assign]
    try:
        state, seen, replayed = async_to_sync(scenario)()
    finally:
        del layer._pushed

    # Then the three travelled as one message to the socket's process ...
    assert sum(sent) == 1, sent
    # ... and reached the client as three events, numbered one after another, in order
    assert [(event["data"]["n"], event["seq"]) for event in seen] == [(n, state["seq"] + 1 + n) for n in range(3)]
    # ... which a resync replays one by one, exactly as first sent
    assert replayed == seen[1:]
