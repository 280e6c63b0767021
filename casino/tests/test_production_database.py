"""PostgreSQL out of connections (or not answering) is 503 ``database_unavailable``
with ``Retry-After`` in the error envelope, not a 500: in DRF views, in other
views (the admin) and in middleware.

The database is taken away by pointing the default connection, between
requests, at (a) a port where nothing listens and (b) a stand-in server that
speaks just enough of the PostgreSQL protocol to refuse every login with
``FATAL 53300: sorry, too many clients already``, as a full server does. The
shared PostgreSQL server of the test machine is never exhausted for real."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from rest_framework.test import APIClient

from casino.errors import DATABASE_RETRY_AFTER_SECONDS, is_database_unavailable, server_error_view

pytestmark = pytest.mark.django_db(transaction=True)

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client went away")
        data += chunk
    return data


def _refuse_login(conn: socket.socket) -> None:
    """Answer one client the way a PostgreSQL server with no free slot does."""
    with conn:
        while True:
            length, code = struct.unpack("!ii", _read_exactly(conn, 8))
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                conn.sendall(b"N")  # no TLS, no GSS: go on in plain text
                continue
            _read_exactly(conn, length - 8)  # the rest of the startup message
            break
        fields = b"".join(
            key + value.encode() + b"\0"
            for key, value in (
                (b"S", "FATAL"),
                (b"V", "FATAL"),
                (b"C", "53300"),
                (b"M", "sorry, too many clients already"),
            )
        )
        message = fields + b"\0"
        conn.sendall(b"E" + struct.pack("!i", len(message) + 4) + message)


@contextmanager
def full_postgres_server() -> Iterator[int]:
    """A listening port that refuses every PostgreSQL login with 53300."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(ConnectionError, OSError, struct.error):
                _refuse_login(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on which nothing listens: the connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


@contextmanager
def database_at(port: int) -> Iterator[None]:
    """The default connection, from its next connect until the block ends, goes to 127.0.0.1:port."""
    settings_dict = connection.settings_dict
    saved = (settings_dict["HOST"], settings_dict["PORT"])
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(port)
    try:
        yield
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved


OUTAGES: dict[str, Callable[[], Any]] = {"too-many-clients": full_postgres_server, "refused": closed_port}


@pytest.fixture(params=sorted(OUTAGES))
def database_down(request: pytest.FixtureRequest) -> Callable[[], Any]:
    """Enter the returned context to have no database."""

    @contextmanager
    def down() -> Iterator[None]:
        with OUTAGES[request.param]() as port, database_at(port):
            yield

    return down


def _assert_503(response: Any) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == "database_unavailable"
    assert body["message"]
    assert body["retry_after_seconds"] == DATABASE_RETRY_AFTER_SECONDS


def test_the_stand_in_server_refuses_like_a_full_postgres() -> None:
    # The too-many-clients outage is what psycopg reports for a full server
    with full_postgres_server() as port, pytest.raises(psycopg.OperationalError, match="too many clients"):
        psycopg.connect(host="127.0.0.1", port=port, user="casino", dbname="casino", connect_timeout=5)


def test_login_without_a_database_is_503_with_retry_after(database_down: Callable[[], Any]) -> None:
    # Given an anonymous client (a DRF view that needs the database)
    client = APIClient()
    client.raise_request_exception = False

    # When the database refuses connections and the client logs in
    with database_down():
        response = client.post("/api/auth/login", {"site_id": "someone", "password": "x" * 12}, format="json")

    # Then it is told to come back, in the envelope
    _assert_503(response)


def test_an_authenticated_request_without_a_database_is_503(
    auth_client: APIClient, database_down: Callable[[], Any]
) -> None:
    # Given a player with a valid token (checking it reads the database)
    auth_client.raise_request_exception = False

    with database_down():
        response = auth_client.get("/api/dashboard")

    _assert_503(response)


def test_the_back_office_without_a_database_is_503(staff_client: APIClient, database_down: Callable[[], Any]) -> None:
    # Given staff logged in to the admin (a session kept in the database; not a DRF view)
    staff_client.raise_request_exception = False

    with database_down():
        index = staff_client.get("/admin/")
        login = APIClient().post("/admin/login/", {"username": "someone", "password": "x"})

    _assert_503(index)
    _assert_503(login)


class _QueryingMiddleware:
    """A middleware that reads the database before any view runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from accounts.models import User

        User.objects.exists()
        return self.get_response(request)


def test_a_middleware_that_meets_no_database_is_503_too(database_down: Callable[[], Any]) -> None:
    from django.conf import settings

    # Given a middleware that queries before the view (as the session middleware saving a session does)
    middleware = [*settings.MIDDLEWARE, f"{__name__}._QueryingMiddleware"]
    client = APIClient()
    client.raise_request_exception = False

    with override_settings(MIDDLEWARE=middleware), database_down():
        response = client.get("/health")

    _assert_503(response)


def test_other_database_errors_stay_500() -> None:
    # Given a query error that is a bug, not an outage (an undefined table)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table_here")
    except Exception as exc:  # noqa: BLE001
        error: BaseException = exc
    request = RequestFactory().get("/")

    # When Django's 500 handler renders it
    try:
        raise error
    except Exception:  # noqa: BLE001
        response = server_error_view(request)

    # Then it is still a 500
    assert not is_database_unavailable(error)
    assert response.status_code == 500
    assert json.loads(response.content)["error"] == "internal_error"


@pytest.mark.parametrize(
    ("cause", "unavailable"),
    [
        (psycopg.OperationalError("connection failed: connection refused"), True),
        (psycopg.errors.TooManyConnections("sorry, too many clients already"), True),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
        (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), False),
        (psycopg.errors.DeadlockDetected("deadlock detected"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_which_operational_errors_mean_unavailable(cause: Exception, unavailable: bool) -> None:
    error = OperationalError(str(cause))
    error.__cause__ = cause

    assert is_database_unavailable(error) is unavailable
