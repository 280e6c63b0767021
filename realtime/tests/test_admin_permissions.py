"""Least privilege for the outbox (design promise 7): putting dead rows back in
the relay's queue needs ``realtime.retry_outbox``, in the admin and in
``outbox_retry_dead`` itself."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import Client

import realtime
from accounts.models import User
from accounts.tests.factories import UserFactory
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from realtime.models import OutboxEvent
from realtime.relay import outbox_retry_dead

pytestmark = pytest.mark.django_db

OUTBOX = "/admin/realtime/outboxevent/"


def staff_with(*codenames: str) -> tuple[Client, User]:
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="realtime", codename__in=codenames))
    assert staff.user_permissions.count() == len(codenames)
    client = Client()
    client.force_login(staff)
    return client, User.objects.get(pk=staff.pk)


@pytest.fixture
def dead_row(user: Any) -> OutboxEvent:
    with transaction.atomic():
        event = realtime.emit("stats_update", user, {})
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxEvent.Status.DEAD, attempts=10)
    return OutboxEvent.objects.get(pk=event.pk)


def retry(client: Client, row: OutboxEvent) -> Any:
    return client.post(OUTBOX, {"action": "retry_dead", "_selected_action": [row.pk], "apply": "1", "reason": "fixed"})


def test_staff_who_may_view_and_change_the_outbox_cannot_retry_dead_rows(dead_row: OutboxEvent) -> None:
    # Given staff with view and change on outbox rows, without retry_outbox
    viewer, viewer_user = staff_with("view_outboxevent", "change_outboxevent")

    # When they open the outbox and post "retry" for a dead row anyway
    listing = viewer.get(OUTBOX)
    forged = retry(viewer, dead_row)

    # Then nothing is offered and the row stays dead
    assert listing.context["action_form"] is None
    assert forged.status_code in (200, 302)
    assert OutboxEvent.objects.get(pk=dead_row.pk).status == OutboxEvent.Status.DEAD
    # And the service refuses them too
    with pytest.raises(StaffPermissionRequired):
        outbox_retry_dead(actor=viewer_user, event_ids=[dead_row.pk], reason="x")
    assert OutboxEvent.objects.get(pk=dead_row.pk).status == OutboxEvent.Status.DEAD
    assert not AuditLog.objects.exists()


def test_staff_holding_retry_outbox_requeue_a_dead_row_and_it_is_audited(dead_row: OutboxEvent) -> None:
    operator, staff = staff_with("view_outboxevent", "retry_outbox")

    done = retry(operator, dead_row)

    assert done.status_code == 302
    row = OutboxEvent.objects.get(pk=dead_row.pk)
    assert (row.status, row.attempts) == (OutboxEvent.Status.PENDING, 0)
    assert AuditLog.objects.get(action="outbox_retry_dead").actor == staff
