"""The per-player dashboard cache: a version number per player, and the
player's last built page stored with the version it was built under; both are
read in one round trip (``MGET``), and the page counts only while the
versions agree. A bump after a change makes the stored page stale at once (even
one computed from data older than the change).

Redis down: the cache fails open. A read builds the page from PostgreSQL and
serves it uncached; a bump after commit is skipped. Both are counted and
logged (``casino.degraded``), never raised: the bump runs after the commit
of a claim or a purchase, which must still answer its success. A bump lost
that way leaves at most a page cached before the outage, which expires after
``DASHBOARD_CACHE_SECONDS``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches

from casino.degraded import dependency_failed
from casino.redis_writes import RedisWriter, on_commit_redis, shared_client


@dataclass(frozen=True)
class DashboardPage:
    etag: str  # quoted, as the ETag header carries it
    body: bytes  # the rendered JSON


def dashboard_version_key(user_id: int) -> str:
    return f"dashboard-version:{user_id}"


def dashboard_page_key(user_id: int) -> str:
    return f"dashboard-page:{user_id}"


def dashboard_page(user_id: int, build: Callable[[], bytes]) -> DashboardPage:
    """The cached page of the player's current version, or ``build()`` cached
    now. The ETag is the body's hash, so an unchanged page keeps its ETag
    across versions and a client's ``If-None-Match`` still matches."""
    version: int | None = None
    cached: dict[str, Any] | None = None
    version_key, page_key = dashboard_version_key(user_id), dashboard_page_key(user_id)
    try:
        found = cache.get_many([version_key, page_key])
        version = int(found.get(version_key, 0))
        stored = found.get(page_key)
        if isinstance(stored, dict) and stored.get("version") == version:
            cached = stored
    except Exception as error:  # noqa: BLE001 - Redis down: fail open, build from PostgreSQL
        dependency_failed(dependency="redis", use="dashboard_cache", error=error)
    if cached is None:
        body = build()
        cached = {"version": version, "etag": _etag(body), "body": body}
        if version is not None:
            try:
                cache.set(page_key, cached, timeout=settings.DASHBOARD_CACHE_SECONDS)
            except Exception as error:  # noqa: BLE001 - the page is served uncached
                dependency_failed(dependency="redis", use="dashboard_cache", error=error)
    return DashboardPage(etag=cached["etag"], body=cached["body"])


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def dashboard_invalidate(user_id: int) -> None:
    """Bump the player's dashboard version: cached copies under older
    versions are never read again (even one computed from data older than
    the change that bumped it). On Redis one INCR (Django's Redis cache
    stores integers as plain Redis integers); elsewhere add + incr.

    Runs after commit: a cache that is down is counted and logged, never raised."""
    try:
        _bump(dashboard_version_key(user_id))
    except Exception as error:  # noqa: BLE001 - after commit: fail quietly (docs/architecture.md)
        dependency_failed(dependency="redis", use="dashboard_cache", error=error)


def dashboard_invalidate_many(user_ids: list[int]) -> None:
    """:func:`dashboard_invalidate` for each player."""
    for user_id in user_ids:
        dashboard_invalidate(user_id)


class _VersionBumps(RedisWriter):
    """The bumps a transaction leaves for after its commit, in the one pipeline of its
    Redis writes (``casino.redis_writes``): an ``INCR`` per player."""

    def client(self) -> Any | None:
        return shared_client()

    def queue(self, pipe: Any, items: list[Any]) -> None:
        for user_id in items:
            pipe.incr(_redis_key(dashboard_version_key(user_id)))

    def replies(self, items: list[Any], replies: list[Any]) -> None:
        failed = next((reply for reply in replies if isinstance(reply, Exception)), None)
        if failed is not None:
            dependency_failed(dependency="redis", use="dashboard_cache", error=failed)

    def without_pipeline(self, items: list[Any]) -> None:
        dashboard_invalidate_many(items)


VERSION_BUMPS = _VersionBumps()


def dashboard_invalidate_on_commit(user_id: int) -> None:
    """Bump the player's dashboard version once the current transaction commits: once per
    player and transaction, with the transaction's other Redis writes (one round trip)."""
    on_commit_redis(VERSION_BUMPS, user_id)


def _redis_key(key: str) -> str:
    """The Redis key the default cache stores ``key`` under (its prefix and version)."""
    return str(caches["default"].make_and_validate_key(key))


def _bump(key: str) -> None:
    client = shared_client()
    if client is not None:
        # Django's Redis backend has no public INCR that keeps a missing key missing.
        client.incr(_redis_key(key))
        return
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
