"""Small database helpers shared by the apps."""

from __future__ import annotations

from typing import TypeVar

from django.db import models, transaction
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
