"""casino.db helpers: unique lookups without ORDER BY, inserts that may conflict."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.tests.factories import UserFactory
from casino.db import insert_or_raise, one_or_none, row_exists, rows_insert
from casino.models import IdempotencyRecord


@pytest.mark.django_db
def test_one_or_none_finds_the_row_or_none_without_ordering(user: Any) -> None:
    with CaptureQueriesContext(connection) as queries:
        found = one_or_none(User.objects.filter(pk=user.pk))
        missing = one_or_none(User.objects.filter(pk=user.pk + 10_000))

    assert (found, missing) == (user, None)
    assert all("ORDER BY" not in q["sql"] and "LIMIT 1" in q["sql"] for q in queries.captured_queries)


def _record(user: Any, key: str) -> IdempotencyRecord:
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    return IdempotencyRecord(
        user=user,
        key=key,
        request_method="POST",
        request_path="/x",
        request_hash="h",
        created_at=now,
        locked_until=now,
        expires_at=now + timedelta(days=1),
    )


@pytest.mark.django_db
def test_insert_or_raise_in_a_transaction_leaves_it_usable() -> None:
    user = UserFactory()
    with transaction.atomic():
        insert_or_raise(_record(user, "k"))
        with pytest.raises(IntegrityError):
            insert_or_raise(_record(user, "k"))
        insert_or_raise(_record(user, "other"))  # the transaction goes on

    assert IdempotencyRecord.objects.filter(user=user).count() == 2


@pytest.mark.django_db(transaction=True)
def test_insert_or_raise_outside_a_transaction_is_one_statement() -> None:
    user = UserFactory()
    with CaptureQueriesContext(connection) as queries:
        insert_or_raise(_record(user, "k"))
    with pytest.raises(IntegrityError):
        insert_or_raise(_record(user, "k"))

    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["INSERT"]
    assert IdempotencyRecord.objects.filter(user=user).count() == 1


@pytest.mark.django_db
def test_rows_insert_writes_every_row_in_one_statement_and_sets_their_keys() -> None:
    from django.utils import timezone

    from realtime.models import OutboxEvent
    from realtime.services import OUTBOX_FIELDS

    now = timezone.now()
    rows = [
        OutboxEvent(type="stats_update", user_id=7, data={"n": n, "when": "x"}, occurred_at=now, next_attempt_at=now)
        for n in range(3)
    ]
    with CaptureQueriesContext(connection) as queries:
        rows_insert(rows, OUTBOX_FIELDS)

    assert len(queries.captured_queries) == 1
    stored = {row.pk: row for row in OutboxEvent.objects.filter(pk__in=[row.pk for row in rows])}
    assert [stored[row.pk].data["n"] for row in rows] == [0, 1, 2]  # each key is its own row's
    assert all(stored[row.pk].event_id == row.event_id and not row._state.adding for row in rows)
    assert stored[rows[0].pk].occurred_at == now


@pytest.mark.django_db
def test_row_exists_looks_by_field_names_and_can_lock(user: Any) -> None:
    assert row_exists(User, id=user.pk)
    assert not row_exists(User, id=user.pk + 10_000)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert row_exists(User, lock=True, id=user.pk, nickname=user.nickname)
    assert queries.captured_queries[-1]["sql"].endswith("FOR UPDATE")


def _emit(n: int) -> None:
    import realtime

    realtime.emit("stats_update", None, {"n": n})


def _emit_then_fail(n: int, *, savepoint: bool = True) -> None:
    with transaction.atomic() if savepoint else contextlib.nullcontext():
        _emit(n)
        raise ZeroDivisionError


def _emitted() -> list[int]:
    from realtime.models import OutboxEvent

    return [event.data["n"] for event in OutboxEvent.objects.filter(type="stats_update").order_by("pk")]


@pytest.mark.django_db
def test_a_unit_of_work_writes_its_events_in_one_insert_before_it_commits() -> None:
    from casino.db import UnitOfWork

    with CaptureQueriesContext(connection) as queries, UnitOfWork():
        _emit(1)
        _emit(2)
        assert _emitted() == []  # queued, not written yet
        _emit(3)
    inserts = [q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "realtime_outboxevent"')]

    assert len(inserts) == 1
    assert _emitted() == [1, 2, 3]


@pytest.mark.django_db
def test_an_event_inside_a_savepoint_is_written_at_once_and_rolls_back_alone() -> None:
    from casino.db import UnitOfWork

    with UnitOfWork():
        _emit(1)
        with transaction.atomic():
            _emit(2)  # the queued 1 is written first, so the outbox keeps the emit order
            assert _emitted() == [1, 2]
        with pytest.raises(ZeroDivisionError):
            _emit_then_fail(3)
        _emit(4)

    assert _emitted() == [1, 2, 4]


@pytest.mark.django_db
def test_a_unit_of_work_that_rolls_back_writes_nothing() -> None:
    from casino.db import UnitOfWork

    with pytest.raises(ZeroDivisionError), UnitOfWork():
        _emit_then_fail(1, savepoint=False)

    assert _emitted() == []
    assert getattr(connection, "casino_unit_of_work", None) is None


@pytest.mark.django_db
def test_rows_insert_by_default_writes_every_field_as_the_orm_would() -> None:
    from shop.models import Product
    from shop.tests.factories import GemPriceProductFactory

    product = GemPriceProductFactory.build(created_at=None, updated_at=None)

    rows_insert([product])

    stored = Product.objects.get(pk=product.pk)
    assert (stored.sku, stored.grants, stored.price_amount) == (product.sku, product.grants, product.price_amount)
    assert stored.created_at is not None and stored.updated_at is not None  # auto_now(_add), as in save()
