"""The inbox service campaigns send through (``realtime.notifications.services``): a
notification a service sends itself, at most once per dedupe key -- the unique
``source_event_id`` decides, not a read before the write -- announced on the socket only when
it was new, and pushed only when asked."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import transaction

from accounts.tests.factories import UserFactory
from realtime.models import Notification, OutboxEvent
from realtime.notifications.services import OutgoingNotification, notification_send, notifications_send
from realtime.tests.recording import emitted

pytestmark = pytest.mark.django_db


def test_the_same_dedupe_key_makes_one_notification_and_one_socket_event() -> None:
    player = UserFactory()
    key = uuid.uuid4()

    with emitted("notification") as live:
        with transaction.atomic():
            first = notification_send(
                user_id=player.pk, kind="campaign", title="Hello", body="Welcome back", data={"a": 1}, dedupe_key=key
            )
        with transaction.atomic():
            again = notification_send(user_id=player.pk, kind="campaign", title="Hello", dedupe_key=key)

    assert first is not None and again is None
    assert (first.user_id, first.title, first.body, first.data, first.source_event_id) == (
        player.pk,
        "Hello",
        "Welcome back",
        {"a": 1},
        key,
    )
    assert Notification.objects.count() == 1
    [event] = live
    assert (event.user_id, event.data["id"], event.data["title"]) == (player.pk, first.pk, "Hello")
    assert not OutboxEvent.objects.filter(type="notification").exists()  # the inbox row is the record


def test_many_at_once_insert_only_the_new_ones_and_name_every_row() -> None:
    players = [UserFactory() for _ in range(3)]
    keys = [uuid.uuid4() for _ in players]
    items = [
        OutgoingNotification(user_id=player.pk, kind="campaign", title="T", dedupe_key=key)
        for player, key in zip(players, keys, strict=True)
    ]
    with transaction.atomic():
        earlier = notifications_send(notifications=items[:1])

    with emitted("notification") as live, transaction.atomic():
        sent = notifications_send(notifications=items)

    assert sent.created == frozenset(keys[1:])
    assert set(sent.ids) == set(keys)
    assert sent.ids[keys[0]] == earlier.ids[keys[0]]
    assert Notification.objects.count() == 3
    assert sorted(event.data["id"] for event in live) == sorted(sent.ids[key] for key in keys[1:])  # the new ones


@pytest.mark.django_db(transaction=True)
def test_sending_outside_a_transaction_is_refused() -> None:
    player = UserFactory()

    with pytest.raises(RuntimeError):
        notification_send(user_id=player.pk, kind="campaign", title="T", dedupe_key=uuid.uuid4())

    assert not Notification.objects.exists()


@pytest.mark.parametrize("push", [True, False])
def test_web_push_is_queued_on_commit_only_when_asked(
    settings: Any, django_capture_on_commit_callbacks: Any, push: bool
) -> None:
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = "public", "private"
    player = UserFactory()

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        notification_send(user_id=player.pk, kind="campaign", title="T", dedupe_key=uuid.uuid4(), push=push)

    names = [getattr(getattr(callback, "func", None), "__name__", "") for callback in callbacks]
    queued = [name for name in names if name == "_queue_web_push"]
    assert len(queued) == (1 if push else 0)
