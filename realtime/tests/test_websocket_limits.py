"""What one client may send on ``/api/realtime/sync``: a rate limit and a size
limit per connection, so a flood from one player neither holds the server's
event loop nor slows ``/health`` for everyone else; and the JSON ping.

Against both servers the project runs, each started once for the module on a
free port with the test database and Redis: uvicorn as production's realtime
service runs it (the consumer counts the messages; the server stops reading a
client while its messages wait for the consumer), and daphne, ``make run``'s
server (its protocol counts them: ``realtime.socket_limits``).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from accounts.tokens import tokens_issue
from conftest import require_service
from realtime.consumers import CLOSE_MESSAGE_TOO_BIG
from realtime.socket_limits import CLOSE_RATE_LIMITED, TokenBucket
from realtime.tests.processes import ProcessGroup, free_port, start_asgi_server, start_daphne, wait_healthy

BURST = 20
LIMITS = {"WS_MESSAGE_BURST": str(BURST), "WS_MESSAGES_PER_SECOND": "5", "WS_MAX_MESSAGE_BYTES": "4096"}


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def server(
    request: pytest.FixtureRequest, django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """One server of each kind for the module; its port."""
    require_service("Redis channel layer", "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"])
    group = ProcessGroup(Path(tmp_path_factory.mktemp(request.param)))
    start = start_asgi_server if request.param == "uvicorn" else start_daphne
    try:
        port = free_port()
        process = start(group, port, **LIMITS)
        wait_healthy(process, port)
        yield port
        assert process.alive, process.describe()
    finally:
        group.stop_all()


def open_socket(port: int, user: Any) -> ClientConnection:
    ws = connect(
        f"ws://127.0.0.1:{port}/api/realtime/sync?token={tokens_issue(user=user).access}",
        open_timeout=10,
        close_timeout=2,
        proxy=None,
        max_size=None,
    )
    assert json.loads(ws.recv(timeout=10))["type"] == "sync_connected"
    assert json.loads(ws.recv(timeout=10))["type"] == "initial_state"
    return ws


def close_code_after(ws: ClientConnection, timeout: float = 10) -> int | None:
    """Read until the server closes; its close code (None: it never did)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.05, deadline - time.monotonic()))
    except TimeoutError:
        return None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None
    return None


def health_latency(port: int) -> float:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    with opener.open(f"http://127.0.0.1:{port}/health", timeout=30) as response:
        assert response.status == 200
    return time.perf_counter() - started


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
def test_a_flood_from_one_socket_is_closed_with_4429_and_health_stays_fast(server: int, user: Any) -> None:
    # Given /health's latency on a quiet server
    quiet = [health_latency(server) for _ in range(10)]

    # When one player floods their socket with pings
    ws = open_socket(server, user)
    sent = [0]

    def flood() -> None:
        try:
            for _ in range(50_000):
                ws.send("ping")
                sent[0] += 1
        except (ConnectionClosed, OSError):
            return

    flooder = threading.Thread(target=flood)
    flooder.start()
    during = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        during.append(health_latency(server))
        time.sleep(0.05)
    code = close_code_after(ws)
    flooder.join(30)

    # Then the server closed that socket for the rate limit, and /health stayed fast: its usual
    # answer as quick as before, no answer stalled (a loop busy with the flood would stall them
    # all for seconds; a 2-core CI box running other tests alongside has seen one at 0.5 s)
    assert code == CLOSE_RATE_LIMITED, f"close code {code} after {sent[0]} pings"
    assert statistics.median(during) < max(0.05, 5 * statistics.median(quiet)), (quiet, during)
    assert max(during) < max(1.0, 10 * statistics.median(quiet)), (quiet, during)


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_a_burst_of_200_pings_is_answered_at_most_up_to_the_limit_then_closed_with_4429(server: int, user: Any) -> None:
    # Given an open socket (a burst of 20, 5 a second)
    ws = open_socket(server, user)

    # When the client sends 200 pings at once
    try:
        for _ in range(200):
            ws.send("ping")
    except ConnectionClosed:
        pass

    # Then the server closes for the rate limit, having answered no more than the burst and what refilled
    # meanwhile (the consumer answers up to the limit; daphne's protocol closes before the answers go out)
    pongs, code = 0, None
    try:
        while True:
            if ws.recv(timeout=10) == "pong":
                pongs += 1
    except ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
    except TimeoutError:
        pass
    assert code == CLOSE_RATE_LIMITED
    assert pongs < BURST + 10, pongs


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_pings_within_the_burst_are_answered_and_json_ping_gets_json_pong(server: int, user: Any) -> None:
    # Given an open socket
    with open_socket(server, user) as ws:
        # When the client sends text and JSON pings within the burst
        for _ in range(BURST // 2 - 1):
            ws.send("ping")
        ws.send(json.dumps({"type": "ping"}))
        replies = [ws.recv(timeout=5) for _ in range(BURST // 2)]

        # Then each is answered in kind, and the socket stays open
        assert replies[:-1] == ["pong"] * (BURST // 2 - 1)
        assert json.loads(replies[-1]) == {"type": "pong"}
        ws.send("ping")
        assert ws.recv(timeout=5) == "pong"


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_a_message_over_the_size_limit_closes_the_socket_with_4413(server: int, user: Any) -> None:
    # Given an open socket
    ws = open_socket(server, user)

    # When the client sends one message just over 4096 bytes
    ws.send("x" * 4097)

    # Then the server closes it: message too big
    assert close_code_after(ws) == CLOSE_MESSAGE_TOO_BIG


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
def test_json_nested_deeper_than_the_stack_is_ignored_not_a_crash(server: int, user: Any) -> None:
    # Given an open socket
    with open_socket(server, user) as ws:
        # When the client sends JSON nested 2,000 deep (within the size limit), then a ping
        ws.send('{"a":' + "[" * 2000 + "]" * 2000 + "}")
        ws.send("ping")

        # Then the socket is still served
        assert ws.recv(timeout=5) == "pong"


def test_the_token_bucket_allows_the_burst_then_the_refill_rate() -> None:
    # Given a bucket of 3 refilled at 2 per second, on a clock the test moves
    now = [100.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])

    # When messages come all at once, then after half a second, then after a long pause
    at_once = [bucket.take() for _ in range(4)]
    now[0] += 0.5
    after_half_second = [bucket.take() for _ in range(2)]
    now[0] += 60
    after_pause = [bucket.take() for _ in range(4)]

    # Then: the burst, one refilled token, and never more than the burst
    assert at_once == [True, True, True, False]
    assert after_half_second == [True, False]
    assert after_pause == [True, True, True, False]
