"""What one request costs beyond its CPU, counted in-process (bench/cpu.py):
SQL statements, database round trips, commits and Redis commands, and the
CPU time of the PostgreSQL backend serving this process.

Round trips are what the independent profile of the hot paths counted:
statements (Django's execute wrapper; savepoints are statements), a BEGIN
whenever a statement opens a transaction (psycopg sends it on its own),
COMMIT and ROLLBACK only when a transaction is open (psycopg sends nothing
otherwise), the connection health check's ``SELECT 1`` at the first query of
a request (``CONN_HEALTH_CHECKS``), and psycopg's prepares and deallocations.
Commits: the COMMITs sent plus every data-changing statement run in
autocommit (each is a transaction of its own that writes). Of those,
``provider_commits`` are the sandbox payment provider's own writes (its
tables, ``shop_sandbox*``): in production that provider is a remote service
and those are its commits, not ours; the commit targets count ours.

Standard library only at import time (bench/against.py loads it into an
older checkout, as ``bench_current.counting``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROVIDER_SQL = re.compile(r'"?shop_sandbox\w*"?', re.I)
WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE)\b|^\s*WITH\b.*\b(INSERT|UPDATE|DELETE)\b", re.I | re.S)


@dataclass
class Counts:
    statements: int = 0
    selects: int = 0
    writes: int = 0
    savepoints: int = 0
    begins: int = 0
    commit_sent: int = 0
    rollbacks: int = 0
    autocommit_writes: int = 0
    provider_commits: int = 0
    health_checks: int = 0
    prepares: int = 0
    deallocates: int = 0
    connects: int = 0
    redis: int = 0

    @property
    def round_trips(self) -> int:
        return (
            self.statements
            + self.begins
            + self.commit_sent
            + self.rollbacks
            + self.health_checks
            + self.prepares
            + self.deallocates
        )

    @property
    def commits(self) -> int:
        return self.commit_sent + self.autocommit_writes

    def as_dict(self) -> dict[str, int]:
        out = {k: v for k, v in vars(self).items()}
        out.update(round_trips=self.round_trips, commits=self.commits)
        return out


class Counters:
    """Counts what one request sends to PostgreSQL and Redis while installed.

    Statements through Django's execute wrapper; a BEGIN whenever a statement
    starts a transaction (psycopg sends it as a round trip of its own);
    COMMIT/ROLLBACK only when a transaction is open (psycopg sends nothing
    otherwise); the health check's ``SELECT 1``; psycopg's prepares and
    deallocations (private hooks: not counted if they moved); new connections;
    Redis commands (a pipeline counts once)."""

    def __init__(self) -> None:
        self.counts = Counts()
        self.sql: list[str] = []  # the statements, in order (the first 240 characters of each)
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> Counters:
        from django.db import connections

        conn = connections["default"]
        conn.execute_wrappers.append(self._execute)
        self._undo.append(lambda: conn.execute_wrappers.remove(self._execute))
        for name, hook in (
            ("_commit", self._ending("commit_sent")),
            ("_rollback", self._ending("rollbacks")),
            ("is_usable", self._counted("health_checks")),
            ("connect", self._counted("connects")),
        ):
            original = getattr(conn, name)
            setattr(conn, name, hook(conn, original))
            self._undo.append(lambda name=name: delattr(conn, name))
        self._patch_class("psycopg._cursor_base", "BaseCursor", "_send_prepare", "prepares")
        self._patch_class("psycopg._connection_base", "BaseConnection", "_deallocate", "deallocates")
        self._patch_class("redis.client", "Redis", "execute_command", "redis")
        self._patch_class("redis.client", "Pipeline", "execute", "redis")
        self._patch_class("redis.asyncio.client", "Redis", "execute_command", "redis", asynchronous=True)
        self._patch_class("redis.asyncio.client", "Pipeline", "execute", "redis", asynchronous=True)
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            self._undo.pop()()

    def _execute(self, execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        from psycopg import pq

        c = self.counts
        c.statements += 1
        self.sql.append(" ".join(sql.split())[:240])
        head = sql.lstrip()[:32].upper()
        write = bool(WRITE_SQL.match(sql))
        c.selects += head.startswith("SELECT")
        c.writes += write
        c.savepoints += "SAVEPOINT" in head
        pg = context["connection"].connection
        if pg is not None:
            if pg.autocommit:
                c.autocommit_writes += write
                c.provider_commits += write and bool(PROVIDER_SQL.search(sql[:200]))
            elif pg.info.transaction_status == pq.TransactionStatus.IDLE:
                c.begins += 1
        return execute(sql, params, many, context)

    def _ending(self, counter: str) -> Callable[[Any, Callable[[], Any]], Callable[[], Any]]:
        def hook(conn: Any, original: Callable[[], Any]) -> Callable[[], Any]:
            def ending() -> Any:
                from psycopg import pq

                pg = conn.connection
                if pg is not None and pg.info.transaction_status != pq.TransactionStatus.IDLE:
                    setattr(self.counts, counter, getattr(self.counts, counter) + 1)
                return original()

            return ending

        return hook

    def _counted(self, counter: str) -> Callable[[Any, Callable[..., Any]], Callable[..., Any]]:
        def hook(conn: Any, original: Callable[..., Any]) -> Callable[..., Any]:
            def counted(*args: Any, **kwargs: Any) -> Any:
                if counter != "health_checks" or conn.connection is not None:
                    setattr(self.counts, counter, getattr(self.counts, counter) + 1)
                return original(*args, **kwargs)

            return counted

        return hook

    def _patch_class(self, module: str, cls_name: str, attr: str, counter: str, *, asynchronous: bool = False) -> None:
        import importlib

        try:
            cls = getattr(importlib.import_module(module), cls_name)
            original = cls.__dict__[attr]
        except (ImportError, AttributeError, KeyError):
            return
        counts = self

        if asynchronous:

            async def patched(*args: Any, **kwargs: Any) -> Any:
                setattr(counts.counts, counter, getattr(counts.counts, counter) + 1)
                return await original(*args, **kwargs)

        else:

            def patched(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                setattr(counts.counts, counter, getattr(counts.counts, counter) + 1)
                return original(*args, **kwargs)

        setattr(cls, attr, patched)
        self._undo.append(lambda: setattr(cls, attr, original))


# --- the PostgreSQL backend's CPU ------------------------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def backend_pid() -> int | None:
    from django.db import connections

    pg = connections["default"].connection
    try:
        return int(pg.info.backend_pid) if pg is not None else None
    except Exception:  # noqa: BLE001 - a closed or broken connection: no figure
        return None


def backend_cpu_ns(pid: int | None) -> int | None:
    """CPU time used so far by the PostgreSQL backend ``pid`` (None where /proc cannot tell)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat") as handle:
            raw = handle.read()
        fields = raw[raw.rfind(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _CLOCK_TICKS
    except (OSError, ValueError, IndexError):
        return None
