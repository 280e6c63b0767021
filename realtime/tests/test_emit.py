from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import transaction

import realtime
from realtime.models import OutboxEvent
from realtime.registry import _SUBSCRIBERS, EVENT_TYPES, DomainEvent, UnknownEventType, subscribe
from realtime.tests.recording import pushed_while


@pytest.fixture
def recorded() -> Any:
    """Subscribe a recorder to profile_update for the test, then remove it."""
    seen: list[DomainEvent] = []

    def recorder(event: DomainEvent) -> None:
        seen.append(event)

    subscribe("profile_update", recorder)
    yield seen
    _SUBSCRIBERS["profile_update"].remove(recorder)


@pytest.mark.django_db(transaction=True)
def test_emit_writes_the_outbox_row_runs_subscribers_and_pushes_after_commit(
    user: Any, recorded: list[DomainEvent]
) -> None:
    emitted: dict[str, Any] = {}

    def change() -> None:
        with transaction.atomic():
            emitted["event"] = realtime.emit("profile_update", user, {"nickname": "Neo"})
            emitted["subscribers_ran_before_commit"] = len(recorded)

    messages = pushed_while(user, change)

    assert emitted["subscribers_ran_before_commit"] == 1
    assert recorded[0].user_id == user.pk
    assert len(messages) == 1
    envelope = messages[0]["envelope"]
    assert envelope == {
        "event_id": str(emitted["event"].event_id),
        "type": "profile_update",
        "user_id": user.pk,
        "data": {"nickname": "Neo"},
        "timestamp": envelope["timestamp"],
    }
    assert envelope["timestamp"].endswith("Z")
    row = OutboxEvent.objects.get()
    assert row.status == OutboxEvent.Status.PENDING
    # the push carries what the relay ships to Kafka from the row (built apart, the same)
    assert envelope == row.envelope()
    assert recorded[0].timestamp == envelope["timestamp"] and recorded[0].event_id == envelope["event_id"]
    assert row.user_id == user.pk


@pytest.mark.django_db(transaction=True)
def test_rolled_back_emit_stores_and_pushes_nothing(user: Any) -> None:
    def failed_change() -> None:
        try:
            with transaction.atomic():
                realtime.emit("profile_update", user, {"nickname": "Ghost"})
                raise RuntimeError("the state change failed")
        except RuntimeError:
            pass

    messages = pushed_while(user, failed_change, wait=0.7)

    assert messages == []
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_failing_subscriber_rolls_back_the_whole_change(user: Any) -> None:
    def broken(event: DomainEvent) -> None:
        raise ValueError("subscriber failed")

    subscribe("stats_update", broken)
    try:
        with pytest.raises(ValueError), transaction.atomic():
            realtime.emit("stats_update", user, {})
    finally:
        _SUBSCRIBERS["stats_update"].remove(broken)

    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_emit_many_writes_all_rows_in_one_insert_in_order_and_pushes_each(
    user: Any, recorded: list[DomainEvent], django_assert_num_queries: Any
) -> None:
    def change() -> None:
        with transaction.atomic(), django_assert_num_queries(1):
            realtime.emit_many(
                [
                    ("profile_update", user, {"nickname": "One"}),
                    ("stats_update", user.pk, {"spins": 1}),
                    ("profile_update", user, {"nickname": "Two"}),
                ]
            )

    messages = pushed_while(user, change)

    rows = list(OutboxEvent.objects.order_by("id"))
    assert [(row.type, row.data) for row in rows] == [
        ("profile_update", {"nickname": "One"}),
        ("stats_update", {"spins": 1}),
        ("profile_update", {"nickname": "Two"}),
    ]
    assert [event.data["nickname"] for event in recorded] == ["One", "Two"]
    assert [m["envelope"]["event_id"] for m in messages] == [str(row.event_id) for row in rows]


