"""The users that access-token authentication serves without a database round trip.

Checking an access JWT's signature costs tens of microseconds; reading the
user's row (with the revoked-family subquery) through the ORM costs ten times
as much, on every API request and WebSocket connection. Yet a ban, a
"log out everywhere", a self-exclusion, a password change or a revoked token
family must take effect on the very next request, in every process. So each
process keeps the rows it read, and one Redis GET per request says whether a
kept row may still be used.

**The user's generation.** One Redis key per user, ``authgen:<id>`` (in the
deployment's namespace, ``casino.redis_keys``), holds a
random token. Every write that changes what authentication decides, or what a
view reads from ``request.user``, replaces it with a new random token once the
write commits (:func:`user_generations_bump`): every save of a user row, every
``QuerySet.update()`` of users (``accounts.models.UserQuerySet``), a user's
deletion, a change of their groups or direct permissions, and a revoked token
family of theirs. Only ``last_seen_at``, the activity mark
(``accounts.activity``, once a minute per player) bumps nothing: nothing
decides on it and no view shows it from ``request.user``. ``last_login`` does
bump (the profile shows it; a login is rare). The writing process also forgets
the user at once, so its own connection (the rest of the transaction, a test)
reads the change. A write around these paths (raw SQL, the base manager) would
go unseen for up to ``ENTRY_MAX_AGE_SECONDS``; a test scans the code for them.

**A request** (:meth:`AuthUserCache.load`): GET the generation (with the
process copies' shared version in the same round trip when the request has
not read it yet: ``casino.copies``, an MGET), then use the
kept row only if it was read at exactly that generation, less than
``ENTRY_MAX_AGE_SECONDS`` ago, and has seen the token's family. Otherwise read
the row (one query, the family's revocation in it as a subquery, as before)
and keep it with the generation read *before* the query: a write that commits
after the query bumps after it too, so the kept row is never taken for newer
than it is. Between a write's commit and its bump (the same thread, the next
statement) other processes may still serve the previous row; a request that
raced the write that closely could have read the row before it anyway.

**Rows shared between processes.** A process that reads a row from the
database also writes it to Redis, ``authrow:<id>``, tagged with the generation it
was read at, the time it was read and the families it has seen -- every field
but the password hash, which never leaves the database (the format:
``accounts.auth_shared_rows``). A process without the
user in its own cache (started a moment ago: the reconnect storm after a
deploy, a gunicorn worker just forked) GETs that copy and uses it under exactly
the rules of its own kept rows: the same generation as the request's GET, read
less than ``ENTRY_MAX_AGE_SECONDS`` ago, the token's family seen. So no process
serves a row the generations have moved past, and a fresh process
authenticates a recently seen player without a query. An instance built from
it loads the password hash from the database when something asks for it (a
password change: Django's deferred field). A process that changed a user reads
that user from the database, not from the shared copy, until it has read them
again (the copy predates its write until the write's bump).

**Token families.** A kept row records, for each family its tokens carried,
whether that family was revoked when the row was read. A revocation bumps the
user's generation, so what a kept row says about a family holds as long as the
row is used; a family it has not seen yet reads the row again.

**A missing key** (expired after ``GENERATION_TTL_SECONDS``, or Redis flushed
or restarted) means "unknown", never "unchanged": a fresh random token is set
(SET NX, then GET, in one MULTI) and the row is read again. Tokens are random,
not counters, so a key created again never equals a value a kept row saw.

**Redis down.** The GET fails: the row is read from the database (fail safe:
never a possibly stale user), the failure is counted and logged through
``casino.degraded`` (``use="auth_cache"``), the process forgets every kept
row, and for ``REDIS_RETRY_SECONDS`` it reads the database without asking
Redis (an unreachable host must not cost every request a socket timeout). A
bump that fails is remembered and sent again with the process's next call to
Redis (a request's GET or another bump); should the process end or go quiet
first, no row is used longer than ``ENTRY_MAX_AGE_SECONDS`` (the backstop).

**Each request gets its own instance**, built from the kept field values:
services change the user they are given (``user.is_active = ...``) and Django
caches permissions on it, so an instance shared between requests or threads
would carry one request's changes into another.

**Embedded mode** (no ``REDIS_URL``): nothing is kept, every request reads the
row as before. The generation would otherwise live in this process's memory,
and a second process (``manage.py shell``, a command) changing a user could
not bump it.

The cache is bounded (least recently used first out, ``CACHE_SIZE`` users,
about 1.5 KB each) and thread-safe: gunicorn's threads and daphne's thread
pool share one per process. ``auth_user_lookups_total{result}`` counts hits,
misses and bypasses (Redis down or not configured).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Exists
from django.db.models.signals import m2m_changed, post_delete, post_save
from prometheus_client import Counter

from accounts.auth_shared_rows import SHARED_FIELD_NAMES, shared_row_decode, shared_row_encode
from accounts.models import ACTIVITY_FIELDS, RevokedTokenFamily, User
from casino.copies import copies_version_read, copies_version_wanted
from casino.db import one_or_none
from casino.degraded import dependency_failed
from casino.redis_keys import redis_key

CACHE_SIZE = 10_000
ENTRY_MAX_AGE_SECONDS = 300.0
FAMILIES_PER_ENTRY = 16
GENERATION_TTL_SECONDS = 7 * 24 * 3600
REDIS_RETRY_SECONDS = 5.0
PENDING_BUMPS_MAX = 100_000
UNSHARED_MAX = 10_000

auth_user_lookups = Counter(
    "auth_user_lookups",
    "Users authenticated by access token: from this process's cache (hit), from the row another "
    "process shared in Redis (shared), read from the database (miss), or read from the database "
    "because Redis did not answer or is not configured (bypass).",
    ["result"],
)
_HIT = auth_user_lookups.labels(result="hit")
_MISS = auth_user_lookups.labels(result="miss")
_BYPASS = auth_user_lookups.labels(result="bypass")
_SHARED = auth_user_lookups.labels(result="shared")

_clock = time.monotonic
_wall_clock = time.time  # a shared row's reading time, compared across processes


def generation_key(user_id: int) -> str:
    return redis_key(f"authgen:{user_id}")


def shared_row_key(user_id: int) -> str:
    return redis_key(f"authrow:{user_id}")


def _new_generation() -> bytes:
    return secrets.token_hex(8).encode()


class RedisGenerations:
    """The users' generations in Redis, with this process's bumps that did not reach it."""

    def __init__(self, client: Any) -> None:
        self.client: Any = client  # redis-py types its sync and async clients as one union
        self._pending: set[int] = set()
        self._lock = threading.Lock()
        self._resting_until = 0.0

    @classmethod
    def from_url(cls, url: str, *, timeout: float) -> RedisGenerations:
        import redis

        return cls(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout))

    def resting(self) -> bool:
        """True for a while after Redis failed: read the database without asking."""
        return self._resting_until > _clock()

    def failed(self, error: BaseException) -> None:
        self._resting_until = _clock() + REDIS_RETRY_SECONDS
        dependency_failed(dependency="redis", use="auth_cache", error=error)

    def current(self, user_id: int) -> bytes | None:
        """The user's generation (``None``: unknown). Sends this process's
        pending bumps first, in the same round trip, and reads the shared
        version of the process copies along when the request has not read it
        yet (``casino.copies.copies_version_wanted``). Raises when Redis fails."""
        with self._lock:
            pending, self._pending = self._pending, set()
        copies_key = copies_version_wanted()
        if not pending:
            if copies_key is None:
                value: bytes | None = self.client.get(generation_key(user_id))
                return value
            value, version = self.client.mget([generation_key(user_id), copies_key])
            copies_version_read(version)
            return value
        try:
            pipe = self.client.pipeline(transaction=False)
            for pending_id in pending:
                pipe.set(generation_key(pending_id), _new_generation(), ex=GENERATION_TTL_SECONDS)
            pipe.get(generation_key(user_id))
            if copies_key is not None:
                pipe.get(copies_key)
            answers = pipe.execute()
        except BaseException:
            self._remember(pending)
            raise
        if copies_key is None:
            result: bytes | None = answers[-1]
            return result
        copies_version_read(answers[-1])
        found: bytes | None = answers[-2]
        return found

    def establish(self, user_id: int) -> bytes:
        """A generation for a user whose key is missing: a new random one, or
        the one another process or a bump set meanwhile."""
        pipe = self.client.pipeline(transaction=True)
        pipe.set(generation_key(user_id), _new_generation(), nx=True, ex=GENERATION_TTL_SECONDS)
        pipe.get(generation_key(user_id))
        value: bytes = pipe.execute()[1]
        return value

    def shared_row(self, user_id: int) -> bytes | None:
        """The row another process shared (``None``: none). Raises when Redis fails."""
        value: bytes | None = self.client.get(shared_row_key(user_id))
        return value

    def share_row(self, user_id: int, payload: bytes) -> None:
        """Share a row just read (it expires with the age a kept row may reach)."""
        self.client.set(shared_row_key(user_id), payload, ex=int(ENTRY_MAX_AGE_SECONDS))

    def bump(self, user_ids: Iterable[int]) -> None:
        """Give each user a new generation. Never raises: on failure the bumps
        wait for this process's next successful round trip."""
        with self._lock:
            ids, self._pending = set(user_ids) | self._pending, set()
        try:
            pipe = self.client.pipeline(transaction=False)
            for user_id in ids:
                pipe.set(generation_key(user_id), _new_generation(), ex=GENERATION_TTL_SECONDS)
            pipe.execute()
        except Exception as error:  # noqa: BLE001 - Redis down: retried later (module docstring)
            self._remember(ids)
            self.failed(error)

    def _remember(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._pending.update(ids)
            if len(self._pending) > PENDING_BUMPS_MAX:  # ENTRY_MAX_AGE_SECONDS covers the dropped ones
                self._pending = set(list(self._pending)[-PENDING_BUMPS_MAX:])

    def pending(self) -> set[int]:
        with self._lock:
            return set(self._pending)


@lru_cache(maxsize=4)
def _redis_generations(url: str, timeout: float) -> RedisGenerations:
    return RedisGenerations.from_url(url, timeout=timeout)


def generations_from_settings() -> RedisGenerations | None:
    """This process's store of generations; ``None`` in embedded mode (no Redis)."""
    if not settings.REDIS_URL:
        return None
    cache: dict[str, Any] = settings.CACHES["default"]
    return _redis_generations(settings.REDIS_URL, float(cache.get("OPTIONS", {}).get("socket_timeout", 1.0)))


@dataclass
class _Entry:
    generation: bytes
    db: str
    values: tuple[Any, ...]  # the row's concrete fields, in ``names`` order
    families: dict[Any, bool] = field(default_factory=dict)  # family -> revoked, at this generation
    loaded_at: float = 0.0
    names: tuple[str, ...] = ()  # the fields ``values`` holds: all (read here) or the shared ones


@dataclass(frozen=True)
class AuthenticatedUser:
    user: User
    family_revoked: bool  # the token's family (if it has one) was revoked


def _row_values(user: User) -> tuple[Any, ...]:
    return tuple(getattr(user, f.attname) for f in User._meta.concrete_fields)


def _load(user_id: int, family: Any) -> AuthenticatedUser | None:
    """The one query: the user's row and, for a token of a family, whether it was revoked."""
    users = User.objects.filter(pk=user_id)
    if family is not None:
        users = users.annotate(token_family_revoked=Exists(RevokedTokenFamily.objects.filter(family=family)))
    user = one_or_none(users)
    if user is None:
        return None
    return AuthenticatedUser(user=user, family_revoked=bool(getattr(user, "token_family_revoked", False)))


class AuthUserCache:
    """Users by id, each with the generation it was read at (module docstring).

    ``generations``: the Redis store to ask; by default the one the settings
    name (:func:`generations_from_settings`), looked up on every call.
    """

    def __init__(self, *, size: int = CACHE_SIZE, generations: RedisGenerations | None = None) -> None:
        self.size = size
        self._generations = generations
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        # Users this process changed whose generation has not moved yet (the write's transaction is
        # open, or was rolled back): read from the database only, and never shared (module docstring).
        self._unshared: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()

    def generations(self) -> RedisGenerations | None:
        return self._generations if self._generations is not None else generations_from_settings()

    def load(self, *, user_id: Any, family: Any = None) -> AuthenticatedUser | None:
        """The user a token names (``None``: no such user), and whether the
        token's family is revoked; see the module docstring."""
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        store = self.generations()
        generation = None
        known: dict[Any, bool] = {}  # the families a shared row saw at this generation (not the token's)
        if store is not None and not store.resting():
            try:
                generation = store.current(pk)
                if generation is None:
                    generation = store.establish(pk)  # a new token: no row, kept or shared, was read at it
                else:
                    kept = self._kept(pk, generation, family)
                    if kept is not None:
                        _HIT.inc()
                        return kept
                    if not self._changed_here(pk):
                        shared, known = self._shared(store, pk, generation, family)
                        if shared is not None:
                            _SHARED.inc()
                            return shared
            except Exception as error:  # noqa: BLE001 - Redis down: read the database (module docstring)
                store.failed(error)
                self.clear()
                generation = None
        found = _load(pk, family)
        if generation is None:
            _BYPASS.inc()
        else:
            _MISS.inc()
            if found is not None:
                entry = self._keep(pk, generation, found, family, known)
                if not self._changed_here(pk):  # never a row this process's open transaction changed
                    self._share(store, pk, entry)
        return found

    def _kept(self, user_id: int, generation: bytes, family: Any) -> AuthenticatedUser | None:
        with self._lock:
            entry = self._entries.get(user_id)
            if entry is None or entry.generation != generation:
                return None
            if _clock() - entry.loaded_at > ENTRY_MAX_AGE_SECONDS:
                return None
            if family is not None and family not in entry.families:
                return None
            self._entries.move_to_end(user_id)
            revoked = family is not None and entry.families[family]
            db, names, values = entry.db, entry.names, entry.values
        user = User.from_db(db, names, values)
        return AuthenticatedUser(user=user, family_revoked=revoked)

    def _keep(
        self, user_id: int, generation: bytes, found: AuthenticatedUser, family: Any, known: dict[Any, bool]
    ) -> _Entry:
        entry = _Entry(
            generation=generation,
            db=found.user._state.db or DEFAULT_DB_ALIAS,
            values=_row_values(found.user),
            loaded_at=_clock(),
            names=_field_names(),
        )
        with self._lock:
            previous = self._entries.get(user_id)
            entry.families.update(known)  # seen at this generation: no family was revoked since
            if previous is not None and previous.generation == generation:
                entry.families.update(previous.families)  # no family was revoked since: they still hold
            if family is not None:
                if len(entry.families) >= FAMILIES_PER_ENTRY:
                    entry.families.clear()
                entry.families[family] = found.family_revoked
            self._store(user_id, entry)
        return entry

    def _store(self, user_id: int, entry: _Entry) -> None:
        """Keep ``entry`` (the lock held)."""
        self._entries[user_id] = entry
        self._entries.move_to_end(user_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def _share(self, store: RedisGenerations | None, user_id: int, entry: _Entry) -> None:
        """Write the row just read to Redis for the other processes (module docstring)."""
        if store is None:
            return
        encoded = shared_row_encode(
            generation=entry.generation,
            read_at=_wall_clock() - (_clock() - entry.loaded_at),
            families=entry.families,
            names=entry.names,
            values=entry.values,
        )
        try:
            store.share_row(user_id, encoded)
        except Exception as error:  # noqa: BLE001 - Redis down: nothing shared, the next request bypasses
            store.failed(error)

    def _shared(
        self, store: RedisGenerations, user_id: int, generation: bytes, family: Any
    ) -> tuple[AuthenticatedUser | None, dict[Any, bool]]:
        """The row another process shared, if it holds under this process's own rules (the
        request's generation, its age, the token's family), kept here from then on; and the
        families it saw at this generation, for the row read instead when the token's is not
        among them."""
        raw = store.shared_row(user_id)
        row = None if raw is None else shared_row_decode(raw)
        if row is None or row.generation != generation:
            return None, {}
        age = _wall_clock() - row.read_at
        if not 0 <= age <= ENTRY_MAX_AGE_SECONDS:
            return None, {}
        if family is not None and family not in row.families:
            return None, row.families
        entry = _Entry(
            generation=generation,
            db=DEFAULT_DB_ALIAS,
            values=row.values,
            families=dict(row.families),
            loaded_at=_clock() - age,
            names=SHARED_FIELD_NAMES,
        )
        with self._lock:
            self._store(user_id, entry)
        user = User.from_db(DEFAULT_DB_ALIAS, SHARED_FIELD_NAMES, row.values)
        return AuthenticatedUser(user=user, family_revoked=family is not None and row.families[family]), row.families

    def _changed_here(self, user_id: int) -> bool:
        with self._lock:
            return user_id in self._unshared

    def forget(self, user_ids: Iterable[int]) -> None:
        """A write to these users, in a transaction not committed yet."""
        with self._lock:
            for user_id in user_ids:
                self._entries.pop(user_id, None)
                self._unshared[user_id] = None
                self._unshared.move_to_end(user_id)
            while len(self._unshared) > UNSHARED_MAX:  # the oldest: rolled back long ago, or long bumped
                self._unshared.popitem(last=False)

    def committed(self, user_ids: Iterable[int]) -> None:
        """The write committed and its bump went out (or waits for this process's next round trip,
        which sends it before any GET): other processes' rows of these users are outdated by now."""
        with self._lock:
            for user_id in user_ids:
                self._entries.pop(user_id, None)
                self._unshared.pop(user_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@lru_cache(maxsize=1)
def _field_names() -> tuple[str, ...]:
    return tuple(f.attname for f in User._meta.concrete_fields)


# The process's cache: access-token authentication (HTTP, WebSocket, the notification cookie).
auth_users = AuthUserCache()


# --- Bumps: every write that changes what authentication reads -------------------------------


def user_generations_bump(*, user_ids: Iterable[Any], using: str | None = None) -> None:
    """The users changed (or will, when the caller's transaction commits).

    This process forgets them at once, so a request on the writer's own
    connection (a test's, or the rest of this transaction) reads the change;
    their generations move on commit, so every other process reads the rows
    again, and not before the change is visible to it. Nothing on rollback."""
    ids = frozenset(int(user_id) for user_id in user_ids if user_id is not None)
    if not ids:
        return
    auth_users.forget(ids)
    transaction.on_commit(partial(_bump_committed, ids), using=using or DEFAULT_DB_ALIAS)


def _bump_committed(user_ids: frozenset[int]) -> None:
    auth_users.forget(user_ids)
    store = generations_from_settings()
    if store is not None:
        store.bump(user_ids)
    auth_users.committed(user_ids)


def _user_saved(sender: Any, instance: User, created: bool, update_fields: Any, using: str, **kwargs: Any) -> None:
    if created:
        return  # nobody can have kept a row that did not exist
    if update_fields is not None and set(update_fields) <= ACTIVITY_FIELDS:
        return
    user_generations_bump(user_ids=[instance.pk], using=using)


def _user_deleted(sender: Any, instance: User, using: str, **kwargs: Any) -> None:
    user_generations_bump(user_ids=[instance.pk], using=using)


def _family_changed(sender: Any, instance: RevokedTokenFamily, using: str, **kwargs: Any) -> None:
    user_generations_bump(user_ids=[instance.user_id], using=using)


def _privileges_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, using: str, **kwargs: Any
) -> None:
    """A user's groups or direct permissions. Kept rows do not hold
    permissions (each request's instance asks the database again), but a user
    whose privileges changed is read again all the same, so no later cache of
    permissions on the instance can outlive the change."""
    if not reverse:  # user.groups.add(...): the instance is the user
        if action in ("post_add", "post_remove", "post_clear"):
            user_generations_bump(user_ids=[instance.pk], using=using)
        return
    # group.user_set.add(...) / permission.user_set.remove(...): pk_set holds users
    if action in ("post_add", "post_remove"):
        user_generations_bump(user_ids=pk_set or (), using=using)
    elif action == "pre_clear":  # post_clear does not say whose
        members = sender.objects.filter(**{instance._meta.model_name: instance.pk}).values_list("user_id", flat=True)
        user_generations_bump(user_ids=list(members), using=using)


def connect_signals() -> None:
    """Called by ``AccountsConfig.ready``. ``QuerySet.update()`` sends no
    signal: ``accounts.models.UserQuerySet`` bumps for it."""
    post_save.connect(_user_saved, sender=User, dispatch_uid="auth_cache_user_saved")
    post_delete.connect(_user_deleted, sender=User, dispatch_uid="auth_cache_user_deleted")
    post_save.connect(_family_changed, sender=RevokedTokenFamily, dispatch_uid="auth_cache_family_saved")
    post_delete.connect(_family_changed, sender=RevokedTokenFamily, dispatch_uid="auth_cache_family_deleted")
    for through in (User.groups.through, User.user_permissions.through):
        m2m_changed.connect(_privileges_changed, sender=through, dispatch_uid=f"auth_cache_{through.__name__}")
