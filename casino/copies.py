"""Content every player sees the same, kept in each process.

Rows staff change a few times a week are read on the hottest paths: the
shop's catalog on every buy and payment step, a game's configuration, daily
limits and gacha banners on every round, the active missions, achievements
and event metrics on every spin, purchase and login (the progress
subscriber), the events on show and the highlighted products on every home
screen built. Reading (and compiling) those queries each time cost more than
the rest of the request. So each is a :class:`ProcessCopy`: loaded once, kept
in memory, and reloaded when

* a watched model is saved or deleted -- a ``post_save`` / ``post_delete``
  receiver (:func:`copies_watch`, wired in an app's ``ready()``) forgets this
  process's copies at once and, on commit, sets a new version in the shared
  store (a Redis key in full mode, ``casino.redis_keys``; Django's cache in
  embedded mode), which every process compares with its copies' (read once
  per request -- :func:`copies_version_pinned`, opened by
  ``casino.middleware.CopiesVersionMiddleware`` -- or per use outside one;
  no SQL): a change is seen everywhere as soon as it commits. A request's
  authentication asks Redis for the user's generation anyway
  (``accounts.auth_cache``) and reads the version in the same round trip
  (:func:`copies_version_wanted`, :func:`copies_version_read`): a request
  pays no round trip of its own for it;
* or the copy is older than its ``max_age`` (a safety net: an edit made around
  the ORM's signals -- a queryset ``update()`` -- or with the shared cache down
  is picked up within a minute).

The version is a fresh random token, never a counter: a cache that was
flushed or restarted cannot hand back a number some process's old copy was
loaded under. A copy is shared, not copied: a caller must not change it.
Anything that depends on the clock (an event's window) is decided when the
copy is used, not when it is loaded. Cache invalidation only: the receivers
change no state of their own.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import weakref
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save

from casino.degraded import dependency_failed
from casino.redis_keys import redis_key

T = TypeVar("T")

VERSION_KEY = "copies:version"
MAX_AGE_SECONDS = 60.0

# Within a pinned scope (a request): {} until the version is first read, then {"version": ...}.
_pinned: ContextVar[dict[str, str | None] | None] = ContextVar("casino_copies_pinned", default=None)
_copies: weakref.WeakSet[ProcessCopy[Any]] = weakref.WeakSet()


@dataclass(frozen=True)
class _Loaded(Generic[T]):
    version: str | None
    loaded_at: float
    value: T


@lru_cache(maxsize=4)
def _redis(url: str, timeout: float) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def _store() -> Any | None:
    """The Redis client the shared version lives in (full mode), or None (embedded
    mode: Django's cache, which is this process's memory there)."""
    if not settings.REDIS_URL:
        return None
    cache_settings: dict[str, Any] = settings.CACHES["default"]
    return _redis(settings.REDIS_URL, float(cache_settings.get("OPTIONS", {}).get("socket_timeout", 1.0)))


def _decoded(raw: Any) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else None


def _shared_version() -> str | None:
    store = _store()
    try:
        if store is not None:
            return _decoded(store.get(redis_key(VERSION_KEY)))
        version = cache.get(VERSION_KEY)
    except Exception as error:  # noqa: BLE001 - store down: the copies rely on their age limit
        dependency_failed(dependency="cache" if store is None else "redis", use="process copies", error=error)
        return None
    return version if isinstance(version, str) else None


def _shared_version_set(version: str) -> None:
    """Set the shared version (raises when the store does not answer)."""
    store = _store()
    if store is not None:
        store.set(redis_key(VERSION_KEY), version)
    else:
        cache.set(VERSION_KEY, version, timeout=None)


@contextlib.contextmanager
def copies_version_pinned() -> Iterator[None]:
    """A scope (one request) in which the shared version is read once, on first use."""
    token = _pinned.set({})
    try:
        yield
    finally:
        _pinned.reset(token)


def copies_version_wanted() -> str | None:
    """The Redis key of the shared version, when this request's scope has not
    read it yet and it lives in Redis: a caller about to ask the same Redis for
    something else reads this key along, in the same round trip, and hands the
    answer to :func:`copies_version_read`. None: nothing to read."""
    pinned = _pinned.get()
    if pinned is None or "version" in pinned or not settings.REDIS_URL:
        return None
    return redis_key(VERSION_KEY)


def copies_version_read(raw: bytes | None) -> None:
    """The shared version's raw value, read from the key :func:`copies_version_wanted`
    named: this request's copies compare with it instead of reading it again."""
    pinned = _pinned.get()
    if pinned is not None and "version" not in pinned:
        pinned["version"] = _decoded(raw)


def _version() -> str | None:
    pinned = _pinned.get()
    if pinned is None:
        return _shared_version()
    if "version" not in pinned:
        pinned["version"] = _shared_version()
    return pinned["version"]


class ProcessCopy(Generic[T]):
    """``load()``'s result, kept in this process until a watched model
    changes (any process) or ``max_age`` seconds pass."""

    def __init__(
        self,
        name: str,
        load: Callable[[], T],
        *,
        max_age: float = MAX_AGE_SECONDS,
        keep: Callable[[T], bool] | None = None,
    ) -> None:
        """``keep``: whether a value just loaded may be kept (one that may not is
        returned, and loaded again at the next use)."""
        self.name = name
        self._load = load
        self.max_age = max_age
        self._keep = keep
        self._loaded: _Loaded[T] | None = None
        _copies.add(self)

    def get(self) -> T:
        """The copy in force (reloaded when stale)."""
        version = _version()
        loaded = self._loaded
        if loaded is None or loaded.version != version or time.monotonic() - loaded.loaded_at >= self.max_age:
            loaded = _Loaded(version=version, loaded_at=time.monotonic(), value=self._load())
            if self._keep is not None and not self._keep(loaded.value):
                return loaded.value
            self._loaded = loaded
        return loaded.value

    def forget(self) -> None:
        self._loaded = None

    def __repr__(self) -> str:
        return f"<ProcessCopy {self.name}>"


def copies_forget() -> None:
    """Drop every copy of this process (the next use of each reloads it)."""
    for copy in _copies:
        copy.forget()


def copies_version_bump() -> None:
    """Reload every process's copies: forget this process's now, set a new shared
    version (on commit of a watched model's change, or called for a change the
    signals do not see). After commit; never raises."""
    copies_forget()
    try:
        _shared_version_set(secrets.token_hex(8))
    except Exception as error:  # noqa: BLE001 - after commit: never raise; the age limit catches up
        dependency_failed(dependency="cache", use="process copies", error=error)


def copies_changed(**_: Any) -> None:
    """A watched row changed (signal receiver): forget now, tell every process on commit."""
    copies_forget()
    transaction.on_commit(copies_version_bump, robust=True)


def copies_watch(*watched: type[models.Model]) -> None:
    """Reload the copies whenever a row of one of these models is saved or deleted."""
    for model in watched:
        label = model._meta.label
        post_save.connect(copies_changed, sender=model, dispatch_uid=f"copies-save-{label}")
        post_delete.connect(copies_changed, sender=model, dispatch_uid=f"copies-delete-{label}")
