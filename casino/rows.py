"""Reads of rows written out instead of compiled by the ORM on every call: one row
(``row_get``), several (``rows_get``), several look-ups in one statement
(``rows_get_together``), whether a row exists (``row_exists``), and the pieces for SQL
written by hand (``row_columns`` with ``row_from_values``, ``column_name``,
``row_lock_clause``). Each statement is written once per shape; values come back
through the converters the ORM applies. Imported from ``casino.db`` with the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from django.db import connections, models, router

from casino.inserts import _concrete

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
