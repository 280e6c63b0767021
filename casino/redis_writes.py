"""Redis writes a transaction leaves for after its commit, sent together.

A game round's commit bumps the player's dashboard version
(``economy.dashboard_cache``) and updates the leaderboards
(``games.services.leaderboards``); each was a round trip of its own, and a round
trip costs the worker about as much CPU as a PostgreSQL statement (bench/README.md,
"Seventeenth round"). A writer (:class:`RedisWriter`) hands its items to
:func:`on_commit_redis`; after the commit one pipeline carries every writer's
commands (``transaction=False``: one round trip, no ``MULTI``), and each writer is
handed its own replies.

The events a transaction pushes to the players' sockets (``realtime.push``) go in the
same pipeline: one round trip after the commit carries the dashboard, the boards and the
pushes.

Items follow ``on_commit``'s rules (``casino.on_commit.on_commit_batched``): in the
order given, and a rolled-back transaction or savepoint drops exactly its own (items
given after a savepoint go in a pipeline of their own, so the order holds). A writer
gets each item once (``RedisWriter.distinct``) or every item in order (a push). Writers
whose Redis is another server get a pipeline of their own; without Redis (embedded
mode) each writer writes its own way. Nothing here raises after a commit: a writer
counts and logs its own failures (design promise 9)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from casino.on_commit import on_commit_batched

HOOK_KEY = "casino.redis_writes"


class RedisWriter(ABC):
    """What one kind of after-commit write sends (a module-level instance per kind).
    ``distinct``: its items are handed over each once (in the order first given);
    False: every item, in order."""

    distinct = True

    @abstractmethod
    def client(self) -> Any | None:
        """The client of the Redis this writer writes to, or None: no Redis (embedded mode),
        write another way. Writers of one server (host, port, database) share a pipeline."""

    @abstractmethod
    def queue(self, pipe: Any, items: list[Any]) -> None:
        """Queue the commands for ``items`` on ``pipe`` (a pipeline to the writer's Redis server)."""

    @abstractmethod
    def replies(self, items: list[Any], replies: list[Any]) -> None:
        """Take the replies of the commands queued for ``items``, in order; a failed
        command's reply is its exception (a failed pipeline: the same one for all).
        Never raises."""

    @abstractmethod
    def without_pipeline(self, items: list[Any]) -> None:
        """Write ``items`` another way (no Redis client). Never raises."""


def on_commit_redis(writer: RedisWriter, item: Hashable) -> None:
    """Have ``writer`` write ``item`` after the current transaction commits, in the one
    pipeline of the transaction's Redis writes (outside a transaction: now, alone)."""
    on_commit_batched(HOOK_KEY, [(writer, item)], _send)


def on_commit_redis_many(writer: RedisWriter, items: Sequence[Any]) -> None:
    """:func:`on_commit_redis` for several items, in order."""
    on_commit_batched(HOOK_KEY, [(writer, item) for item in items], _send)


def shared_client() -> Any | None:
    """The Redis client of the default cache (Django's Redis backend; ``casino.cache``
    reuses one), or None when the cache is not Redis. The cache's own keys live there
    under ``make_and_validate_key``."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(None, write=True)  # type: ignore[attr-defined]


def _server(client: Any) -> tuple[Any, ...]:
    """Which Redis a client talks to: its pool's address and database."""
    kwargs = client.connection_pool.connection_kwargs
    return tuple(kwargs.get(name) for name in ("host", "port", "path", "db", "username"))


def _send(pairs: list[tuple[RedisWriter, Any]]) -> None:
    by_writer: dict[RedisWriter, list[Any]] = {}
    for writer, item in pairs:
        by_writer.setdefault(writer, []).append(item)
    for writer, items in by_writer.items():
        if writer.distinct and len(items) > 1:
            by_writer[writer] = list(dict.fromkeys(items))
    by_server: dict[tuple[Any, ...], tuple[Any, list[RedisWriter]]] = {}
    for writer, items in by_writer.items():
        try:
            client = writer.client()
        except Exception:  # noqa: BLE001 - a client that cannot be built: the writer's own path reports it
            client = None
        if client is None:
            writer.without_pipeline(items)
            continue
        by_server.setdefault(_server(client), (client, []))[1].append(writer)
    for client, writers in by_server.values():
        _pipeline(client, [(writer, by_writer[writer]) for writer in writers])


def _pipeline(client: Any, batches: list[tuple[RedisWriter, list[Any]]]) -> None:
    """One round trip: every batch's commands, then each writer's replies."""
    pipe = client.pipeline(transaction=False)
    spans: list[tuple[RedisWriter, list[Any], int, int]] = []
    for writer, items in batches:
        start = len(pipe.command_stack)
        try:
            writer.queue(pipe, items)
        except Exception as error:  # noqa: BLE001 - after commit: this writer is told, the others still go
            del pipe.command_stack[start:]
            writer.replies(items, [error])
            continue
        spans.append((writer, items, start, len(pipe.command_stack)))
    try:
        results = pipe.execute(raise_on_error=False) if pipe.command_stack else []
    except Exception as error:  # noqa: BLE001 - Redis down: every writer is told, none raises
        for writer, items, start, end in spans:
            writer.replies(items, [error] * (end - start))
        return
    for writer, items, start, end in spans:
        writer.replies(items, results[start:end])
