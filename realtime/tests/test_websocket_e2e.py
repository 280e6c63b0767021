"""``/api/realtime/sync`` end to end: two real ASGI server processes (uvicorn)
share the test database and the Redis channel layer; ``websockets`` clients
connect to each. A grant committed in *this* process reaches every socket of
the player on every server; a rolled-back one reaches none; refusals close
with 4401.

The servers are started once for the module (their startup is most of the
cost) and stopped in the fixture teardown, also on failure or timeout.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import realtime
from accounts import services as accounts_services
from accounts.tokens import tokens_issue
from conftest import require_service
from economy.services import wallet_grant, wallet_open
from realtime.consumers import CLOSE_UNAUTHORIZED
from realtime.models import OutboxEvent
from realtime.push import dispatcher
from realtime.tests.processes import Process, ProcessGroup, free_port, start_asgi_server, wait_healthy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

ENVELOPE_KEYS = {"event_id", "type", "user_id", "data", "timestamp", "seq"}


@pytest.fixture(scope="module")
def asgi_servers(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Process]]:
    """Two uvicorn processes on free loopback ports (after the test database
    exists, so they see ``test_<name>``): {port: process}."""
    require_service("Redis channel layer", "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"])
    group = ProcessGroup(Path(tmp_path_factory.mktemp("asgi")))
    try:
        ports = {free_port()}
        while len(ports) < 2:
            ports.add(free_port())
        started = {port: start_asgi_server(group, port, name=f"uvicorn-{port}") for port in sorted(ports)}
        for port, process in started.items():
            wait_healthy(process, port)
        yield started
    finally:
        group.stop_all()


@pytest.fixture
def servers(asgi_servers: dict[int, Process]) -> Iterator[list[int]]:
    """The two servers' ports; fails loudly, with the server's log, if one died."""
    for process in asgi_servers.values():
        assert process.alive, process.describe()
    yield list(asgi_servers)
    for process in asgi_servers.values():
        assert process.alive, process.describe()


def url(port: int, token: str | None) -> str:
    return f"ws://127.0.0.1:{port}/api/realtime/sync" + (f"?token={token}" if token is not None else "")


def open_socket(port: int, token: str | None) -> ClientConnection:
    return connect(url(port, token), open_timeout=10, close_timeout=2, proxy=None)


def recv_json(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=timeout))


def greeted(ws: ClientConnection, user: Any) -> dict[str, Any]:
    """Consume ``sync_connected`` then ``initial_state``; return the state."""
    hello = recv_json(ws)
    assert hello["type"] == "sync_connected"
    assert hello["user_id"] == user.pk
    state = recv_json(ws)
    assert state["type"] == "initial_state"
    assert state["user_id"] == user.pk
    assert {"profile", "balances", "streak"} <= set(state["data"])
    assert state["data"]["profile"]["id"] == user.pk
    return state["data"]


def assert_silent(*sockets: ClientConnection, seconds: float = 1.5) -> None:
    time.sleep(seconds)
    for ws in sockets:
        try:
            unexpected = ws.recv(timeout=0.05)
        except TimeoutError:
            continue
        pytest.fail(f"expected nothing, received {unexpected!r}")


def read_one_message_that_must_not_come(ws: ClientConnection) -> None:
    message = ws.recv(timeout=10)
    raise AssertionError(f"the server greeted a refused client: {message!r}")


def close_code(port: int, token: str | None) -> int | None:
    """Connect and read: the server must close the socket, never greet."""
    with open_socket(port, token) as ws, pytest.raises(ConnectionClosed) as closed:
        read_one_message_that_must_not_come(ws)
    assert closed.value.rcvd is not None, "the connection dropped without a close frame"
    assert ws.close_code == closed.value.rcvd.code
    return closed.value.rcvd.code


class Boom(Exception):
    pass


def grant_then_fail(user: Any) -> None:
    with transaction.atomic():
        wallet_grant(user=user, bundle={"gold": 70}, reason="event_reward", idempotency_key=f"e2e-{uuid.uuid4()}")
        raise Boom


@pytest.mark.timeout(60)
def test_a_grant_committed_here_reaches_the_player_on_both_servers_a_rolled_back_one_reaches_nobody(
    user: Any, servers: list[int]
) -> None:
    wallet_open(user=user)
    access = tokens_issue(user=user).access

    with open_socket(servers[0], access) as ws_a, open_socket(servers[1], access) as ws_b:
        states = [greeted(ws, user) for ws in (ws_a, ws_b)]
        assert states[0]["balances"]["gold_balance"] == states[1]["balances"]["gold_balance"] == 0

        with transaction.atomic():
            wallet_grant(user=user, bundle={"gold": 50}, reason="event_reward", idempotency_key=f"e2e-{uuid.uuid4()}")
        assert dispatcher.wait_idle(5)
        outbox = OutboxEvent.objects.get(type="balance_update")

        for ws in (ws_a, ws_b):
            envelope = recv_json(ws)
            assert set(envelope) == ENVELOPE_KEYS
            assert envelope["event_id"] == str(outbox.event_id)
            assert envelope["type"] == "balance_update"
            assert envelope["user_id"] == user.pk
            assert envelope["data"]["deltas"] == {"gold": 50}
            assert envelope["data"]["reason"] == "event_reward"
            assert envelope["data"]["balances"]["gold"] == 50
            assert envelope["timestamp"].endswith("Z")
            assert datetime.fromisoformat(envelope["timestamp"].replace("Z", "+00:00")) == outbox.occurred_at

        with pytest.raises(Boom):
            grant_then_fail(user)
        assert dispatcher.wait_idle(5)
        assert OutboxEvent.objects.filter(type="balance_update").count() == 1
        assert_silent(ws_a, ws_b, seconds=1.5)

        for ws in (ws_a, ws_b):
            ws.send("ping")
            assert ws.recv(timeout=5) == "pong"


@pytest.mark.timeout(60)
def test_refused_connections_close_with_4401(user: Any, staff_user: Any, servers: list[int]) -> None:
    from accounts.tests.factories import UserFactory

    a, b = servers
    assert close_code(a, None) == CLOSE_UNAUTHORIZED
    assert close_code(b, "not-a-jwt") == CLOSE_UNAUTHORIZED
    assert close_code(a, tokens_issue(user=user).refresh) == CLOSE_UNAUTHORIZED

    logged_out = tokens_issue(user=user).access
    accounts_services.token_logout_all(user=user)
    assert close_code(b, logged_out) == CLOSE_UNAUTHORIZED
    fresh = tokens_issue(user=user).access  # after logout-all, a new login works again

    banned = UserFactory()
    before_ban = tokens_issue(user=banned).access
    accounts_services.user_set_active(actor=staff_user, user=banned, active=False, reason="x")
    assert close_code(a, before_ban) == CLOSE_UNAUTHORIZED
    assert close_code(b, tokens_issue(user=banned).access) == CLOSE_UNAUTHORIZED

    # The same servers still greet a valid token: the refusals were about the tokens.
    with open_socket(a, fresh) as ws:
        greeted(ws, user)


@pytest.mark.timeout(60)
def test_events_of_one_transaction_arrive_in_emit_order_on_both_servers(user: Any, servers: list[int]) -> None:
    access = tokens_issue(user=user).access
    count = 50

    with open_socket(servers[0], access) as ws_a, open_socket(servers[1], access) as ws_b:
        for ws in (ws_a, ws_b):
            greeted(ws, user)

        with transaction.atomic():
            emitted = [str(realtime.emit("stats_update", user, {"n": n}).event_id) for n in range(count)]
            realtime.emit("profile_update", user, {"nickname": "Last"})
        assert dispatcher.wait_idle(5)

        for ws in (ws_a, ws_b):
            received = [recv_json(ws) for _ in range(count + 1)]
            assert [e["event_id"] for e in received[:count]] == emitted
            assert [e["data"]["n"] for e in received[:count]] == list(range(count))
            assert received[-1]["type"] == "profile_update"
            assert all(set(e) == ENVELOPE_KEYS and e["user_id"] == user.pk for e in received)
