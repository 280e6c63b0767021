"""casino.db helpers: unique lookups without ORDER BY, inserts that may conflict."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory
from casino.db import (
    UnitOfWork,
    insert_or_raise,
    one_or_none,
    row_exists,
    row_get,
    row_insert_new,
    row_update,
    row_update_later,
    rows_get,
    rows_insert,
    rows_insert_later,
    rows_insert_together,
)
from casino.models import IdempotencyRecord
from casino.on_commit import on_commit_batched
from realtime.services import OUTBOX_FIELDS


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
def test_a_json_value_that_carries_its_text_is_written_from_that_text() -> None:
    from casino.db import encoded_json
    from realtime.models import OutboxEvent

    now = timezone.now()
    text = '{"n": 1, "when": "2026-12-04T10:00:00Z", "parts": [{"a": null}]}'
    data = encoded_json(text)
    assert data == {"n": 1, "when": "2026-12-04T10:00:00Z", "parts": [{"a": None}]} and data.text == text
    row = OutboxEvent(type="stats_update", user_id=7, data=data, occurred_at=now, next_attempt_at=now)
    data["n"] = 2  # the INSERT sends the text, not the object encoded again

    rows_insert([row], OUTBOX_FIELDS)

    assert OutboxEvent.objects.get(pk=row.pk).data == {"n": 1, "when": "2026-12-04T10:00:00Z", "parts": [{"a": None}]}


@pytest.mark.django_db
def test_row_exists_looks_by_field_names_and_can_lock(user: Any) -> None:
    assert row_exists(User, id=user.pk)
    assert not row_exists(User, id=user.pk + 10_000)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert row_exists(User, lock=True, id=user.pk, nickname=user.nickname)
    # Locked for a change of its columns: other transactions' foreign-key checks are not kept waiting
    assert queries.captured_queries[-1]["sql"].endswith("FOR NO KEY UPDATE")


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
def test_rows_written_later_are_announced_once_they_have_their_keys() -> None:
    from realtime.models import Notification

    player = UserFactory()
    now = timezone.now()
    seen: list[tuple[str, int | None]] = []

    def inbox_row(title: str) -> Notification:
        return Notification(user=player, kind="test", title=title, created_at=now)

    with CaptureQueriesContext(connection) as queries, UnitOfWork():
        queued = inbox_row("queued")
        rows_insert_later([queued], then=lambda: seen.append(("queued", queued.pk)))
        _emit(1)
        assert seen == []  # not written yet: no key to tell
    written = [q["sql"] for q in queries.captured_queries if "realtime_notification" in q["sql"]]
    assert len(written) == 1 and "realtime_outboxevent" in written[0]  # with the unit's last statement
    assert seen == [("queued", queued.pk)] and queued.pk is not None

    with UnitOfWork(), transaction.atomic():  # inside a savepoint rows cannot wait: written and told at once
        at_once = inbox_row("at once")
        rows_insert_later([at_once], then=lambda: seen.append(("at once", at_once.pk)))
        assert seen[-1] == ("at once", at_once.pk) and at_once.pk is not None

    def queue_then_fail() -> None:
        with UnitOfWork():
            rows_insert_later([inbox_row("rolled back")], then=lambda: seen.append(("rolled back", None)))
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        queue_then_fail()
    assert [title for title, _ in seen] == ["queued", "at once"]
    assert sorted(Notification.objects.values_list("title", flat=True)) == ["at once", "queued"]


@pytest.mark.django_db
def test_what_an_after_flush_callback_queues_is_written_by_a_flush_of_its_own() -> None:
    with UnitOfWork() as unit:
        unit.after_flush(lambda: _emit(2))  # a stored event emitted once the first rows are written
        _emit(1)

    assert _emitted() == [1, 2]
    assert not unit.pending and not unit.flushed


@pytest.mark.django_db
def test_rows_insert_by_default_writes_every_field_as_the_orm_would() -> None:
    from shop.models import Product
    from shop.tests.factories import GemPriceProductFactory

    product = GemPriceProductFactory.build(created_at=None, updated_at=None)

    rows_insert([product])

    stored = Product.objects.get(pk=product.pk)
    assert (stored.sku, stored.grants, stored.price_amount) == (product.sku, product.grants, product.price_amount)
    assert stored.created_at is not None and stored.updated_at is not None  # auto_now(_add), as in save()


def _fields_of(instance: Any) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.mark.django_db
def test_row_get_loads_the_row_as_the_orm_does_or_none() -> None:
    from economy.models import StreakDay
    from shop.models import Product
    from shop.tests.factories import GemPriceProductFactory

    product = GemPriceProductFactory(grants={"gold": 5000}, grant_items=["frame"], limit_daily=3)
    user = UserFactory()
    day = StreakDay.objects.create(
        user=user, date=date(2026, 12, 1), kind="checkin", streak_count=4, created_at=timezone.now()
    )

    with CaptureQueriesContext(connection) as queries:
        found = row_get(Product, sku=product.sku)
        by_key = row_get(StreakDay, user=user.pk, date=day.date)
        by_attname = row_get(StreakDay, user_id=user.pk, date=day.date)
        missing = row_get(Product, sku="no-such-sku")

    assert found is not None and _fields_of(found) == _fields_of(Product.objects.get(pk=product.pk))
    assert found.grants == {"gold": 5000} and found.grant_items == ["frame"]  # JSON converted, as the ORM does
    assert by_key is not None and by_attname is not None
    assert _fields_of(by_key) == _fields_of(by_attname) == _fields_of(StreakDay.objects.get(pk=day.pk))
    assert missing is None
    assert len(queries) == 4 and all("LIMIT 1" in q["sql"] for q in queries.captured_queries)
    assert not found._state.adding and found._state.db == "default"  # a saved row: save() updates it


@pytest.mark.django_db
def test_rows_get_loads_the_rows_in_a_range_as_the_orm_does() -> None:
    from economy.models import StreakDay

    user, other = UserFactory(), UserFactory()
    for owner, day in [(user, 1), (user, 3), (user, 5), (user, 9), (other, 3)]:
        StreakDay.objects.create(
            user=owner, date=date(2026, 12, day), kind="checkin", streak_count=day, created_at=timezone.now()
        )

    with CaptureQueriesContext(connection) as queries:
        found = rows_get(StreakDay, user=user.pk, between={"date": (date(2026, 12, 3), date(2026, 12, 5))})
        none = rows_get(StreakDay, user=user.pk, between={"date": (date(2026, 12, 6), date(2026, 12, 8))})

    wanted = StreakDay.objects.filter(user=user, date__gte=date(2026, 12, 3), date__lte=date(2026, 12, 5))
    assert sorted(map(_fields_of, found), key=str) == sorted(map(_fields_of, wanted), key=str)
    assert sorted(day.date.day for day in found) == [3, 5]  # bounds included; the other player's day left out
    assert none == [] and len(queries) == 2
    assert not any("LIMIT" in query["sql"] for query in queries.captured_queries)


@pytest.mark.django_db
def test_rows_get_among_lists_loads_the_rows_the_orms_in_lookups_find() -> None:
    from economy.models import StreakDay

    user, other = UserFactory(), UserFactory()
    days = {}
    for owner, day, kind in [(user, 1, "checkin"), (user, 3, "checkin"), (user, 5, "vip"), (other, 3, "checkin")]:
        days[owner.pk, day] = StreakDay.objects.create(
            user=owner, date=date(2026, 12, day), kind=kind, streak_count=day, created_at=timezone.now()
        )
    wanted_days = [date(2026, 12, 3), date(2026, 12, 5), date(2026, 12, 3)]  # a repeated value counts once

    with CaptureQueriesContext(connection) as queries:
        found = rows_get(StreakDay, user=user.pk, among={"date": wanted_days, "kind": ["checkin", "vip"]})
        by_key = rows_get(StreakDay, fields=["date"], among={"pk": [days[user.pk, 1].pk, days[other.pk, 3].pk]})
        nothing = rows_get(StreakDay, user=user.pk, among={"date": []})

    wanted = StreakDay.objects.filter(user=user, date__in=wanted_days, kind__in=["checkin", "vip"])
    assert sorted(map(_fields_of, found), key=str) == sorted(map(_fields_of, wanted), key=str)
    assert sorted(day.date.day for day in found) == [3, 5]
    assert sorted((day.user_id, day.date.day) for day in by_key) == [(user.pk, 1), (other.pk, 3)]
    assert nothing == [] and len(queries) == 2  # an empty list matches nothing without a statement
    assert " IN (" in queries.captured_queries[0]["sql"] and "LIMIT" not in queries.captured_queries[0]["sql"]


@pytest.mark.django_db
def test_row_get_can_load_some_fields_and_lock() -> None:
    from shop.models import Product
    from shop.tests.factories import GemPriceProductFactory

    product = GemPriceProductFactory(name="Pack")

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        found = row_get(Product, fields=["sku", "price_amount"], lock=True, pk=product.pk)
        assert found is not None
        loaded = (found.pk, found.sku, found.price_amount)
        name = found.name  # deferred: loaded on first access

    assert loaded == (product.pk, product.sku, product.price_amount) and name == "Pack"
    assert queries.captured_queries[0]["sql"].endswith("FOR NO KEY UPDATE")
    assert '"name"' not in queries.captured_queries[0]["sql"] and len(queries) == 2


@pytest.mark.django_db
def test_row_insert_new_inserts_once_and_then_reports_the_row_already_there() -> None:
    from economy.models import DailyStreak

    user = UserFactory()

    with transaction.atomic():
        first = row_insert_new(DailyStreak(user_id=user.pk, current_count=2, updated_at=timezone.now()))
        # no error, no savepoint needed:
        again = row_insert_new(DailyStreak(user_id=user.pk, current_count=9, updated_at=timezone.now()))
        after = DailyStreak.objects.get(pk=user.pk).current_count

    assert (first, again, after) == (True, False, 2)


@pytest.mark.django_db
def test_row_update_writes_only_the_fields_named() -> None:
    from shop.models import Product
    from shop.tests.factories import GemPriceProductFactory

    product = GemPriceProductFactory(name="Old", price_amount=10)
    Product.objects.filter(pk=product.pk).update(price_amount=99)  # changed by someone else meanwhile
    product.name = "New"
    product.price_amount = 12345  # not named: not written

    updated = row_update(product, ["name", "updated_at"])

    stored = Product.objects.get(pk=product.pk)
    assert updated == 1
    assert (stored.name, stored.price_amount) == ("New", 99)
    assert stored.updated_at >= product.created_at  # auto_now applied, as save() would


@pytest.mark.django_db
def test_row_get_in_an_order_answers_the_orms_first_row_in_that_order() -> None:
    from economy.models import StreakDay

    user = UserFactory()
    for day, count in [(3, 7), (9, 2), (5, 7)]:
        StreakDay.objects.create(
            user=user, date=date(2026, 12, day), kind="checkin", streak_count=count, created_at=timezone.now()
        )
    mine = StreakDay.objects.filter(user=user)

    newest = row_get(StreakDay, fields=("date",), order_by=("-date",), user=user.pk)
    oldest = row_get(StreakDay, order_by=("date",), user=user.pk)
    tie = row_get(StreakDay, order_by=("-streak_count", "-date"), user=user.pk, kind="checkin")

    assert newest is not None and newest.date == mine.order_by("-date").first().date == date(2026, 12, 9)
    assert oldest is not None and _fields_of(oldest) == _fields_of(mine.order_by("date").first())
    assert tie is not None and tie.pk == mine.order_by("-streak_count", "-date").first().pk  # the 5th, not the 3rd
    assert row_get(StreakDay, order_by=("-date",), user=UserFactory().pk) is None


def _outbox_row(n: int, now: Any) -> Any:
    from realtime.models import OutboxEvent

    return OutboxEvent(type="stats_update", user_id=None, data={"n": n}, occurred_at=now, next_attempt_at=now)


def _day(user: Any, day: int, kind: str | None = "checkin") -> Any:
    from economy.models import StreakDay

    return StreakDay(user=user, date=date(2026, 12, day), kind=kind, streak_count=day, created_at=timezone.now())


def _days(user: Any) -> list[int]:
    from economy.models import StreakDay

    return [day.day for day in StreakDay.objects.filter(user=user).order_by("pk").values_list("date", flat=True)]


@pytest.mark.django_db
def test_rows_insert_together_writes_several_tables_in_one_statement_and_sets_each_rows_key() -> None:
    from economy.models import StreakDay
    from realtime.models import OutboxEvent

    user = UserFactory()
    days = [_day(user, 3), _day(user, 4)]
    events = [_outbox_row(n, timezone.now()) for n in range(3)]

    with CaptureQueriesContext(connection) as queries:
        rows_insert_together([(days, None), (events, OUTBOX_FIELDS)])

    assert len(queries) == 1 and queries.captured_queries[0]["sql"].startswith("WITH ")
    assert [StreakDay.objects.get(pk=day.pk).streak_count for day in days] == [3, 4]  # each key is its own row's
    assert [OutboxEvent.objects.get(pk=event.pk).data["n"] for event in events] == [0, 1, 2]
    assert not any(row._state.adding for row in [*days, *events])


@pytest.mark.django_db
def test_rows_insert_together_writes_nothing_when_one_table_refuses_its_rows() -> None:
    from realtime.models import OutboxEvent

    user = UserFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        rows_insert_together([([_outbox_row(7, timezone.now())], OUTBOX_FIELDS), ([_day(user, 3, kind=None)], None)])

    assert not OutboxEvent.objects.filter(data__n=7).exists()


@pytest.mark.django_db
def test_rows_insert_later_waits_for_the_unit_of_work_and_is_written_with_its_events() -> None:
    user = UserFactory()
    day = _day(user, 3)

    with CaptureQueriesContext(connection) as queries, UnitOfWork():
        rows_insert_later([day])
        _emit(1)
        assert _days(user) == []  # queued, not written yet
        queued = len(queries)

    written = [q["sql"] for q in queries.captured_queries[queued:]]
    assert [sql[:5] for sql in written if "INSERT" in sql] == ["WITH "]  # the day and the event: one statement
    assert _days(user) == [3] and day.pk is not None
    assert _emitted() == [1]


def _day_then_fail(user: Any, day: int) -> None:
    with transaction.atomic():
        rows_insert_later([_day(user, day)])
        raise ZeroDivisionError


@pytest.mark.django_db
def test_rows_insert_later_writes_at_once_without_a_unit_or_inside_a_savepoint() -> None:
    user = UserFactory()

    with transaction.atomic():
        rows_insert_later([_day(user, 1)])  # an atomic block is not a unit of work: written now
        assert _days(user) == [1]
    with UnitOfWork():
        rows_insert_later([_day(user, 2)])
        with transaction.atomic():
            rows_insert_later([_day(user, 3)])  # may roll back alone: written now, after the queued one
            assert _days(user) == [1, 2, 3]
        with pytest.raises(ZeroDivisionError):
            _day_then_fail(user, 4)
        rows_insert_later([_day(user, 5)])

    assert _days(user) == [1, 2, 3, 5]


@pytest.mark.django_db
def test_row_update_later_is_written_in_the_units_last_statement_with_its_rows_and_events() -> None:
    from economy.models import StreakDay

    user = UserFactory()
    old = _day(user, 3)
    rows_insert([old])
    new = _day(user, 4)

    with CaptureQueriesContext(connection) as queries, UnitOfWork():
        old.streak_count = 30
        row_update_later(old, ["streak_count"])
        old.kind = "protected"
        row_update_later(old, ["kind"])  # the same row again: one UPDATE of both fields
        rows_insert_later([new])
        new.streak_count = 40
        row_update_later(new, ["streak_count"])  # queued for insert: inserted with it
        _emit(1)
        assert StreakDay.objects.get(pk=old.pk).streak_count == 3  # not written yet
        queued = len(queries)

    written = [q["sql"] for q in queries.captured_queries[queued:]]
    assert len([sql for sql in written if "economy_streakday" in sql]) == 1
    assert written[0].startswith("WITH ") and written[0].count("UPDATE ") == 1 and "realtime_outboxevent" in written[0]
    assert StreakDay.objects.get(pk=old.pk).streak_count == 30
    assert StreakDay.objects.get(pk=old.pk).kind == "protected"
    assert StreakDay.objects.get(pk=new.pk).streak_count == 40
    assert _emitted() == [1]


def _insert_then_update_unwritten(day: Any) -> None:
    with UnitOfWork():
        rows_insert_later([day], ["user", "date", "kind", "streak_count", "created_at"])
        day.claimed_at = timezone.now()
        row_update_later(day, ["claimed_at"])


def _update_then_fail(day: Any) -> None:
    with UnitOfWork():
        row_update_later(day, ["streak_count"])
        raise ZeroDivisionError


@pytest.mark.django_db
def test_row_update_later_writes_at_once_without_a_unit_and_nothing_when_the_unit_rolls_back() -> None:
    from economy.models import StreakDay

    user = UserFactory()
    day = _day(user, 3)
    rows_insert([day])

    day.streak_count = 5
    with transaction.atomic():
        row_update_later(day, ["streak_count"])  # an atomic block is not a unit of work: written now
        assert StreakDay.objects.get(pk=day.pk).streak_count == 5
    day.streak_count = 6
    with pytest.raises(ZeroDivisionError):
        _update_then_fail(day)
    day.streak_count = 7
    with UnitOfWork():  # the updates alone: one statement of its own
        row_update_later(day, ["streak_count"])

    assert StreakDay.objects.get(pk=day.pk).streak_count == 7


@pytest.mark.django_db
def test_row_update_later_refuses_a_field_its_queued_insert_would_not_write() -> None:
    user = UserFactory()
    day = _day(user, 8)

    with pytest.raises(ValueError, match="claimed_at"):
        _insert_then_update_unwritten(day)

    assert _days(user) == []


@pytest.mark.django_db
def test_rows_get_together_reads_rows_and_scalars_in_one_statement_as_row_get_does() -> None:
    from casino.db import RowLookup, rows_get_together
    from economy.models import StreakDay

    user = UserFactory()
    first, second = _day(user, 3), _day(user, 4)
    rows_insert([first, second])
    lookups = [
        RowLookup(User, {"pk": user.pk}),
        RowLookup(StreakDay, {"user": user.pk}, fields=("date",), order_by=("-date",)),  # the latest day
        RowLookup(User, {"pk": user.pk + 10_000}),  # no such row
    ]
    count_sql = "SELECT COUNT(*) FROM economy_streakday WHERE user_id = %s AND streak_count >= %s"

    with CaptureQueriesContext(connection) as queries:
        (found_user, latest, missing), scalars = rows_get_together(lookups, [(count_sql, [user.pk, 4])])

    assert len(queries) == 1
    assert missing is None and scalars == [1]
    assert found_user == user and found_user.date_joined == User.objects.get(pk=user.pk).date_joined  # converted
    assert latest is not None and (latest.pk, latest.date) == (second.pk, date(2026, 12, 4))
    assert latest == row_get(StreakDay, fields=("date",), order_by=("-date",), user=user.pk)
    assert lookups[1].get() == latest


def _values_to_try() -> list[Any]:
    from datetime import datetime, timedelta
    from datetime import timezone as tz

    from shop.models import OrderStatus

    aware = timezone.now()
    return [
        None,
        "",
        "text",
        OrderStatus.PENDING,  # a str subclass: CharField keeps it as it is
        0,
        -7,
        2**40,
        True,
        False,
        aware,
        aware.astimezone(tz(timedelta(hours=5))),
        datetime(2026, 1, 2, 3, 4, 5),  # naive: the ORM warns and makes it aware
        date(2026, 1, 2),
        "12",
        3.5,
    ]


@pytest.mark.django_db
def test_the_plain_path_gives_every_field_of_every_model_what_the_orms_own_conversion_gives() -> None:
    """``rows_insert`` skips a field's ``pre_save`` / ``get_db_prep_save`` chain for
    plain values (casino.inserts._plain_converter): for every concrete field of every
    model of the project and values of many types, what it gives must be what the
    chain gives, of the same type -- or it must leave the value to the chain."""
    import warnings

    from django.apps import apps

    from casino.inserts import _NOT_PLAIN, _plain_converter

    checked = plain_fields = 0
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            plain = _plain_converter(field, connection)
            if plain is None:
                continue
            plain_fields += 1
            for value in _values_to_try():
                fast = plain(value)
                if fast is _NOT_PLAIN:
                    continue
                instance = model()
                setattr(instance, field.attname, value)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    orm = field.get_db_prep_save(field.pre_save(instance, True), connection)
                assert (fast, type(fast)) == (orm, type(orm)), (model, field.name, value)
                checked += 1
    assert plain_fields > 100 and checked > 500  # the project's text, integer, flag, time and key columns


def test_the_plain_path_is_not_taken_for_a_field_that_converts_on_its_own() -> None:
    from collections import OrderedDict

    from django.db import models

    from casino.inserts import _NOT_PLAIN, _plain_converter
    from realtime.models import OutboxEvent
    from shop.models import Order

    class Upper(models.CharField):  # type: ignore[type-arg]
        def get_prep_value(self, value: Any) -> Any:
            return str(value).upper()

    assert _plain_converter(Upper(max_length=3), connection) is None
    grants = _plain_converter(Order._meta.get_field("grants"), connection)  # JSON: a plain dict or list only
    assert grants is None or (grants(OrderedDict(gold=1)) is _NOT_PLAIN and grants("gold") is _NOT_PLAIN)
    assert _plain_converter(OutboxEvent._meta.get_field("event_id"), connection) is None  # UUID
    stamped = [f for f in User._meta.concrete_fields if getattr(f, "auto_now", False)]
    assert all(_plain_converter(f, connection) is None for f in stamped)


@pytest.mark.django_db
def test_rows_insert_unless_writes_every_row_or_none_in_one_statement() -> None:
    from casino.db import rows_insert_unless
    from realtime.models import OutboxEvent

    now = timezone.now()

    def events(kind: str) -> list[OutboxEvent]:
        return [
            OutboxEvent(type=kind, user_id=7, data={"n": n}, occurred_at=now, next_attempt_at=now) for n in range(2)
        ]

    there = "SELECT 1 FROM realtime_outboxevent WHERE type = %s"
    first, second = events("stats_update"), events("stats_update")
    with CaptureQueriesContext(connection) as queries:
        written = rows_insert_unless(first, OUTBOX_FIELDS, exists=there, params=["stats_update"])
    refused = rows_insert_unless(second, OUTBOX_FIELDS, exists=there, params=["stats_update"])

    assert (written, refused, len(queries.captured_queries)) == (True, False, 1)
    stored = {row.pk: row.data["n"] for row in OutboxEvent.objects.filter(type="stats_update")}
    assert [stored[row.pk] for row in first] == [0, 1]  # each key is its own row's
    assert all(row.pk is None and row._state.adding for row in second) and len(stored) == 2
    # a column NULL in every row (a nullable integer) is still taken as its column's type
    nobody = [OutboxEvent(type="maintenance", user_id=None, data={}, occurred_at=now, next_attempt_at=now)]
    assert rows_insert_unless(nobody, OUTBOX_FIELDS, exists=there, params=["maintenance"])
    assert OutboxEvent.objects.get(pk=nobody[0].pk).user_id is None


class _Runs:
    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    def __call__(self, items: list[Any]) -> None:
        self.calls.append(items)


@pytest.mark.django_db(transaction=True)
def test_on_commit_batched_runs_a_keys_items_once_after_commit_in_order_among_other_hooks() -> None:
    order: list[Any] = []
    with transaction.atomic():
        on_commit_batched("k", [1, 2], lambda items: order.append(("k", list(items))))
        transaction.on_commit(lambda: order.append("other"))
        on_commit_batched("k", [3], lambda items: order.append(("late", list(items))))  # joins the first
        on_commit_batched("j", [9], lambda items: order.append(("j", list(items))))
        assert order == []  # nothing before the commit

    # one call with every item of the key, at the first one's place; another key apart
    assert order == [("k", [1, 2, 3]), "other", ("j", [9])]


@pytest.mark.django_db(transaction=True)
def test_on_commit_batched_keeps_order_and_drops_exactly_what_a_savepoint_rolled_back() -> None:
    runs = _Runs()
    with transaction.atomic():
        on_commit_batched("k", [1], runs)
        with transaction.atomic():
            on_commit_batched("k", [2], runs)  # another level: a hook of its own
        on_commit_batched("k", [3], runs)  # after the savepoint's: never joins the first (order)
        with contextlib.suppress(ZeroDivisionError), transaction.atomic():
            on_commit_batched("k", [4], runs)
            raise ZeroDivisionError
        on_commit_batched("k", [5], runs)  # the rolled-back hook is gone: a new one
        on_commit_batched("k", [6], runs)

    assert runs.calls == [[1], [2], [3], [5, 6]]


@pytest.mark.django_db(transaction=True)
def test_on_commit_batched_joins_items_across_a_block_that_opens_no_savepoint() -> None:
    runs = _Runs()
    with transaction.atomic():
        with transaction.atomic(savepoint=False):  # a service joining the request's transaction
            on_commit_batched("k", [1], runs)
        on_commit_batched("k", [2], runs)  # no savepoint between them: they roll back together, so one hook

    assert runs.calls == [[1, 2]]


@pytest.mark.django_db(transaction=True)
def test_on_commit_batched_forgets_a_rolled_back_transaction_and_runs_at_once_outside_one() -> None:
    runs = _Runs()
    with contextlib.suppress(ZeroDivisionError), transaction.atomic():
        on_commit_batched("k", [1], runs)
        raise ZeroDivisionError
    with transaction.atomic():
        on_commit_batched("k", [2], runs)
    on_commit_batched("k", [3], runs)

    assert runs.calls == [[2], [3]]


def test_json_safe_writes_what_djangos_encoder_writes() -> None:
    import datetime as dt
    import json
    import uuid
    from decimal import Decimal

    from django.core.serializers.json import DjangoJSONEncoder
    from django.utils.translation import gettext_lazy

    from casino.db import json_safe
    from economy.enums import LedgerReason

    moment = dt.datetime(2026, 12, 4, 10, 0, 0, 123456, tzinfo=dt.UTC)
    data = {
        "when": moment,
        "whole_second": moment.replace(microsecond=0),
        "elsewhere": moment.astimezone(dt.timezone(dt.timedelta(hours=2))),
        "day": date(2026, 12, 4),
        "time": dt.time(9, 30, 15, 500),
        "lasting": dt.timedelta(hours=1, seconds=5),
        "amount": Decimal("12.50"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "lazy": gettext_lazy("Gold"),
        "reason": LedgerReason.GAME_BET,
        "nested": [{"n": 1, "ok": True, "none": None, "float": 1.5, "text": "Ünïcode ✓"}],
        "tuple": (1, 2),
        3: "an integer key",
    }
    expected = json.loads(json.dumps(data, cls=DjangoJSONEncoder))

    safe = json_safe(data)

    assert safe == expected
    assert json.loads(safe.text) == expected  # the text the outbox row's INSERT sends
    assert safe["when"] == "2026-12-04T10:00:00.123Z" and safe["amount"] == "12.50" and safe["3"] == "an integer key"


def test_json_safe_takes_the_json_module_for_what_orjson_refuses() -> None:
    from casino.db import json_safe

    huge = 2**70  # beyond orjson's 64 bits

    safe = json_safe({"n": huge})

    assert safe == {"n": huge} and safe.text == '{"n":1180591620717411303424}'


@pytest.mark.django_db
def test_a_plain_json_value_is_written_as_the_orm_writes_it_and_refused_where_it_refuses() -> None:
    import json

    from realtime.models import OutboxEvent

    now = timezone.now()
    data = {"n": 1, 2: "an integer key", "nested": [1.5, True, None, "Ünïcode ✓"], "list": [{"a": []}]}
    row = OutboxEvent(type="stats_update", user_id=7, data=data, occurred_at=now, next_attempt_at=now)
    orm_row = OutboxEvent.objects.create(
        type="stats_update", user_id=7, data=data, occurred_at=now, next_attempt_at=now
    )

    rows_insert([row], OUTBOX_FIELDS)

    stored = OutboxEvent.objects.get(pk=row.pk).data
    assert stored == json.loads(json.dumps(data)) == OutboxEvent.objects.get(pk=orm_row.pk).data
    with pytest.raises(TypeError):  # as json.dumps refuses it on the ORM's path
        rows_insert(
            [OutboxEvent(type="stats_update", user_id=7, data={"when": now}, occurred_at=now, next_attempt_at=now)],
            OUTBOX_FIELDS,
        )
