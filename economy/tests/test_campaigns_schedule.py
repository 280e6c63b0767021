"""When a campaign goes out: drafts, schedules and cancellations, and the beat task that
starts a due campaign -- once, however many beats run, and never one cancelled first. The
clock moves with time-machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings

from accounts.tests.factories import UserFactory
from accounts.tests.staff import staff_with
from casino.models import AdminJob, AuditLog
from casino.permissions import StaffPermissionRequired
from economy.exceptions import CampaignNotCancellable, CampaignNotSchedulable
from economy.models import Campaign
from economy.services.campaign_delivery import campaign_deliver
from economy.services.campaigns import (
    campaign_cancel,
    campaign_create,
    campaign_schedule,
    campaign_start,
)
from economy.tasks import campaigns_start
from realtime.models import Notification

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sender() -> Any:
    _, staff = staff_with("economy.send_campaign", "economy.grant_campaign")
    return staff


def create(sender: Any, **fields: Any) -> Campaign:
    player = UserFactory()
    arguments: dict[str, Any] = {
        "actor": sender,
        "title": "Summer festival",
        "message": "The summer festival starts now.",
        "channels": ["in_app"],
        "reason": "Festival announcement",
        "user_ids": [player.pk],
    }
    return campaign_create(**{**arguments, **fields})


def due(campaign: Campaign) -> Campaign:
    """The campaign, its time come (as if the clock had moved on)."""
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=datetime.now(UTC) - timedelta(seconds=1))
    return campaign


def test_the_beat_runs_the_campaign_start_task_every_minute() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["economy-campaigns-start"]

    assert entry["task"] == "economy.tasks.campaigns_start"
    assert entry["schedule"] == timedelta(minutes=1)


def test_a_due_campaign_starts_from_the_beat_task_and_a_future_one_does_not(sender: Any) -> None:
    # Given, at noon, one campaign for 12:10 and one for 13:00
    with time_machine.travel(NOON, tick=False):
        soon = create(sender, send_at=NOON + timedelta(minutes=10))
        later = create(sender, send_at=NOON + timedelta(hours=1))
        assert (soon.status, soon.job_id, later.status) == ("scheduled", None, "scheduled")

    # When the beat runs at 12:05, nothing is due
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        assert campaigns_start() == {"started": []}
    soon.refresh_from_db()
    assert (soon.status, soon.job_id) == ("scheduled", None)

    # When it runs at 12:11, the first starts: sending, with its job queued
    with time_machine.travel(NOON + timedelta(minutes=11), tick=False):
        assert campaigns_start() == {"started": [soon.pk]}
        assert campaigns_start() == {"started": []}  # the next beat: already started
    soon.refresh_from_db()
    later.refresh_from_db()
    assert (soon.status, soon.started_at) == ("sending", NOON + timedelta(minutes=11))
    job = AdminJob.objects.get()
    assert (soon.job, job.kind, job.status) == (job, "campaign_message", "queued")
    assert later.status == "scheduled"
    assert not Notification.objects.exists()  # the job sends, not the beat


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_start_a_due_campaign_once(parallel: Any) -> None:
    _, staff = staff_with("economy.send_campaign")
    campaign = due(create(staff, send_at=datetime.now(UTC) + timedelta(hours=1)))

    started = parallel(4, lambda _index: campaign_start(campaign_id=campaign.pk))

    assert sorted(started) == [False, False, False, True]
    assert AdminJob.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_the_beat_either_cancels_or_lets_it_start_never_both(parallel: Any) -> None:
    _, staff = staff_with("economy.send_campaign")
    campaign = due(create(staff, send_at=datetime.now(UTC) + timedelta(hours=1)))

    def race(index: int) -> Any:
        if index == 0:
            return campaign_start(campaign_id=campaign.pk)
        try:
            return campaign_cancel(actor=staff, campaign_id=campaign.pk, reason="Wrong audience").status
        except CampaignNotCancellable:
            return "too late"

    started, cancelled = parallel(2, race)

    campaign.refresh_from_db()
    assert (started, cancelled) in [(True, "too late"), (False, "cancelled")]
    assert campaign.status == ("sending" if started else "cancelled")
    assert AdminJob.objects.count() == (1 if started else 0)


def test_a_draft_is_kept_until_it_is_scheduled_and_then_starts_when_due(sender: Any) -> None:
    with time_machine.travel(NOON, tick=False):
        draft = create(sender, draft=True)
        assert (draft.status, draft.scheduled_at) == ("draft", None)
        assert campaigns_start() == {"started": []}

        scheduled = campaign_schedule(
            actor=sender, campaign_id=draft.pk, send_at=NOON + timedelta(minutes=30), reason="Approved"
        )
        assert (scheduled.status, scheduled.scheduled_at) == ("scheduled", NOON + timedelta(minutes=30))
        record = AuditLog.objects.get(action="campaign_schedule")
        assert (record.actor, record.reason, record.data["from"]) == (sender, "Approved", "draft")

    with time_machine.travel(NOON + timedelta(minutes=31), tick=False):
        assert campaigns_start() == {"started": [draft.pk]}


def test_scheduling_for_now_starts_at_once(sender: Any) -> None:
    draft = create(sender, draft=True)

    sent = campaign_schedule(actor=sender, campaign_id=draft.pk, reason="Go")

    assert sent.status == "sending" and sent.job_id is not None


def test_a_scheduled_campaign_cancelled_is_never_started(sender: Any) -> None:
    with time_machine.travel(NOON, tick=False):
        campaign = create(sender, send_at=NOON + timedelta(minutes=10))
        cancelled = campaign_cancel(actor=sender, campaign_id=campaign.pk, reason="Festival postponed")

    assert (cancelled.status, cancelled.cancelled_by, cancelled.cancelled_at) == ("cancelled", sender, NOON)
    record = AuditLog.objects.get(action="campaign_cancel")
    assert (record.actor, record.reason, record.data["from"]) == (sender, "Festival postponed", "scheduled")
    with time_machine.travel(NOON + timedelta(hours=1), tick=False):
        assert campaigns_start() == {"started": []}
    campaign_deliver(campaign_id=campaign.pk)  # a stray task changes nothing either
    assert not AdminJob.objects.exists()
    assert not Notification.objects.exists()
    with pytest.raises(CampaignNotSchedulable):
        campaign_schedule(actor=sender, campaign_id=campaign.pk, reason="Again")


@pytest.mark.parametrize("status", ["sending", "sent", "failed", "cancelled"])
def test_a_campaign_past_its_schedule_cannot_be_cancelled(sender: Any, status: str) -> None:
    campaign = create(sender, draft=True)
    Campaign.objects.filter(pk=campaign.pk).update(status=status)

    with pytest.raises(CampaignNotCancellable) as refused:
        campaign_cancel(actor=sender, campaign_id=campaign.pk, reason="Too late")

    assert refused.value.details == {"state": status}
    assert refused.value.status == 409
    campaign.refresh_from_db()
    assert campaign.status == status
    assert not AuditLog.objects.filter(action="campaign_cancel").exists()


def test_a_sent_campaign_cannot_be_cancelled(sender: Any) -> None:
    campaign = create(sender)
    campaign_deliver(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == "sent"

    with pytest.raises(CampaignNotCancellable):
        campaign_cancel(actor=sender, campaign_id=campaign.pk, reason="Oops")

    campaign.refresh_from_db()
    assert campaign.status == "sent"


@pytest.mark.parametrize(
    "held",
    [
        ("economy.view_campaign",),
        ("economy.send_campaign",),  # the campaign carries a reward: grant_campaign too
    ],
)
def test_staff_without_the_permission_the_campaign_needs_cannot_cancel_or_schedule_it(
    sender: Any, held: tuple[str, ...]
) -> None:
    campaign = create(sender, bundle={"gold": 100}, send_at=datetime.now(UTC) + timedelta(hours=1))
    _, clerk = staff_with(*held)

    with pytest.raises(StaffPermissionRequired):
        campaign_cancel(actor=clerk, campaign_id=campaign.pk, reason="No")
    with pytest.raises(StaffPermissionRequired):
        campaign_schedule(actor=clerk, campaign_id=campaign.pk, reason="Now")

    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert not AuditLog.objects.exclude(action="campaign_create").exists()
