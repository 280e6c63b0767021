"""Small database helpers shared by the apps: the unit of work (a service's
transaction that writes its queued rows in its last statement) and the writes
it queues (``rows_insert_later``, ``row_update_later``), ``row_update``. The
INSERT helpers live in ``casino.inserts``, the reads written out (``row_get``,
``rows_get``, ``row_exists``, ...) in ``casino.rows``; both are imported from
here too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from types import TracebackType
from typing import TypeVar

from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import QuerySet
from django.db.transaction import Atomic

from casino.inserts import (
    EncodedJSON,
    encoded_json,
    json_encode,
    json_safe,
    key_next_sql,
    row_insert_new,
    rows_insert,
    rows_insert_together,
    rows_insert_unless,
    update_statement,
)
from casino.rows import (
    RowLookup,
    column_name,
    row_columns,
    row_exists,
    row_from_values,
    row_get,
    row_lock_clause,
    rows_get,
    rows_get_together,
)

__all__ = [  # the INSERT helpers (casino.inserts) and the reads (casino.rows) are used from here, with the rest
    "EncodedJSON",
    "RowLookup",
    "UnitOfWork",
    "column_name",
    "constraint_of",
    "encoded_json",
    "insert_or_raise",
    "json_encode",
    "json_safe",
    "key_next_sql",
    "one_or_none",
    "row_columns",
    "row_exists",
    "row_from_values",
    "row_get",
    "row_insert_keyed",
    "row_insert_new",
    "row_lock_clause",
    "row_update",
    "row_update_later",
    "rows_get",
    "rows_get_together",
    "rows_insert",
    "rows_insert_later",
    "rows_insert_together",
    "rows_insert_unless",
    "service_transaction",
    "unit_of_work",
    "unit_of_work_flush",
]

M = TypeVar("M", bound=models.Model)


def constraint_of(error: IntegrityError) -> str | None:
    """The name of the constraint an ``IntegrityError`` broke, where the driver tells it
    (PostgreSQL's error fields, psycopg's ``diag``); None elsewhere."""
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def insert_or_raise(instance: models.Model) -> None:
    """INSERT ``instance``; a unique violation raises ``IntegrityError`` and
    leaves the caller able to go on: inside a transaction the INSERT runs in
    a savepoint, outside one it is a single autocommitted statement (one
    round trip instead of BEGIN, INSERT, COMMIT)."""
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            instance.save(force_insert=True)
    else:
        instance.save(force_insert=True)


def one_or_none(queryset: QuerySet[M]) -> M | None:
    """The row a lookup on a unique key finds, or None.

    Unlike ``.first()`` it adds no ``ORDER BY`` on the primary key, which
    Django compiles on every call (a third of the ORM's CPU for such a
    lookup, measured in bench) for a result of at most one row."""
    for row in queryset[:1]:
        return row
    return None


class UnitOfWork:
    """A transaction that writes some of its rows at the end, just before it
    commits: the outbox events a request emits (``realtime.emit``) are one
    INSERT, however many events it emits, and on PostgreSQL the records queued
    with them (:func:`rows_insert_later`: an order's steps, a fraud decision)
    are written in that same statement.

    ``defer_insert`` queues rows and ``defer_update`` updates of rows
    (:func:`row_update_later`); they are written by ``rows_insert_together``
    when the block is left normally (and never when it rolls back, with the rest).
    Rows are queued only from the unit's own level (see :func:`unit_of_work`):
    a row emitted inside a savepoint is written at once, as it may roll back
    alone -- after the queued ones, which keeps the emit order. ``flush``
    writes the queue early (the idempotency layer does, before it stores the
    response that reports those events)."""

    def __init__(self, *, using: str | None = None, durable: bool = False, request: bool = False) -> None:
        self.using = using
        self.block = transaction.atomic(using=using, durable=durable)
        self.block.request_transaction = request  # type: ignore[attr-defined]  # service_transaction joins it
        self.connection = transaction.get_connection(using)
        self.depth = 0
        self.outer: UnitOfWork | None = None
        self.pending: dict[tuple[type[models.Model], tuple[str, ...] | None], list[models.Model]] = {}
        self.updates: dict[int, tuple[models.Model, list[str]]] = {}  # id(obj) -> the row, its fields
        self.flushed: list[Callable[[], None]] = []  # run once the queued rows are written (``after_flush``)

    def __enter__(self) -> UnitOfWork:
        self.block.__enter__()
        self.depth = self._savepoints()
        self.outer = getattr(self.connection, "casino_unit_of_work", None)
        self.connection.casino_unit_of_work = self
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.flush()
        except BaseException as error:
            self._leave()
            self.block.__exit__(type(error), error, error.__traceback__)
            raise
        self._leave()
        self.block.__exit__(exc_type, exc, tb)

    def _leave(self) -> None:
        self.connection.casino_unit_of_work = self.outer
        self.pending.clear()
        self.updates.clear()
        self.flushed.clear()

    def at_own_level(self) -> bool:
        """No savepoint opened since the unit began (what is queued now rolls back only with the unit)."""
        return self._savepoints() == self.depth and not self.connection.needs_rollback

    def _savepoints(self) -> int:
        # An atomic block opened with savepoint=False inside this one counts as None: no savepoint.
        return sum(1 for sid in self.connection.savepoint_ids if sid is not None)

    def defer_insert(self, objs: Sequence[M], fields: Sequence[str] | None) -> None:
        if objs:
            key = (type(objs[0]), None if fields is None else tuple(fields))
            self.pending.setdefault(key, []).extend(objs)

    def defer_update(self, obj: models.Model, fields: Sequence[str]) -> None:
        for (_model, columns), objs in self.pending.items():
            if any(queued is obj for queued in objs):
                if columns is not None and not set(fields) <= set(columns):
                    raise ValueError(f"{obj!r} is queued for insert without {sorted(set(fields) - set(columns))}")
                return  # inserted at the end, with the values it holds then
        _, named = self.updates.setdefault(id(obj), (obj, []))
        named.extend(name for name in fields if name not in named)

    def after_flush(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in the transaction once the rows queued so far are written
        (their keys set): right after the next :meth:`flush`, in the order given."""
        self.flushed.append(callback)

    def flush(self) -> None:
        """Write the queued rows and updates now, one statement for all their
        tables where the database allows (:func:`rows_insert_together`); before
        a row that cannot wait, so ids keep their order. Then the ``after_flush``
        callbacks; what they queue is written by a flush of its own. Called inside
        a savepoint (a row written at once there flushes the queue first), the rows
        and what the callbacks do are the savepoint's: its rollback takes them all."""
        while self.pending or self.updates or self.flushed:
            pending, self.pending = self.pending, {}
            updates, self.updates = self.updates, {}
            flushed, self.flushed = self.flushed, []
            rows_insert_together(
                [(objs, fields) for (_model, fields), objs in pending.items()],
                [(obj, fields) for obj, fields in updates.values()],
            )
            for callback in flushed:
                callback()


def unit_of_work(using: str | None = None) -> UnitOfWork | None:
    """The unit of work rows may be queued in now: the innermost one, when no
    savepoint was opened inside it since; else None (write at once)."""
    unit: UnitOfWork | None = getattr(transaction.get_connection(using), "casino_unit_of_work", None)
    return unit if unit is not None and unit.at_own_level() else None


def unit_of_work_flush(using: str | None = None) -> None:
    """Write what the enclosing unit of work queued (before writing a row of the same kind at once)."""
    unit: UnitOfWork | None = getattr(transaction.get_connection(using), "casino_unit_of_work", None)
    if unit is not None and (unit.pending or unit.updates or unit.flushed):
        unit.flush()


def service_transaction(using: str | None = None) -> UnitOfWork | Atomic:
    """The transaction a service that changes state opens around its work.

    It is durable: a service is the outermost transaction, never silently
    nested in a caller's, so what it returns is committed -- and a
    :class:`UnitOfWork`, so the events it emits are one INSERT. The one
    exception is the request transaction of an idempotent endpoint
    (``casino.idempotency``), which exists so that the key, the service's
    effect and the stored response commit together: inside it this block joins
    that transaction (no savepoint: a refusal rolls the whole request back,
    which is what the idempotency layer wants)."""
    blocks = transaction.get_connection(using).atomic_blocks
    if (
        blocks
        and getattr(blocks[-1], "request_transaction", False)
        and all(getattr(block, "_from_testcase", False) for block in blocks[:-1])
    ):
        return transaction.atomic(using=using, savepoint=False)
    return UnitOfWork(using=using, durable=True)


def row_update(obj: models.Model, fields: Sequence[str]) -> int:
    """``UPDATE`` ``fields`` of ``obj``'s row (by primary key) from the
    instance, written out: ``obj.save(update_fields=fields)`` without the
    signals and the query compilation. Values go through each field's
    ``pre_save`` (``auto_now``) and ``get_db_prep_save``. The rows updated (0 or 1)."""
    connection = connections[router.db_for_write(type(obj))]
    sql, params = update_statement(connection, obj, fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def row_update_later(obj: models.Model, fields: Sequence[str]) -> None:
    """:func:`row_update` when the enclosing unit of work commits (in its last
    statement on PostgreSQL, with its queued rows and outbox events), or now
    where it cannot wait (as :func:`rows_insert_later`). For a row nothing in
    the transaction reads back after this (a counter or a state the caller
    holds locked and is done with): a later read would find the old values.
    The values are taken from ``obj`` when the row is written; a row queued
    for insert (``rows_insert_later``) is inserted with them instead, and a row
    queued twice is written once, with every field named."""
    _when_unit_commits(
        router.db_for_write(type(obj)),
        queue=lambda unit: unit.defer_update(obj, fields),
        now=lambda: row_update(obj, fields),
    )


def rows_insert_later(
    objs: Sequence[M], fields: Sequence[str] | None = None, *, then: Callable[[], None] | None = None
) -> None:
    """INSERT ``objs`` when the enclosing unit of work commits (queued with its
    outbox rows, written with them in one statement on PostgreSQL), or now
    where rows cannot wait (no unit of work, or inside a savepoint: the rows
    queued before are written first, so rows keep their order -- inside that
    savepoint, whose rollback takes them too). For rows
    nothing reads back in the transaction that writes them (records of what
    happened: an order's steps, a fraud decision); their keys are set when
    they are written. ``then``: called, in the transaction, once they are
    written and have their keys (a notification's pushed event carries its key)."""
    if not objs:
        return

    def queue(unit: UnitOfWork) -> None:
        unit.defer_insert(objs, fields)
        if then is not None:
            unit.after_flush(then)

    def now() -> None:
        rows_insert(objs, fields)
        if then is not None:
            then()

    _when_unit_commits(router.db_for_write(type(objs[0])), queue=queue, now=now)


def _when_unit_commits(alias: str, *, queue: Callable[[UnitOfWork], None], now: Callable[[], object]) -> None:
    """``queue`` the write on the unit of work of ``alias``; without one (or inside a
    savepoint, where rows cannot wait), write what it queued before, then ``now``."""
    unit = unit_of_work(alias)
    if unit is not None:
        queue(unit)
        return
    unit_of_work_flush(alias)
    now()


def row_insert_keyed(obj: models.Model) -> None:
    """INSERT a new row: when its key was drawn ahead (:func:`key_next_sql`, set on
    ``obj``), queued with the unit of work's rows (:func:`rows_insert_later`, every
    column and the key with them); without one (SQLite), at once (:func:`rows_insert`)."""
    if obj.pk is None:
        rows_insert([obj])
    else:
        rows_insert_later([obj], _columns_with_key(type(obj)))


@lru_cache(maxsize=64)
def _columns_with_key(model: type[models.Model]) -> tuple[str, ...]:
    return tuple(field.name for field in model._meta.concrete_fields)
