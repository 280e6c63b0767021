"""Starting and stopping what a benchmark run needs, on 127.0.0.1 only.

* the shared services come from ``scripts/services.sh up`` (its export lines);
* everything else belongs to the run and is removed at the end: its
  PostgreSQL database, Kafka topic, ClickHouse database and Redis database
  contents, and the processes it started (gunicorn, daphne, relay, sink,
  locust, pgbench). Each process runs in its own session and gets SIGKILL
  from the kernel if this process dies first, so a crash leaves nothing
  behind either.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"


class BenchError(RuntimeError):
    """Something the run needs is missing or broke; the message says what."""


# --- small helpers ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def services_up() -> dict[str, str]:
    """Run ``scripts/services.sh up`` and return the variables it prints."""
    script = ROOT / "scripts" / "services.sh"
    result = subprocess.run(  # noqa: S603
        [str(script), "up"], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"scripts/services.sh up failed:\n{result.stderr[-3000:]}")
    env: dict[str, str] = {}
    for line in result.stdout.splitlines():
        match = re.fullmatch(r"export ([A-Z_][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            env[match.group(1)] = match.group(2).strip("'\"")
    missing = {"DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL"} - env.keys()
    if missing:
        raise BenchError(f"scripts/services.sh up printed no {', '.join(sorted(missing))}")
    for name, value in env.items():
        host = urlparse(value if "://" in value else f"tcp://{value}").hostname
        if host not in {HOST, "localhost"}:
            raise BenchError(f"{name} points at {host}: the bench keeps every byte on 127.0.0.1")
    return env


def with_database(url: str, name: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(path=f"/{name}").geturl()


# --- processes -----------------------------------------------------------------------------

_prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Process:
    """One child in its own session (its process group holds its workers too)."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(  # noqa: S603
            argv,
            env=dict(env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # only ctypes prctl between fork and exec
        )
        self.pid = self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def describe(self) -> str:
        state = "running" if self.alive else f"exited with {self.popen.returncode}"
        return f"{self.name} (pid {self.pid}, {state}), log {self.log_path}:\n{self.log_tail()}"

    def signal_group(self, signum: int) -> None:
        # Only the group this process leads (start_new_session): its own workers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive:
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(10)
        else:
            self.signal_group(signal.SIGKILL)  # leftover workers of a dead master
        self._log.close()


class ProcessSet:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[Process] = []

    def start(self, name: str, argv: list[str], env: Mapping[str, str]) -> Process:
        process = Process(name, argv, env, self.log_dir / f"{name}.log")
        self.processes.append(process)
        return process

    def stop(self, process: Process, timeout: float = 15.0) -> None:
        process.stop(timeout)
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        errors = []
        for process in reversed(self.processes):
            if process.alive:
                process.signal_group(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.stop(timeout)
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                errors.append(f"{process.name}: {exc}")
        self.processes.clear()
        return errors

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.alive:
                raise BenchError(f"{process.name} died: {process.describe()}")


def wait_http(process: Process, url: str, timeout: float = 60) -> None:
    def ready() -> bool:
        if not process.alive:
            raise BenchError(f"{process.name} died during startup: {process.describe()}")
        return http_ok(url)

    wait_until(ready, timeout=timeout, what=f"{process.name} at {url}", interval=0.2)


# --- PostgreSQL ----------------------------------------------------------------------------


def pg_admin(url: str) -> Any:
    import psycopg

    return psycopg.connect(with_database(url, "postgres"), autocommit=True)


def pg_drop_database(url: str, name: str) -> None:
    from psycopg import sql

    with pg_admin(url) as conn:
        # Only backends connected to this run's own database.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def pg_create_database(url: str, name: str, template: str | None = None) -> None:
    from psycopg import sql

    pg_drop_database(url, name)
    with pg_admin(url) as conn:
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def pg_version(url: str) -> str:
    with pg_admin(url) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])


def pg_max_connections(url: str) -> int:
    with pg_admin(url) as conn:
        return int(conn.execute("SHOW max_connections").fetchone()[0])


# --- Kafka, ClickHouse, Redis ---------------------------------------------------------------


def kafka_delete_topic(bootstrap: str, topic: str) -> str:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        for future in admin.delete_topics([topic], operation_timeout=10).values():
            future.result(15)
    except Exception as exc:  # noqa: BLE001 - reported, never fatal at cleanup
        return f"could not delete Kafka topic {topic}: {exc}"
    return ""


def clickhouse_client(url: str, database: str = "default") -> Any:
    from clickhouse_driver import Client

    parsed = urlparse(url)
    return Client(
        host=parsed.hostname or HOST,
        port=parsed.port or 9000,
        user=parsed.username or "default",
        password=parsed.password or "",
        database=database,
    )


def clickhouse_drop_database(url: str, database: str) -> None:
    client = clickhouse_client(url)
    try:
        client.execute(f"DROP DATABASE IF EXISTS `{database}`")
    finally:
        client.disconnect()


def redis_flush(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def redis_delete_prefix(url: str, prefixes: list[str]) -> int:
    import redis

    client = redis.Redis.from_url(url)
    deleted = 0
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            deleted += int(client.delete(*keys[start : start + 500]))
    return deleted
