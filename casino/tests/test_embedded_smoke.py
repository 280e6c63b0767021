"""Embedded-mode smoke test: start the project the way ``make run`` does
(``migrate``, ``seed_demo``, daphne's ``runserver``) in a clean environment,
no PostgreSQL, Redis, Kafka or ClickHouse, and use it over HTTP and WebSocket
as a client would.

The only variable beyond PATH and HOME is ``DATABASE_URL`` pointing at a
SQLite file in a temporary directory, so the developer's ``var/db.sqlite3`` is
never touched; a SQLite URL is still embedded mode.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

PROJECT_DIR = Path(settings.BASE_DIR)
DEMO_INVITE_CODE = "5858"
PASSWORD = "Correct-Horse-9"
STARTUP_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class EmbeddedServer:
    port: int
    env: dict[str, str]  # the environment it runs in (its SQLite database), for manage.py beside it

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _manage(*args: str, env: dict[str, str], timeout: int = 120) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def embedded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    workdir = tmp_path_factory.mktemp("embedded")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(workdir)),
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
    }
    # seed_demo appends the logins it creates to var/demo-logins.txt in the
    # project (whatever the database); put the developer's file back afterwards.
    logins_file = PROJECT_DIR / "var" / "demo-logins.txt"
    saved_logins = logins_file.read_bytes() if logins_file.exists() else None
    server: subprocess.Popen[bytes] | None = None
    log_path = workdir / "server.log"
    try:
        _manage("migrate", "--noinput", env=env)
        _manage("seed_demo", env=env)
        port = _free_port()
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                cwd=PROJECT_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_until_healthy(server, f"http://127.0.0.1:{port}/health", log_path)
        yield EmbeddedServer(port=port, env=env)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        if saved_logins is None:
            logins_file.unlink(missing_ok=True)
        else:
            logins_file.write_bytes(saved_logins)


def _wait_until_healthy(server: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"runserver exited with {server.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"/health did not answer within {STARTUP_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")


def _expected_git_sha() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()


def _sign_up(server: EmbeddedServer, name: str, phone: str) -> httpx.Response:
    return httpx.post(
        f"{server.http}/api/auth/signup",
        json={
            "site_id": name,
            "nickname": name.title(),
            "phone_number": phone,
            "invite_code": DEMO_INVITE_CODE,
            "password": PASSWORD,
        },
        timeout=30,
    )


def _log_in(server: EmbeddedServer, site_id: str) -> httpx.Response:
    return httpx.post(f"{server.http}/api/auth/login", json={"site_id": site_id, "password": PASSWORD}, timeout=30)


def _receive_until_pong(ws: Any, max_messages: int = 20) -> list[dict[str, Any]]:
    """The events received before "pong" (the server may push events at any time)."""
    events: list[dict[str, Any]] = []
    for _ in range(max_messages):
        message = ws.recv(timeout=10)
        if message == "pong":
            return events
        events.append(json.loads(message))
    pytest.fail(f'no "pong" among {max_messages} messages: {events}')


def test_health_answers_with_the_build_version(embedded_server: EmbeddedServer) -> None:
    # When /health is asked
    response = httpx.get(f"{embedded_server.http}/health", timeout=5)

    # Then it answers ok with the version and the commit it was started from
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", body["version"])
    assert body["git_sha"] == _expected_git_sha()


def test_a_player_signs_up_with_the_demo_code_logs_in_and_reads_their_profile(embedded_server: EmbeddedServer) -> None:
    # When a player signs up with the invite code seed_demo created, then logs in
    signup = _sign_up(embedded_server, "smoke_alice", "+15550100001")
    login = _log_in(embedded_server, "smoke_alice")

    # Then both succeed and the access token from the login reads the profile
    assert signup.status_code == 201, signup.text
    assert signup.json()["user"]["site_id"] == "smoke_alice"
    assert login.status_code == 200, login.text
    access = login.json()["access_token"]
    me = httpx.get(f"{embedded_server.http}/api/auth/me", headers={"Authorization": f"Bearer {access}"}, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["site_id"] == "smoke_alice"
    assert me.json()["id"] == signup.json()["user"]["id"]


def test_the_sync_socket_greets_a_logged_in_player_and_answers_ping(embedded_server: EmbeddedServer) -> None:
    # Given a player who signed up and logged in
    signup = _sign_up(embedded_server, "smoke_bob", "+15550100002")
    assert signup.status_code == 201, signup.text
    login = _log_in(embedded_server, "smoke_bob")
    assert login.status_code == 200, login.text
    access = login.json()["access_token"]

    # When they open the sync socket with their access token and send "ping"
    with connect(f"{embedded_server.ws}/api/realtime/sync?token={access}", open_timeout=10) as ws:
        greeting: dict[str, Any] = json.loads(ws.recv(timeout=10))
        ws.send("ping")
        events_before_pong = _receive_until_pong(ws)

    # Then the first message confirms the connection for that player, and "pong" comes
    # back (after whatever events the server pushed meanwhile, each a JSON event)
    assert greeting["type"] == "sync_connected"
    assert greeting["user_id"] == signup.json()["user"]["id"]
    assert all(isinstance(event.get("type"), str) for event in events_before_pong)


def test_the_sync_socket_without_a_token_is_closed_with_4401(embedded_server: EmbeddedServer) -> None:
    # When a socket is opened without a token
    with (
        connect(f"{embedded_server.ws}/api/realtime/sync", open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)

    # Then the server closes it with the application's "unauthorized" code
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def test_a_player_orders_a_money_pack_on_sqlite(embedded_server: EmbeddedServer) -> None:
    # Given a player of the embedded default (SQLite) and the demo catalog
    signup = _sign_up(embedded_server, "smoke_carol", "+15550100003")
    assert signup.status_code == 201, signup.text
    headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    products = httpx.get(f"{embedded_server.http}/api/shop/products", headers=headers, timeout=10).json()
    money = next(p for p in products if p["price_type"] == "money")

    # When they order it (the hand-written statements of a money buy, on SQLite)
    order = httpx.post(
        f"{embedded_server.http}/api/shop/buy",
        json={"product_id": money["product_id"], "device_id": "smoke-device"},
        headers={**headers, "Idempotency-Key": "smoke-money-1"},
        timeout=30,
    )

    # Then the order is pending at the sandbox provider, and the answer's balances are the wallet's
    assert order.status_code == 201, order.text
    body = order.json()
    balance = httpx.get(f"{embedded_server.http}/api/users/balance", headers=headers, timeout=10).json()
    assert (body["status"], body["checkout_url"] is not None) == ("pending", True)
    assert (body["new_gold_balance"], body["new_gems_balance"]) == (balance["gold"], balance["gems"])


def test_a_player_claims_and_reads_the_dashboard_on_sqlite(embedded_server: EmbeddedServer) -> None:
    # Given a player of the embedded default (SQLite) who claimed today's streak and VIP rewards
    signup = _sign_up(embedded_server, "smoke_dave", "+15550100004")
    assert signup.status_code == 201, signup.text
    headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    for path, key in (("/api/streak/claim", "smoke-streak"), ("/api/vip/claim", "smoke-vip")):
        claimed = httpx.post(f"{embedded_server.http}{path}", headers={**headers, "Idempotency-Key": key}, timeout=30)
        assert claimed.status_code == 200, claimed.text

    # When they open the home screen (its rows read in one hand-written statement, on SQLite)
    dashboard = httpx.get(f"{embedded_server.http}/api/dashboard", headers=headers, timeout=30)

    # Then it shows the claims, the balances and the last VIP claim's time
    assert dashboard.status_code == 200, dashboard.text
    body = dashboard.json()
    balance = httpx.get(f"{embedded_server.http}/api/users/balance", headers=headers, timeout=10).json()
    assert (body["streak"]["count"], body["streak"]["claimed_today"]) == (1, True)
    assert body["vip"]["claimed_today"] is True and body["vip"]["last_claim_at"]
    assert body["balances"]["gold_balance"] == balance["gold"]


def test_a_player_joins_an_event_and_lists_it_with_their_participation_on_sqlite(
    embedded_server: EmbeddedServer,
) -> None:
    # Given a player of the embedded default (SQLite) and the demo events seed_demo made
    signup = _sign_up(embedded_server, "smoke_erin", "+15550100005")
    assert signup.status_code == 201, signup.text
    headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    running = httpx.get(f"{embedded_server.http}/api/events/active", headers=headers, timeout=10).json()
    assert running, "seed_demo makes running events"
    event = running[0]

    # When they join one and list the running events again (the participations and their
    # progress read by one hand-written statement, its dates converted as the ORM converts them)
    joined = httpx.post(
        f"{embedded_server.http}/api/events/join", json={"event_id": event["id"]}, headers=headers, timeout=30
    )
    assert joined.status_code in (200, 201), joined.text
    listed = httpx.get(f"{embedded_server.http}/api/events/active", headers=headers, timeout=10).json()

    # Then the event shows them joined, with a zero for each requirement and the join's time
    mine = next(item for item in listed if item["id"] == event["id"])["user_participation"]
    assert mine["joined"] is True and mine["joined_at"] == joined.json()["joined_at"]
    assert mine["joined_at"].endswith("Z")
    assert mine["progress"] == {key: 0 for key in event["requirements"]}
    assert (mine["completed"], mine["claimed"], mine["completed_at"]) == (False, False, None)


# The outbox relay's statements, written out for both databases (realtime.locks), run on the
# embedded server's SQLite file: one of the player's rows waits for a retry, so none of their
# younger rows may be claimed; everyone else's due rows are, and are marked sent.
RELAY_STATEMENTS = """
import json
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from accounts.models import User
from realtime.locks import outbox_in_player_order, outbox_lock_due, outbox_mark_sent
from realtime.models import OutboxEvent
player = User.objects.get(site_id="smoke_frank").pk
theirs = list(OutboxEvent.objects.filter(user_id=player, status="pending").order_by("id").values_list("id", flat=True))
OutboxEvent.objects.filter(pk=theirs[0]).update(next_attempt_at=timezone.now() + timedelta(hours=1))
with transaction.atomic():
    claimed = outbox_lock_due(now=timezone.now(), limit=10_000)
    ready, held = outbox_in_player_order(claimed)
    outbox_mark_sent([row.pk for row in ready], sent_at=timezone.now())
