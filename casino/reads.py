"""Reads shared within one piece of output built by several apps.

A WebSocket's ``initial_state`` has sections from several apps (the
profile, the balances, the streak twice under two names, the stats), and
each section reads what it needs on its own: the same wallet, streak and
totals, three or four times over, while a storm of connects waits for the
interpreter. Inside :func:`shared_reads` a read wrapped in :func:`shared` is
done once and its result handed to every section that asks for the same key;
outside one, :func:`shared` just reads. Results are shared, not copied: a
caller must not change what it gets.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_reads: ContextVar[dict[Hashable, Any] | None] = ContextVar("casino_shared_reads", default=None)


@contextlib.contextmanager
def shared_reads() -> Iterator[None]:
    """A scope whose :func:`shared` reads are done once each (per thread and task)."""
    token = _reads.set({})
    try:
        yield
    finally:
        _reads.reset(token)


def shared(key: Hashable, read: Callable[[], T]) -> T:
    """``read()``, or inside :func:`shared_reads` its result for ``key`` if read already."""
    reads = _reads.get()
    if reads is None:
        return read()
    if key not in reads:
        reads[key] = read()
    value: T = reads[key]
    return value


def shared_seed(key: Hashable, value: Any) -> None:
    """Inside :func:`shared_reads`: hand ``value`` to the next :func:`shared` read
    of ``key`` (read elsewhere, e.g. with other rows in one statement); outside
    one, nothing (that read reads for itself)."""
    reads = _reads.get()
    if reads is not None:
        reads[key] = value
