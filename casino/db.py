"""Small database helpers shared by the apps: the unit of work (a service's
transaction that writes its queued rows in its last statement), reads written
out (``row_get``, ``rows_get``, ``row_exists``), ``row_update``. The INSERT
helpers live in ``casino.inserts`` and are imported from here too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import TracebackType
from typing import Any, TypeVar

from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import QuerySet
from django.db.transaction import Atomic

from casino.inserts import (
    EncodedJSON,
    _concrete,
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

__all__ = [  # the INSERT helpers (casino.inserts) are used from here, with the rest
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


def row_lock_clause(connection: Any, *, of: Sequence[str] = ()) -> str:
    """The clause that locks the rows a ``SELECT`` reads for a change of their
    columns (``of``: only these tables' rows, by name or alias), for SQL written
    out: `` FOR NO KEY UPDATE`` on PostgreSQL, the lock the ``UPDATE`` that
    follows takes anyway. It keeps every other writer and locker of the row
    waiting, but not another transaction's foreign-key check (``FOR KEY
    SHARE``): a transaction that holds another row (a player's wallet) and wrote
    a row referring to this one (a round, an order, a notification: checked at
    its commit) must not wait for this lock while its holder waits for that
    other row -- the two would wait for each other. `` FOR UPDATE`` where the
    database has row locks but not that one, nothing where it has none (SQLite
    serialises writers on its own)."""
    features = connection.features
    if not features.has_select_for_update:
        return ""
    target = f" OF {', '.join(of)}" if of and features.has_select_for_update_of else ""
    strength = "NO KEY UPDATE" if features.has_select_for_no_key_update else "UPDATE"
    return f" FOR {strength}{target}"


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


@dataclass(frozen=True)
class _Select:
    sql: str
    attnames: tuple[str, ...]  # the loaded fields, in the model's order (what ``from_db`` expects)
    converters: tuple[tuple[Callable[..., Any], ...], ...]  # per loaded field
    expressions: tuple[Any, ...]
    where: tuple[models.Field, ...]  # type: ignore[type-arg]


@lru_cache(maxsize=512)
def _select(
    model: type[models.Model],
    alias: str,
    fields: tuple[str, ...] | None,
    where: tuple[str, ...],
    lock: bool,
    between: tuple[str, ...] = (),
    order_by: tuple[str, ...] = (),
    among: tuple[tuple[str, int], ...] = (),
) -> _Select:
    """One ``SELECT`` shape: equality on ``where``, inclusive ranges on ``between``,
    membership in ``among`` (each a field and how many values its ``IN`` lists)
    -- a row at most, unless there are ranges or lists; the first in
    ``order_by``'s order, ``-name`` descending, when there is one."""
    meta = model._meta
    connection = connections[alias]
    quote = connection.ops.quote_name
    if fields is None:
        loaded = list(meta.concrete_fields)
    else:
        wanted = {_concrete(meta.get_field(name)).attname for name in fields} | {meta.pk.attname}
        loaded = [field for field in meta.concrete_fields if field.attname in wanted]
    expressions = [field.get_col(meta.db_table) for field in loaded]
    converters = [
        tuple(connection.ops.get_db_converters(expression) + expression.get_db_converters(connection))
        for expression in expressions
    ]
    conditions = [_concrete(meta.pk if name == "pk" else meta.get_field(name)) for name in where]
    ranged = [_concrete(meta.get_field(name)) for name in between]
    listed = [(_concrete(meta.pk if name == "pk" else meta.get_field(name)), count) for name, count in among]
    tests = [f"{quote(field.column)} = %s" for field in conditions]
    tests += [f"{quote(field.column)} >= %s AND {quote(field.column)} <= %s" for field in ranged]
    tests += [f"{quote(field.column)} IN ({', '.join(['%s'] * count)})" for field, count in listed]
    suffix = row_lock_clause(connection) if lock else ""
    order = ", ".join(
        f"{quote(_concrete(meta.pk if name.lstrip('-') == 'pk' else meta.get_field(name.lstrip('-'))).column)}"
        f"{' DESC' if name.startswith('-') else ''}"
        for name in order_by
    )
    sql = (
        f"SELECT {', '.join(quote(field.column) for field in loaded)} FROM {quote(meta.db_table)}"  # noqa: S608
        f" WHERE {' AND '.join(tests)}{f' ORDER BY {order}' if order else ''}"
        f"{'' if ranged or listed else ' LIMIT 1'}{suffix}"
    )
    return _Select(
        sql=sql,
        attnames=tuple(field.attname for field in loaded),
        converters=tuple(converters),
        expressions=tuple(expressions),
        where=tuple(
            conditions
            + [field for field in ranged for _ in (0, 1)]
            + [field for field, count in listed for _ in range(count)]
        ),
    )


def row_get(
    model: type[M],
    *,
    fields: Sequence[str] | None = None,
    lock: bool = False,
    order_by: Sequence[str] = (),
    **equals: object,
) -> M | None:
    """The row of ``model`` with these field values (a unique key), as an
    instance, or None: ``Model.objects.filter(**equals).first()`` with its
    ``SELECT ... LIMIT 1`` written out once per shape instead of compiled on
    every call (most of the ORM's cost for a one-row lookup, measured in
    bench). Values come back through the same converters the ORM applies (the
    backend's and each field's: JSON, dates and times on SQLite, ...).
    ``fields``: load only these and the primary key (the others load on first
    access, as with ``.only()``). ``lock``: lock it for a change
    (:func:`row_lock_clause`). ``order_by``: when several rows match, the first in this
    order (field names, ``-name`` descending: ``.order_by(...).first()``).
    Equality on concrete fields only (``pk``; a foreign key by its name or its
    ``_id``, with the related row's key)."""
    alias = router.db_for_read(model)
    select = _select(model, alias, None if fields is None else tuple(fields), tuple(equals), lock, (), tuple(order_by))
    connection = connections[alias]
    params = [
        field.get_db_prep_value(value, connection) for field, value in zip(select.where, equals.values(), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(select.sql, params)
        row = cursor.fetchone()
    return None if row is None else _instance(model, alias, select, row)


@dataclass(frozen=True)
class RowLookup:
    """One row for :func:`rows_get_together`: as ``row_get(model, fields=, order_by=, **equals)``."""

    model: type[models.Model]
    equals: dict[str, object]
    fields: tuple[str, ...] | None = None
    order_by: tuple[str, ...] = ()

    def get(self) -> models.Model | None:
        """The row on its own: :func:`row_get`."""
        equals: dict[str, Any] = dict(self.equals)
        return row_get(self.model, fields=self.fields, order_by=self.order_by, **equals)


def rows_get_together(
    lookups: Sequence[RowLookup], scalars: Sequence[tuple[str, Sequence[Any]]] = ()
) -> tuple[list[models.Model | None], list[Any]]:
    """Several :func:`row_get` look-ups, and ``scalars`` (each a ``SELECT`` of one
    value with its parameters: a count, a sum), in one statement: the rows (an
    instance or None each, in order, converted as ``row_get`` converts them)
    and the scalar values. Each look-up is a derived table joined to a single
    row, so a missing row is a row of NULLs; works on PostgreSQL and SQLite."""
    alias = router.db_for_read(lookups[0].model)
    connection = connections[alias]
    selects = [
        _select(lookup.model, alias, lookup.fields, tuple(lookup.equals), False, (), lookup.order_by)
        for lookup in lookups
    ]
    columns = [f"r{index}.*" for index in range(len(selects))]
    columns += [f"({sql}) AS s{index}" for index, (sql, _params) in enumerate(scalars)]
    joins = " ".join(f"LEFT JOIN ({select.sql}) AS r{index} ON 1 = 1" for index, select in enumerate(selects))
    params: list[Any] = [param for _sql, scalar_params in scalars for param in scalar_params]
    for lookup, select in zip(lookups, selects, strict=True):
        pairs = zip(select.where, lookup.equals.values(), strict=True)
        params += [field.get_db_prep_value(value, connection) for field, value in pairs]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM (SELECT 1) AS one {joins}", params)  # noqa: S608
        row = cursor.fetchone()
    found: list[models.Model | None] = []
    start = 0
    for lookup, select in zip(lookups, selects, strict=True):
        values = row[start : start + len(select.attnames)]
        start += len(select.attnames)
        pk = select.attnames.index(lookup.model._meta.pk.attname)
        found.append(None if values[pk] is None else _instance(lookup.model, alias, select, values))
    return found, list(row[start:])


def _instance(model: type[M], alias: str, select: _Select, row: Sequence[Any]) -> M:
    connection = connections[alias]
    values = list(row)
    for index, converters in enumerate(select.converters):
        for converter in converters:
            values[index] = converter(values[index], select.expressions[index], connection)
    return model.from_db(alias, select.attnames, values)


def row_columns(model: type[models.Model], *, table: str) -> str:
    """Every concrete column of ``model`` qualified by the alias ``table``, in the
    model's order: the select list, for SQL written out with a join, whose values
    :func:`row_from_values` makes an instance of."""
    quote = connections[router.db_for_read(model)].ops.quote_name
    return ", ".join(f"{table}.{quote(field.column)}" for field in model._meta.concrete_fields)


def row_from_values(model: type[M], values: Sequence[Any]) -> M:
    """An instance of ``model`` from the values of its :func:`row_columns`,
    converted as :func:`row_get` converts them."""
    alias = router.db_for_read(model)
    return _instance(model, alias, _select(model, alias, None, ("pk",), False), values)


def rows_get(
    model: type[M],
    *,
    between: dict[str, tuple[object, object]] | None = None,
    among: dict[str, Sequence[object]] | None = None,
    fields: Sequence[str] | None = None,
    **equals: object,
) -> list[M]:
    """The rows of ``model`` with these field values, each field of ``between``
    within its inclusive ``(low, high)`` and each field of ``among`` equal to one
    of its values, in no particular order: :func:`row_get` for several rows
    (``filter(user=.., date__gte=.., date__lte=..)``, ``filter(template_id__in=..)``),
    written out once per shape (and per length of each list), through the ORM's
    converters. An empty list matches nothing (no statement)."""
    between = between or {}
    among = {name: list(dict.fromkeys(values)) for name, values in (among or {}).items()}
    if any(not values for values in among.values()):
        return []
    alias = router.db_for_read(model)
    select = _select(
        model,
        alias,
        None if fields is None else tuple(fields),
        tuple(equals),
        False,
        tuple(between),
        (),
        tuple((name, len(values)) for name, values in among.items()),
    )
    connection = connections[alias]
    values = [
        *equals.values(),
        *(bound for bounds in between.values() for bound in bounds),
        *(value for listed in among.values() for value in listed),
    ]
    params = [field.get_db_prep_value(value, connection) for field, value in zip(select.where, values, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(select.sql, params)
        found = cursor.fetchall()
    return [_instance(model, alias, select, row) for row in found]


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


def row_exists(model: type[models.Model], *, lock: bool = False, **equals: object) -> bool:
    """Whether a row of ``model`` has these field values (``SELECT 1 ... LIMIT 1``
    written out: the cheap first look before loading a row that is rarely
    there). ``lock``: and lock it for a change (:func:`row_lock_clause`)."""
    meta = model._meta
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    fields = [_concrete(meta.get_field(name)) for name in equals]
    where = " AND ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_value(equals[field.name], connection) for field in fields]
    suffix = row_lock_clause(connection) if lock else ""
    sql = f"SELECT 1 FROM {quote(meta.db_table)} WHERE {where} LIMIT 1{suffix}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


@lru_cache(maxsize=4096)
def column_name(model: type[models.Model], name: str) -> str:
    """The quoted column of ``model``'s field ``name``, for SQL written out by hand.
    Worked out once per process (the hot paths build their statements with it on
    every call): a model's columns and the database its writes go to do not
    change while the process runs."""
    return str(connections[router.db_for_write(model)].ops.quote_name(_concrete(model._meta.get_field(name)).column))