print(json.dumps({
    "theirs": theirs,
    "claimed": [[row.pk, row.user_id, row.type, isinstance(row.data, dict)] for row in claimed],
    "held": [row.pk for row in held],
    "sent": sorted(OutboxEvent.objects.filter(status="sent").values_list("id", flat=True)),
    "pending": sorted(OutboxEvent.objects.filter(status="pending").values_list("id", flat=True)),
}))
"""


def test_the_outbox_relays_statements_run_on_sqlite(embedded_server: EmbeddedServer) -> None:
    # Given a player whose sign-up left rows in the outbox (nothing relays them on the embedded default)
    signup = _sign_up(embedded_server, "smoke_frank", "+15550100006")
    assert signup.status_code == 201, signup.text

    # When the relay's claim, order check and sent mark run on its SQLite file, the player's
    # oldest row waiting for a retry
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", RELAY_STATEMENTS],
        cwd=PROJECT_DIR,
        env=embedded_server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])

    # Then none of the player's rows was claimed, every other due row was, each as a full row,
    # and exactly those are marked sent
    assert len(out["theirs"]) >= 2, out["theirs"]  # a row waiting, and younger ones behind it
    claimed_ids = [pk for pk, _, _, _ in out["claimed"]]
    assert claimed_ids and claimed_ids == sorted(claimed_ids)
    assert not set(out["theirs"]) & set(claimed_ids)
    assert all(kind and is_dict for _, _, kind, is_dict in out["claimed"])
    assert out["held"] == []
    assert out["sent"] == claimed_ids
    assert set(out["theirs"]) <= set(out["pending"])
