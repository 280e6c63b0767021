"""Small database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from django.db import connections, models, router, transaction
from django.db.models import QuerySet
from django.db.transaction import Atomic

M = TypeVar("M", bound=models.Model)


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


def service_transaction(using: str | None = None) -> Atomic:
    """The transaction a service that changes state opens around its work.

    It is durable: a service is the outermost transaction, never silently
    nested in a caller's, so what it returns is committed. The one exception
    is the request transaction of an idempotent endpoint
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
    return transaction.atomic(using=using, durable=True)


def rows_insert(objs: Sequence[M], fields: Sequence[str]) -> None:
    """INSERT ``objs`` (instances of one model) in one statement written out
    here, and set their primary keys from ``RETURNING``: what ``bulk_create``
    does, without compiling a query on every call (the hot paths' rows: ledger
    entries, outbox events). ``fields`` are the columns written, by field name;
    every other column takes its database default, so name every field the
    model sets in Python. Values go through each field's ``get_db_prep_save``,
    as the ORM's own INSERT does (JSON, UUIDs and datetimes on every backend).
    No signals are sent (as with ``bulk_create``)."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    concrete = [_concrete(meta.get_field(name)) for name in fields]
    columns = ", ".join(quote(field.column) for field in concrete)
    row = "(" + ", ".join(["%s"] * len(concrete)) + ")"
    params = [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs for field in concrete]
    pk = _concrete(meta.pk)
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([row] * len(objs))}"  # noqa: S608
        f" RETURNING {quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = sorted(found[0] for found in cursor.fetchall())
    # One statement hands out its ids in VALUES order: sorted, they match the objects.
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def row_exists(model: type[models.Model], *, lock: bool = False, **equals: object) -> bool:
    """Whether a row of ``model`` has these field values (``SELECT 1 ... LIMIT 1``
    written out: the cheap first look before loading a row that is rarely
    there). ``lock``: and lock it (``FOR UPDATE``, where the database has row locks)."""
    meta = model._meta
    connection = connections[router.db_for_read(model)]
    quote = connection.ops.quote_name
    fields = [_concrete(meta.get_field(name)) for name in equals]
    where = " AND ".join(f"{quote(field.column)} = %s" for field in fields)
    params = [field.get_db_prep_value(equals[field.name], connection) for field in fields]
    suffix = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    sql = f"SELECT 1 FROM {quote(meta.db_table)} WHERE {where} LIMIT 1{suffix}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def _concrete(field: object) -> models.Field:  # type: ignore[type-arg]
    """A model field with a column (not a reverse relation)."""
    if not isinstance(field, models.Field) or not field.column:
        raise TypeError(f"{field!r} has no column of its own")
    return field
