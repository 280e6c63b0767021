"""Starting and stopping what a benchmark run needs, on 127.0.0.1 only.

* the shared services come from ``scripts/services.sh up`` (its export lines);
* everything else belongs to the run and is removed at the end: its
  PostgreSQL database, Kafka topic, ClickHouse database and Redis database
  contents, and the processes it started (gunicorn, uvicorn, relay, sink,
  locust, pgbench). Each process runs in its own session and gets SIGKILL
  from the kernel if this process dies first, so a crash leaves nothing
  behind either.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlparse

from casino import childprocess
from casino.childprocess import HOST, ROOT, Process, ProcessGroup, free_port, http_ok

PYTHON = sys.executable
__all__ = ["HOST", "ROOT", "Process", "ProcessSet", "free_port", "http_ok", "wait_http", "wait_until"]


class BenchError(RuntimeError):
    """Something the run needs is missing or broke; the message says what."""


# --- small helpers ------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2) -> Any:
    return childprocess.wait_until(
        predicate, timeout=timeout, interval=interval, message=f"waiting for {what}", error=BenchError
    )


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


# --- processes (casino.childprocess: own session, dies with this process, log file) -----------


class ProcessSet(ProcessGroup):
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


# --- what one run owns ----------------------------------------------------------------------


@dataclass
class RunResources:
    """What one run creates on the shared services, named after its tag, and gives
    back at the end (:meth:`release`). ``created`` records what exists so far, so a
    run that fails half-way removes only what it made."""

    tag: str
    smoke: bool
    database: str
    created: set[str] = field(default_factory=set)
    lock_handle: IO[str] | None = None

    @property
    def ceiling_database(self) -> str:
        return f"{self.database}_ceiling"

    @property
    def against_database(self) -> str:
        return f"{self.database}_against"

    @property
    def clickhouse_database(self) -> str:
        return f"casino_bench_{self.tag}"

    @property
    def topic(self) -> str:
        return f"casino.bench.{self.tag}"

    def lock(self) -> None:
        if self.smoke:
            return  # throwaway names; smoke runs may overlap
        lock_dir = ROOT / "var" / "run"
        lock_dir.mkdir(parents=True, exist_ok=True)
        self.lock_handle = open(lock_dir / "bench.lock", "w")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(self.lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(
                f"another bench run holds {lock_dir / 'bench.lock'} (same database {self.database})"
            ) from None

    def release(self, *, services: dict[str, str], env: dict[str, str], keep: bool) -> list[str]:
        """Remove what the run created (``keep``: not its ClickHouse database and Kafka
        topic) and release the lock; returns the problems, never raises."""
        errors = []
        pg_url = services.get("DATABASE_URL")
        if pg_url and "ceiling" in self.created:
            with contextlib.suppress(Exception):
                pg_drop_database(pg_url, self.ceiling_database)
        if pg_url and "against" in self.created:
            try:
                pg_drop_database(pg_url, self.against_database)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"PostgreSQL ({self.against_database}): {exc}")
        if "ch" in self.created and not keep:
            try:
                clickhouse_drop_database(services["CLICKHOUSE_URL"], self.clickhouse_database)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"ClickHouse: {exc}")
        if "topic" in self.created and not keep:
            problem = kafka_delete_topic(services["KAFKA_BOOTSTRAP_SERVERS"], self.topic)
            if problem:
                errors.append(problem)
        if env.get("REDIS_URL"):
            try:
                if self.smoke:
                    redis_delete_prefix(
                        env["REDIS_URL"],
                        [f"bench-{self.tag}:", f"bench-asgi-{self.tag}", f"bench-{self.tag}-against:"],
                    )
                else:
                    redis_flush(env["REDIS_URL"])
            except Exception as exc:  # noqa: BLE001
                errors.append(f"Redis: {exc}")
        if pg_url and self.smoke and "pg" in self.created:
            try:
                pg_drop_database(pg_url, self.database)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"PostgreSQL: {exc}")
        if self.lock_handle is not None:
            self.lock_handle.close()
        return errors
