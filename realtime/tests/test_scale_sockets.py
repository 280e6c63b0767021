"""Sockets at scale, in process (hundreds, not the 10,000 of ``bench/sockets.py``):
the Redis connections of a process stay bounded however many sockets it holds,
a storm of handshakes all succeed without a query each, and closing removes
every membership and the presence."""

from __future__ import annotations

import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from accounts.activity import record_activity
from accounts.tests.factories import players_in_bulk
from accounts.tokens import tokens_issue
from realtime.feed import FEED_GROUP
from realtime.presence import user_group
from realtime.registry import socket_authenticator
from realtime.tests.socket_clients import (
    Client,
    cheap_initial_state,
    close_all,
    counted_queries,
    open_all,
    redis_clients_of_this_run,
    redis_server,
    require_project_layer,
)

pytestmark = pytest.mark.django_db(transaction=True)


def tokens_for(count: int, *, sockets_each: int = 1) -> tuple[list[Any], list[str]]:
    players = players_in_bulk(count, prefix="scale")
    tokens = [tokens_issue(user=player).access for player in players]
    return players, [token for token in tokens for _ in range(sockets_each)]


def test_a_process_keeps_a_bounded_number_of_redis_connections_however_many_sockets_it_holds() -> None:
    # Given 20 players, and Redis's own count of this process's clients
    layer = require_project_layer()
    players, tokens = tokens_for(20, sockets_each=15)
    ids = [player.pk for player in players]
    server = redis_server()
    counts: dict[int, int] = {}
    before = len(redis_clients_of_this_run(server))  # what earlier tests in this process left open

    async def scenario() -> tuple[list[dict[str, Any]], int, set[int]]:
        clients: list[Client] = []
        for wave in (20, 100, 300):  # When the process holds 20, then 100, then 300 sockets
            clients += await open_all(tokens[len(clients) : wave])
            for client in clients[-10:]:
                await client.next_of("initial_state")
            counts[wave] = len(redis_clients_of_this_run(server))
        layer_clients = [c for c in redis_clients_of_this_run(server) if c["name"].startswith(layer.client_name)]
        # ... and all of them close at once
        await close_all(clients)
        members = sum(server.zcard(layer._group_key(user_group(player.pk))) for player in players)
        return layer_clients, members + server.zcard(layer._group_key(FEED_GROUP)), await layer.players_present(ids)

    with cheap_initial_state():
        layer_clients, left, present = async_to_sync(scenario)()

    # Then the count does not grow with the sockets: one pool for the channel layer
    # (bounded), one cache and one database connection per socket thread
    assert counts[300] <= counts[20] + 5, counts
    assert counts[300] - before <= 40, (before, counts)
    assert len(layer_clients) <= layer.max_connections
    # ... and closing them all left no membership and no presence behind
    assert (left, present) == (0, set())


def test_a_storm_of_handshakes_all_succeed_without_a_query_each(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 60 players this process has authenticated and marked active before (their requests)
    require_project_layer()
    players, tokens = tokens_for(60, sockets_each=5)
    authenticate = socket_authenticator()
    for token in tokens[::5]:
        authenticate(token)
    for player in players:
        record_activity(player.pk)

    # When 300 sockets connect at once
    async def scenario() -> tuple[list[Client], float, list[str]]:
        started = time.monotonic()
        clients = await open_all(tokens, timeout=30)
        elapsed = time.monotonic() - started
        for client in clients:
            await client.next_of("initial_state")
        run = list(queries)
        await close_all(clients)
        return clients, elapsed, run

    with cheap_initial_state(), counted_queries(monkeypatch) as queries:
        clients, elapsed, run = async_to_sync(scenario)()

    # Then every handshake succeeded and got its state, with no SQL at all
    assert len(clients) == 300
    assert all(client.received[0]["type"] == "sync_connected" for client in clients)
    assert run == []
    assert elapsed < 20, f"{elapsed:.1f}s for 300 handshakes"


def test_closing_removes_the_memberships_and_the_presence() -> None:
    # Given two sockets of one player and one of another
    layer = require_project_layer()
    players, tokens = tokens_for(2)
    first, second = players
    server = redis_server()

    def members(group: str) -> set[bytes]:
        return set(server.zrange(layer._group_key(group), 0, -1))

    async def present() -> set[int]:
        return await layer.players_present([first.pk, second.pk])

    async def scenario() -> list[Any]:
        a1, a2, b = await open_all([tokens[0], tokens[0], tokens[1]])
        seen = [await present(), len(members(user_group(first.pk))), len(members(FEED_GROUP))]
        # When one socket of the first player closes, then the other, then the second player's
        await a1.close()
        seen += [await present(), len(members(user_group(first.pk)))]
        await a2.close()
        seen += [await present(), len(members(user_group(first.pk)))]
        await b.close()
        seen += [await present(), len(members(user_group(second.pk))), len(members(FEED_GROUP))]
        return seen

    seen = async_to_sync(scenario)()

    # Then the player is present until their last socket closed, and nothing is left behind
    assert seen == [
        {first.pk, second.pk},
        2,
        3,
        {first.pk, second.pk},
        1,
        {second.pk},
        0,
        set(),
        0,
        0,
    ]
