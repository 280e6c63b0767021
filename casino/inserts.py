"""Rows written out: INSERT statements built once per shape and filled without
the ORM's compile (``rows_insert`` and its variants), their parameters converted
as the ORM's own INSERT converts them, and keys drawn ahead of an INSERT.
``casino.db`` builds the unit of work and the reads on these; import them from
there."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router
from django.db.models.fields import AutoFieldMixin

M = TypeVar("M", bound=models.Model)


_NOT_PLAIN = object()


class EncodedJSON(dict):  # type: ignore[type-arg]
    """A JSON object that carries the text it was decoded from (``text``): as a
    ``JSONField`` value of a row written here, PostgreSQL is sent that text instead
    of the object encoded again. For values made by decoding JSON text that is at
    hand anyway (``encoded_json``: an event's data is made JSON-safe so): an
    outbox row's data is otherwise encoded twice."""

    __slots__ = ("text",)

    text: str


def encoded_json(text: str) -> EncodedJSON:
    """The object of the JSON text ``text`` (an object), carrying ``text`` (:class:`EncodedJSON`)."""
    value = EncodedJSON(orjson.loads(text))
    value.text = text
    return value


_DJANGO_JSON = DjangoJSONEncoder()
# Dates and times go to ``default`` (Django's format: milliseconds, "Z" for UTC), as do decimals and lazy strings.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
# The json module's own reach: no dates, times or dataclasses (no default given, orjson refuses them as it does).
_ORJSON_PLAIN_OPTIONS = _ORJSON_OPTIONS | orjson.OPT_PASSTHROUGH_DATACLASS


def json_safe(data: dict[str, Any]) -> EncodedJSON:
    """``data`` as Django's JSON encoder (``DjangoJSONEncoder``) writes it, read back: dates,
    times, decimals, UUIDs and lazy strings become the strings that encoder makes. The
    result carries its JSON text (:class:`EncodedJSON`). Encoded by orjson, with Django's
    encoder for the types orjson leaves to it: a quarter of the CPU of ``json.dumps`` with
    that encoder for an event's data, decoding included (bench/README.md, "Nineteenth
    round"). What orjson refuses (an integer beyond 64 bits) takes ``json.dumps``."""
    return encoded_json(json_encode(data).decode())


def json_encode(value: Any) -> bytes:
    """``value`` in JSON as Django's encoder writes it (:func:`json_safe`), compact and in
    UTF-8 (text beyond ASCII as it is, not escaped), encoded by orjson; what orjson refuses
    takes ``json.dumps`` with Django's encoder."""
    try:
        return orjson.dumps(value, default=_DJANGO_JSON.default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False).encode()


def _encoded_text(value: EncodedJSON) -> str:
    return value.text


def _json_text(value: dict[str, Any] | list[Any]) -> str:
    """``json.dumps(value)``, what Django's ``JSONField`` (no encoder) hands psycopg, by orjson:
    the same JSON for what ``json.dumps`` takes (non-string keys written as it writes them).
    Dates, times and dataclasses go to ``json.dumps`` and are refused as before, as is what
    orjson refuses too; a UUID or an enum, which ``json.dumps`` refuses, orjson writes."""
    try:
        return orjson.dumps(value, option=_ORJSON_PLAIN_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def _plain_text(value: Any) -> Any:
    # CharField.to_python keeps any str as it is (a TextChoices member too).
    return value if value is None or isinstance(value, str) else _NOT_PLAIN


def _plain_boolean(value: Any) -> Any:
    return value if value is None or type(value) is bool else _NOT_PLAIN


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_aware_datetime(value: Any) -> bool:
    return type(value) is datetime and value.tzinfo is not None


def _converts_as(cls: type, get_prep_value: Any, get_db_prep_value: Any) -> bool:
    """Whether the field class converts with exactly these two methods."""
    return cls.get_prep_value is get_prep_value and cls.get_db_prep_value is get_db_prep_value  # type: ignore[attr-defined]


def _adapting(is_plain: Callable[[Any], bool], adapt: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A plain converter: ``None`` as it is, a plain value adapted the backend's way, else ``_NOT_PLAIN``."""

    def plain(value: Any) -> Any:
        if value is None:
            return None
        return adapt(value) if is_plain(value) else _NOT_PLAIN

    return plain


def _plain_converter(field: models.Field, connection: Any) -> Callable[[Any], Any] | None:  # type: ignore[type-arg]
    """For a column written from an instance: a function that gives the driver's
    value for an attribute of a plain type (``str``, ``int``, ``bool``, an aware
    ``datetime``, ``None``), the same value the field's ``pre_save`` and
    ``get_db_prep_save`` would give, without their chain of calls -- or
    ``_NOT_PLAIN`` for any other value, which then takes that chain. ``None``
    for a field whose conversion is not one of the plain ones (JSON, UUIDs,
    decimals, ``auto_now``, a field class of its own): that chain every time.

    Picked by the methods the field's class really has, so a subclass that
    changes any of them keeps the ORM's path."""
    cls = type(field)
    if (
        isinstance(field, models.JSONField)
        and cls is models.JSONField
        and field.encoder is None
        and connection.vendor == "postgresql"
    ):
        from psycopg.types.json import Jsonb  # the driver of the postgresql backend, psycopg 3

        # What get_db_prep_save gives (psycopg's Jsonb): with the text at hand for an EncodedJSON,
        # encoded by orjson for a plain dict or list (anything else takes the field's own path).
        def plain_json(value: Any) -> Any:
            kind = type(value)
            if kind is EncodedJSON:
                return Jsonb(value, dumps=_encoded_text)
            if kind is dict or kind is list:
                return Jsonb(value, dumps=_json_text)
            return _NOT_PLAIN

        return plain_json
    if isinstance(field, models.ForeignKey):
        if cls.get_db_prep_save is not models.ForeignKey.get_db_prep_save or cls.pre_save is not models.Field.pre_save:
            return None
        return _plain_converter(field.target_field, connection)  # None stays None, as ForeignKey's own check does
    if cls.get_db_prep_save is not models.Field.get_db_prep_save:
        return None
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        if field.auto_now or field.auto_now_add or cls.pre_save is not models.DateTimeField.pre_save:
            return None
        if not _converts_as(cls, models.DateTimeField.get_prep_value, models.DateTimeField.get_db_prep_value):
            return None
        return _adapting(
            lambda value: type(value) is datetime and value.tzinfo is not None, ops.adapt_datetimefield_value
        )
    if cls.pre_save is not models.Field.pre_save:
        return None
    if isinstance(field, AutoFieldMixin):  # reached as a foreign key's target: the related row's key
        if not _converts_as(cls, models.IntegerField.get_prep_value, AutoFieldMixin.get_db_prep_value):
            return None
        return _adapting(_is_int, ops.validate_autopk_value)
    if isinstance(field, models.IntegerField):
        if not _converts_as(cls, models.IntegerField.get_prep_value, models.IntegerField.get_db_prep_value):
            return None
        internal_type = field.get_internal_type()
        return _adapting(_is_int, lambda value: ops.adapt_integerfield_value(value, internal_type))
    if cls.get_db_prep_value is not models.Field.get_db_prep_value:
        return None
    if cls.get_prep_value in (models.CharField.get_prep_value, models.TextField.get_prep_value):
        return _plain_text
    if cls.get_prep_value is models.BooleanField.get_prep_value:
        return _plain_boolean
    return None


@dataclass(frozen=True)
class _Insert:
    table: str  # quoted
    columns: str  # quoted, comma-separated
    row: str  # "(%s, ...)"
    pk: str  # the quoted primary key column
    fields: tuple[models.Field, ...]  # type: ignore[type-arg]  # the columns' fields, in order
    # Each column's field, attribute name and plain converter (``_plain_converter``), in order.
    plan: tuple[tuple[models.Field, str, Callable[[Any], Any] | None], ...]  # type: ignore[type-arg]

    def params(self, objs: Sequence[models.Model], connection: Any) -> list[Any]:
        """The INSERT's parameters for ``objs``, as the ORM's own INSERT converts them."""
        params: list[Any] = []
        append = params.append
        for obj in objs:
            for field, attname, plain in self.plan:
                if plain is not None:
                    value = plain(getattr(obj, attname))
                    if value is not _NOT_PLAIN:
                        append(value)
                        continue
                append(field.get_db_prep_save(field.pre_save(obj, True), connection))
        return params


@lru_cache(maxsize=256)
def _insert(model: type[models.Model], alias: str, fields: tuple[str, ...] | None) -> _Insert:
    """One ``INSERT`` shape: the columns written (by default every concrete field
    but an auto-increment key), built once instead of on every call."""
    meta = model._meta
    quote = connections[alias].ops.quote_name
    if fields is None:
        concrete = [field for field in meta.concrete_fields if not isinstance(field, models.AutoField)]
    else:
        concrete = [_concrete(meta.get_field(name)) for name in fields]
    connection = connections[alias]
    return _Insert(
        table=quote(meta.db_table),
        columns=", ".join(quote(field.column) for field in concrete),
        row="(" + ", ".join(["%s"] * len(concrete)) + ")",
        pk=quote(_concrete(meta.pk).column),
        fields=tuple(concrete),
        plan=tuple((field, field.attname, _plain_converter(field, connection)) for field in concrete),
    )


@lru_cache(maxsize=256)
def _typed_row(model: type[models.Model], alias: str, fields: tuple[str, ...] | None) -> str:
    """PostgreSQL: the ``_insert`` shape's row with each column's type named. A VALUES list
    types its columns from its values: one all NULL would be text, which no integer or
    time column takes, so the first row of a VALUES list names them (built once: a
    field's ``db_type`` costs as much as the rest of the statement)."""
    connection = connections[alias]
    shape = _insert(model, alias, fields)
    return "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in shape.fields) + ")"


def _insert_statement(
    connection: Any, model: type[models.Model], fields: Sequence[str] | None, objs: Sequence[models.Model]
) -> tuple[str, list[Any]]:
    shape = _insert(model, connection.alias, None if fields is None else tuple(fields))
    params = shape.params(objs, connection)
    values = ", ".join([shape.row] * len(objs))
    sql = f"INSERT INTO {shape.table} ({shape.columns}) VALUES {values} RETURNING {shape.pk}"  # noqa: S608
    return sql, params


def _set_inserted(objs: Sequence[models.Model], ids: Sequence[Any], alias: str) -> None:
    # One statement hands out its ids in VALUES order: sorted, they match the objects.
    for obj, pk in zip(objs, sorted(ids), strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


def rows_insert(objs: Sequence[M], fields: Sequence[str] | None = None) -> None:
    """INSERT ``objs`` (instances of one model) in one statement written out
    here, and set their primary keys from ``RETURNING``: what ``bulk_create``
    does, without compiling a query on every call (the hot paths' rows: ledger
    entries, outbox events, orders). ``fields`` are the columns written, by
    field name (every other column takes its database default, so name every
    field the model sets in Python); by default every concrete field but an
    auto-increment key. Values go through each field's ``pre_save`` (``auto_now``)
    and ``get_db_prep_save``, as the ORM's own INSERT does (JSON, UUIDs and
    datetimes on every backend). No signals are sent (as with ``bulk_create``)."""
    if not objs:
        return
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    sql, params = _insert_statement(connection, model, fields, objs)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [found[0] for found in cursor.fetchall()]
    _set_inserted(objs, ids, connection.alias)


def rows_insert_unless(
    objs: Sequence[M],
    fields: Sequence[str] | None,
    *,
    exists: str,
    params: Sequence[Any],
    then: tuple[str, Sequence[Any]] | None = None,
) -> bool:
    """:func:`rows_insert` in one statement guarded by a test: every row, or
    none when the query ``exists`` (a ``SELECT``, with ``params``) finds a row.
    Whether they were inserted (their keys are set then). The test is evaluated
    in the INSERT's own snapshot: after a row lock the caller holds, it sees
    what committed before the lock was granted, as a look of its own would --
    one statement instead of a look and an INSERT.

    ``then``: an ``UPDATE`` (its SQL, ending with its ``WHERE`` clause, and its
    parameters) made only when the rows were inserted -- on PostgreSQL in the same statement (a
    data-modifying ``WITH``, which sees the snapshot the INSERT sees: for a row
    the caller holds locked, the values it read), elsewhere as a statement of its
    own right after. A ledger posting's balances: one round trip instead of two."""
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    named = None if fields is None else tuple(fields)
    shape = _insert(model, connection.alias, named)
    first = _typed_row(model, connection.alias, named) if connection.vendor == "postgresql" else shape.row
    rows = ", ".join([first, *[shape.row] * (len(objs) - 1)])
    sql = (
        f"INSERT INTO {shape.table} ({shape.columns}) SELECT * FROM (VALUES {rows}) AS new_rows"  # noqa: S608
        f" WHERE NOT EXISTS ({exists}) RETURNING {shape.pk}"
    )
    statement_params = [*shape.params(objs, connection), *params]
    together = then is not None and connection.vendor == "postgresql"
    if together:
        assert then is not None  # for the type checker: together implies it
        update_sql, update_params = then
        # The UPDATE runs only when the INSERT returned rows: it reads the INSERT's output.
        sql = (
            f"WITH inserted AS ({sql}), updated AS ({update_sql} AND EXISTS (SELECT 1 FROM inserted))"  # noqa: S608
            f" SELECT {shape.pk} FROM inserted"
        )
        statement_params.extend(update_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, statement_params)
        ids = [found[0] for found in cursor.fetchall()]
        if ids and then is not None and not together:
            cursor.execute(then[0], then[1])
    if not ids:
        return False
    _set_inserted(objs, ids, connection.alias)
    return True


def update_statement(connection: Any, obj: models.Model, fields: Sequence[str]) -> tuple[str, list[Any]]:
    """``UPDATE`` of ``fields`` of ``obj``'s row (by primary key) from the instance:
    each value through its field's ``pre_save`` (``auto_now``) and ``get_db_prep_save``."""
    meta = obj._meta
    quote = connection.ops.quote_name
    concrete = [_concrete(meta.get_field(name)) for name in fields]
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in concrete)
    params = [field.get_db_prep_save(field.pre_save(obj, False), connection) for field in concrete]
    pk = _concrete(meta.pk)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(pk.column)} = %s"  # noqa: S608
    return sql, [*params, pk.get_db_prep_value(obj.pk, connection)]


def rows_insert_together(
    batches: Sequence[tuple[Sequence[models.Model], Sequence[str] | None]],
    updates: Sequence[tuple[models.Model, Sequence[str]]] = (),
) -> None:
    """:func:`rows_insert` for several batches (each ``(objs, fields)``, one
    model a batch), and ``updates`` of rows (each ``(obj, fields)``, by primary
    key), in one statement where the database can: on PostgreSQL each batch's
    ``INSERT`` and each ``UPDATE`` is a data-modifying ``WITH`` of one statement,
    which returns every batch's keys -- one round trip instead of one per
    table. They are independent: written at once, in no set order, none sees
    another's rows (a key may still name a row of another batch: foreign keys
    are checked at commit), and no update may be of a row inserted here.
    Elsewhere, one ``rows_insert`` a batch, then one ``UPDATE`` a row."""
    batches = [(objs, fields) for objs, fields in batches if objs]
    if not batches and not updates:
        return
    first = batches[0][0][0] if batches else updates[0][0]
    connection = connections[router.db_for_write(type(first))]
    counted = all(isinstance(type(objs[0])._meta.pk, models.AutoField) for objs, _ in batches)  # keys: bigint
    if len(batches) + len(updates) == 1 or connection.vendor != "postgresql" or not counted:
        for objs, fields in batches:
            rows_insert(objs, fields)
        for obj, fields in updates:
            update_sql, update_params = update_statement(connection, obj, fields)
            with connection.cursor() as cursor:
                cursor.execute(update_sql, update_params)
        return
    parts: list[str] = []
    selects: list[str] = []
    params: list[Any] = []
    for index, (objs, fields) in enumerate(batches):
        model = type(objs[0])
        sql, batch_params = _insert_statement(connection, model, fields, objs)
        parts.append(f"i{index} AS ({sql})")
        selects.append(f"SELECT {index}, {_insert(model, connection.alias, None).pk}::bigint FROM i{index}")  # noqa: S608
        params.extend(batch_params)
    for index, (obj, fields) in enumerate(updates):
        sql, update_params = update_statement(connection, obj, fields)
        parts.append(f"u{index} AS ({sql})")
        params.extend(update_params)
    if not selects:
        selects.append("SELECT 0, 0::bigint WHERE false")  # the updates alone: nothing to return
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {' UNION ALL '.join(selects)}", params)
        found = cursor.fetchall()
    for index, (objs, _fields) in enumerate(batches):
        _set_inserted(objs, [pk for batch, pk in found if batch == index], connection.alias)


def row_insert_new(obj: models.Model, fields: Sequence[str] | None = None) -> bool:
    """INSERT ``obj`` unless a row with the same unique key is there already
    (``ON CONFLICT DO NOTHING``: no savepoint, no error); whether it was
    inserted -- the row then belongs to this transaction, locked until it
    ends. ``fields`` as :func:`rows_insert`. Sets the primary key of an
    inserted row."""
    model = type(obj)
    connection = connections[router.db_for_write(model)]
    sql, params = _insert_statement(connection, model, fields, [obj])
    with connection.cursor() as cursor:
        cursor.execute(sql.replace(" RETURNING ", " ON CONFLICT DO NOTHING RETURNING ", 1), params)
        found = cursor.fetchone()
    if found is None:
        return False
    obj.pk = found[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


@lru_cache(maxsize=64)
def _key_sequence(model: type[models.Model], alias: str) -> str | None:
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        column = _concrete(model._meta.pk).column
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, column])
        found = cursor.fetchone()
    return str(found[0]) if found and found[0] else None


def key_next_sql(model: type[models.Model]) -> str | None:
    """An SQL expression that draws ``model``'s next auto-increment key from its
    sequence (``nextval``), for a statement the caller sends anyway; ``None``
    where keys are not drawn apart from their INSERT (SQLite). With its key known
    in advance a new row can be queued (:func:`rows_insert_later`, naming the key
    among its ``fields``) and rows referring to it built at once: the foreign
    keys are checked at commit. A key drawn and not used is a gap, nothing more."""
    sequence = _key_sequence(model, router.db_for_write(model))
    if sequence is None:
        return None
    return "nextval('" + sequence.replace("'", "''") + "'::regclass)"


def _concrete(field: object) -> models.Field:  # type: ignore[type-arg]
    """A model field with a column (not a reverse relation)."""
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{field!r} has no column of its own")
    return field
