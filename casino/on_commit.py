"""After-commit calls that gather what a transaction hands them: one call for many items
(:func:`on_commit_collect`, each item once; :func:`on_commit_batched`, every item in order)
instead of a ``transaction.on_commit`` hook per item. Both keep ``on_commit``'s promise:
a rollback of the transaction, or of a savepoint, drops exactly the items passed inside it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from django.db import transaction


class _Collected:
    """The after-commit call :func:`on_commit_collect` registers once per transaction and key."""

    def __init__(self, key: str, run: Callable[[list[Any]], None]) -> None:
        self.key = key
        self.run = run
        self.items: dict[Hashable, None] = {}  # insertion-ordered set

    def __call__(self) -> None:
        self.run(list(self.items))


class _Batched:
    """The after-commit call :func:`on_commit_batched` registers, with the items joined to it."""

    def __init__(self, run: Callable[[list[Any]], None]) -> None:
        self.run = run
        self.items: list[Any] = []

    def __call__(self) -> None:
        self.run(self.items)


def on_commit_batched(
    key: str, items: Sequence[Any], run: Callable[[list[Any]], None], *, using: str | None = None
) -> None:
    """``transaction.on_commit(lambda: run(items))``, but joined with the items of the
    previous call for ``key`` when that call's hook is this key's last one and was
    registered at the same savepoint level: one ``run`` with all of them, in the order
    given, at the first one's place among the commit hooks. The pushes of a spin, emitted
    by half a dozen services, leave for the push thread at once instead of between the
    transaction's other hooks (which wait on Redis), so they travel together.

    Order is kept: items join only the key's last hook, so nothing passed later runs
    before something passed earlier. A rollback of the transaction, or of a savepoint,
    drops exactly the items passed inside it, as ``on_commit`` drops callbacks: items
    passed at another level than the last hook's get a hook of their own. Outside a
    transaction, ``run(items)`` now."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        run(list(items))
        return
    level = set(connection.savepoint_ids)
    pending = connection.run_on_commit
    lasts: dict[str, tuple[int, _Batched]] = connection.__dict__.setdefault("casino_batched", {})
    last = lasts.get(key)
    if last is not None:
        index, batch = last
        # Still registered where it was (a commit, a rollback or a savepoint's rollback rebuilds the list)?
        if index < len(pending) and pending[index][1] is batch and pending[index][0] == level:
            batch.items.extend(items)
            return
    batch = _Batched(run)
    batch.items.extend(items)
    transaction.on_commit(batch, using=using, robust=True)
    lasts[key] = (len(connection.run_on_commit) - 1, batch)


def on_commit_collect(key: str, item: Hashable, run: Callable[[list[Any]], None], *, using: str | None = None) -> None:
    """Call ``run(items)`` once after the current transaction commits, with every ``item``
    collected under ``key`` in it (each once, in the order first collected) -- instead of one
    ``transaction.on_commit`` per item: a spin that emits a dozen events for one player drops
    that player's cached dashboard with one Redis command, not a dozen. Outside a transaction,
    ``run([item])`` now.

    Items are collected per savepoint level, as ``on_commit`` keeps callbacks: an item joins
    the call registered at the same level of nested atomic blocks (the same savepoints), so a
    rollback of the transaction, or of a savepoint, drops exactly the items collected inside
    it; items collected at another level get a call of their own."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        run([item])
        return
    level = set(connection.savepoint_ids)
    pending = connection.run_on_commit
    # Where this key's call was registered last (a transaction that emits for thousands of players
    # must not scan its callbacks once per item); checked against the list, which a commit or a
    # rollback empties or rebuilds, and searched again when it moved.
    places: dict[str, int] = connection.__dict__.setdefault("casino_collected_at", {})
    place = places.get(key)
    candidates = [place] if place is not None and place < len(pending) else []
    for index in itertools.chain(candidates, range(len(pending))):
        savepoints, registered, _robust = pending[index]
        if (
            isinstance(registered, _Collected)
            and registered.key == key
            and registered.run == run  # a bound method is a new object at every access
            and savepoints == level
        ):
            registered.items[item] = None
            places[key] = index
            return
    collected = _Collected(key, run)
    collected.items[item] = None
    transaction.on_commit(collected, using=using, robust=True)
    places[key] = len(connection.run_on_commit) - 1
