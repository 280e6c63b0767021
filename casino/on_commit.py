"""After-commit calls that gather what a transaction hands them: one call for many items
(:func:`on_commit_batched`, every item in order) instead of a ``transaction.on_commit``
hook per item, keeping ``on_commit``'s promise: a rollback of the transaction, or of a
savepoint, drops exactly the items passed inside it. ``casino.redis_writes`` sends a
transaction's Redis writes so, each writer's items once or every one in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import transaction


class _Batched:
    """The after-commit call :func:`on_commit_batched` registers, with the items joined to it."""

    def __init__(self, run: Callable[[list[Any]], None]) -> None:
        self.run = run
        self.items: list[Any] = []

    def __call__(self) -> None:
        self.run(self.items)


def _savepoints(ids: Iterable[str | None]) -> set[str]:
    """The savepoints of a level: a block opened with ``savepoint=False`` (a service joining the
    request's transaction) adds ``None`` to Django's list, which no rollback drops on its own."""
    return {sid for sid in ids if sid is not None}


def on_commit_batched(
    key: str, items: Sequence[Any], run: Callable[[list[Any]], None], *, using: str | None = None
) -> None:
    """``transaction.on_commit(lambda: run(items))``, but joined with the items of the
    previous call for ``key`` when that call's hook is this key's last one and was
    registered at the same savepoint level: one ``run`` with all of them, in the order
    given, at the first one's place among the commit hooks. A spin's Redis writes and
    pushes, handed over by half a dozen services, leave in one pipeline
    (``casino.redis_writes``).

    Order is kept: items join only the key's last hook, so nothing passed later runs
    before something passed earlier. A rollback of the transaction, or of a savepoint,
    drops exactly the items passed inside it, as ``on_commit`` drops callbacks: items
    passed at another level than the last hook's get a hook of their own. Outside a
    transaction, ``run(items)`` now."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        run(list(items))
        return
    level = _savepoints(connection.savepoint_ids)
    pending = connection.run_on_commit
    lasts: dict[str, tuple[int, _Batched]] = connection.__dict__.setdefault("casino_batched", {})
    last = lasts.get(key)
    if last is not None:
        index, batch = last
        # Still registered where it was (a commit, a rollback or a savepoint's rollback rebuilds the list)?
        if index < len(pending) and pending[index][1] is batch and _savepoints(pending[index][0]) == level:
            batch.items.extend(items)
            return
    batch = _Batched(run)
    batch.items.extend(items)
    transaction.on_commit(batch, using=using, robust=True)
    lasts[key] = (len(connection.run_on_commit) - 1, batch)