@pytest.mark.django_db
def test_emit_many_refuses_the_batch_if_one_type_is_unregistered(user: Any) -> None:
    with pytest.raises(UnknownEventType), transaction.atomic():
        realtime.emit_many([("profile_update", user, {}), ("made_up_event", user, {})])

    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_unregistered_event_type_is_refused(user: Any) -> None:
    with pytest.raises(UnknownEventType), transaction.atomic():
        realtime.emit("made_up_event", user, {})


@pytest.mark.django_db(transaction=True)
def test_emit_outside_a_transaction_is_refused(user: Any) -> None:
    with pytest.raises(RuntimeError, match="inside the transaction"):
        realtime.emit("profile_update", user, {})


def test_signup_event_type_is_registered() -> None:
    assert "user_signed_up" in EVENT_TYPES
    assert "balance_update" in EVENT_TYPES


@pytest.mark.django_db(transaction=True)
def test_emit_grouped_stores_one_row_and_hands_out_each_change_as_its_own_event(
    user: Any, recorded: list[DomainEvent], django_assert_num_queries: Any
) -> None:
    from realtime.services import part_event_id

    emitted: dict[str, Any] = {}

    def change() -> None:
        with transaction.atomic(), django_assert_num_queries(1):
            emitted["row"] = realtime.emit_grouped(
                "progress_update",
                user,
                [
                    ("profile_update", {"nickname": "One"}),
                    ("stats_update", {"spins": 1}),
                    ("profile_update", {"nickname": "Two"}),
                ],
            )
            emitted["subscribers_ran_before_commit"] = len(recorded)

    messages = pushed_while(user, change)

    row = OutboxEvent.objects.get()  # one row for the three
    assert row.pk == emitted["row"].pk and row.type == "progress_update"
    assert row.data == {
        "changes": [
            {"type": "profile_update", "data": {"nickname": "One"}},
            {"type": "stats_update", "data": {"spins": 1}},
            {"type": "profile_update", "data": {"nickname": "Two"}},
        ]
    }
    ids = [str(part_event_id(row.event_id, index)) for index in range(3)]
    # Each part has an id of its own, none the row's, each a random (version 4) id as the row's is.
    assert len({*ids, str(row.event_id)}) == 4
    assert all(uuid.UUID(part).version == 4 and uuid.UUID(part).variant == uuid.RFC_4122 for part in ids)
    # Each change ran its type's subscribers in the transaction, under its derived id ...
    assert emitted["subscribers_ran_before_commit"] == 2
    assert [(event.event_id, event.type, event.data) for event in recorded] == [
        (ids[0], "profile_update", {"nickname": "One"}),
        (ids[2], "profile_update", {"nickname": "Two"}),
    ]
    # ... and was pushed after the commit as an event of its own type, in order; the row itself is not.
    envelopes = [message["envelope"] for message in messages]
    assert [(e["event_id"], e["type"], e["data"]) for e in envelopes] == [
        (ids[0], "profile_update", {"nickname": "One"}),
        (ids[1], "stats_update", {"spins": 1}),
        (ids[2], "profile_update", {"nickname": "Two"}),
    ]
    assert {e["timestamp"] for e in envelopes} == {row.envelope()["timestamp"]}
    assert len(set(ids)) == 3 and str(row.event_id) not in ids


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_grouped_emit_stores_and_pushes_nothing(user: Any, recorded: list[DomainEvent]) -> None:
    def failed_change() -> None:
        try:
            with transaction.atomic():
                realtime.emit_grouped("progress_update", user, [("profile_update", {"nickname": "Ghost"})])
                raise RuntimeError("the state change failed")
        except RuntimeError:
            pass

    messages = pushed_while(user, failed_change, wait=0.7)

    assert messages == [] and not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_emit_grouped_refuses_an_unregistered_change_and_writes_nothing_for_no_change(user: Any) -> None:
    with pytest.raises(UnknownEventType), transaction.atomic():
        realtime.emit_grouped("progress_update", user, [("profile_update", {}), ("made_up_event", {})])
    with transaction.atomic():
        assert realtime.emit_grouped("progress_update", user, []) is None

    assert not OutboxEvent.objects.exists()
