"""Revoking a session closes the player's open WebSockets within a second:
logout-all, a ban, a password change and a reused refresh token close them
with 4401 (log in again), a self-exclusion with 4403 (may not play now).

End to end: a real ASGI server (uvicorn, as the realtime e2e tests start it)
on a free port, sharing the test database and the Redis channel layer; real
``websockets`` clients; the revocation happens in this process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from accounts import services
from accounts.tokens import tokens_issue
from conftest import require_service
from realtime.services import CLOSE_SELF_EXCLUDED, CLOSE_SESSION_REVOKED
from realtime.tests.processes import Process, ProcessGroup, free_port, start_asgi_server, wait_healthy

pytestmark = pytest.mark.django_db(transaction=True)

CLOSE_WITHIN_SECONDS = 1.0


@pytest.fixture(scope="module")
def asgi_server(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Process]]:
    require_service("Redis channel layer", "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"])
    group = ProcessGroup(Path(tmp_path_factory.mktemp("asgi-sessions")))
    try:
        port = free_port()
        process = start_asgi_server(group, port, name=f"uvicorn-{port}")
        wait_healthy(process, port)
        yield port, process
    finally:
        group.stop_all()


@pytest.fixture
def port(asgi_server: tuple[int, Process]) -> Iterator[int]:
    port, process = asgi_server
    assert process.alive, process.describe()
    yield port
    assert process.alive, process.describe()


def open_greeted_socket(port: int, access: str, user: Any) -> ClientConnection:
    ws = connect(
        f"ws://127.0.0.1:{port}/api/realtime/sync?token={access}", open_timeout=10, close_timeout=2, proxy=None
    )
    hello = json.loads(ws.recv(timeout=10))
    assert hello["type"] == "sync_connected"
    assert hello["user_id"] == user.pk
    assert json.loads(ws.recv(timeout=10))["type"] == "initial_state"
    return ws


def close_code_within(ws: ClientConnection, seconds: float) -> int:
    """Read (events may still arrive first) until the server closes the socket;
    fail if it has not closed after ``seconds``."""
    deadline = time.monotonic() + seconds
    with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012 - the loop is what may raise
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"the socket was still open {seconds}s after the revocation")
            try:
                ws.recv(timeout=remaining)
            except TimeoutError:
                continue
    assert closed.value.rcvd is not None, "the connection dropped without a close frame"
    return int(closed.value.rcvd.code)


@pytest.mark.timeout(60)
def test_logout_all_closes_every_open_socket_of_the_player_with_4401(port: int, user: Any, staff_user: Any) -> None:
    pair = tokens_issue(user=user)
    phone, laptop = open_greeted_socket(port, pair.access, user), open_greeted_socket(port, pair.access, user)
    someone_else = open_greeted_socket(port, tokens_issue(user=staff_user).access, staff_user)

    response = APIClient().post("/api/auth/logout-all", HTTP_AUTHORIZATION=f"Bearer {pair.access}")

    assert response.status_code == 200
    assert close_code_within(phone, CLOSE_WITHIN_SECONDS) == CLOSE_SESSION_REVOKED
    assert close_code_within(laptop, CLOSE_WITHIN_SECONDS) == CLOSE_SESSION_REVOKED
    with someone_else:  # another player's socket stays open
        someone_else.send("ping")
        assert someone_else.recv(timeout=5) == "pong"


@pytest.mark.timeout(60)
def test_a_ban_closes_the_players_socket_with_4401(port: int, user: Any, staff_user: Any) -> None:
    ws = open_greeted_socket(port, tokens_issue(user=user).access, user)

    services.user_set_active(actor=staff_user, user=user, active=False, reason="chargeback fraud")

    assert close_code_within(ws, CLOSE_WITHIN_SECONDS) == CLOSE_SESSION_REVOKED


@pytest.mark.timeout(60)
def test_a_self_exclusion_closes_the_players_socket_with_4403(port: int, user: Any) -> None:
    pair = tokens_issue(user=user)
    ws = open_greeted_socket(port, pair.access, user)

    response = APIClient().post(
        "/api/auth/responsible-gaming/self-exclusion",
        {"days": 30},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {pair.access}",
    )

    assert response.status_code == 200
    assert close_code_within(ws, CLOSE_WITHIN_SECONDS) == CLOSE_SELF_EXCLUDED


@pytest.mark.timeout(60)
def test_a_password_change_in_the_admin_closes_the_players_socket_with_4401(
    port: int, user: Any, staff_user: Any
) -> None:
    ws = open_greeted_socket(port, tokens_issue(user=user).access, user)
    staff = Client()
    staff.force_login(staff_user)

    response = staff.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"usable_password": "true", "password1": "Brand-New-Secret-77", "password2": "Brand-New-Secret-77"},
    )

    assert response.status_code == 302
    assert close_code_within(ws, CLOSE_WITHIN_SECONDS) == CLOSE_SESSION_REVOKED


@pytest.mark.timeout(60)
def test_a_reused_refresh_token_closes_the_players_socket_with_4401(port: int, user: Any) -> None:
    stolen = tokens_issue(user=user)
    rotated = APIClient().post("/api/auth/refresh", {"refresh_token": stolen.refresh}, format="json").json()
    ws = open_greeted_socket(port, rotated["access_token"], user)

    reused = APIClient().post("/api/auth/refresh", {"refresh_token": stolen.refresh}, format="json")

    assert reused.status_code == 401
    assert close_code_within(ws, CLOSE_WITHIN_SECONDS) == CLOSE_SESSION_REVOKED
