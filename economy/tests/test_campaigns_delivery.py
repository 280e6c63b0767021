"""Sending a campaign: each player of the target reached exactly once -- one inbox
notification, one grant in the ledger, at most one email -- however the job runs: delivered
again after it finished, redelivered after its worker was killed inside a batch or in the
middle of the emails, or run by two workers at once. Players' channel switches,
self-exclusion and bans are respected; the email really goes over SMTP (a loopback server);
Web Push reaches a loopback push service."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, F, Sum, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import UserFactory, players_in_bulk
from accounts.tests.staff import staff_with
from casino.jobs import job_run
from casino.models import AdminJob, AuditLog
from economy.enums import LedgerReason
from economy.models import Campaign, CampaignDelivery, LedgerEntry, Segment, Wallet
from economy.services import campaign_delivery, campaign_emails
from economy.services.campaign_delivery import campaign_counts, campaign_deliver
from economy.services.campaigns import campaign_create
from realtime.models import Notification, NotificationSettings, OutboxEvent, PushSubscription
from realtime.notifications.services import notification_mark_read
from realtime.tests.recording import emitted
from realtime.tests.test_web_push import Browser, push_service, vapid  # noqa: F401 - fixtures

REWARD = {"gold": 100}


class WorkerKilled(BaseException):
    """What a killed worker looks like to the code it ran: it stops where it was, and no
    ``except Exception`` (the job machinery's) catches it."""


def manager() -> User:
    _, staff = staff_with("economy.grant_campaign", "economy.send_campaign")
    return staff


def recently_seen_segment(name: str = "Active this month") -> Segment:
    now = timezone.now()
    return Segment.objects.create(name=name, seen_within_days=30, created_at=now, updated_at=now)


def segment_of(count: int, prefix: str) -> tuple[Segment, list[int]]:
    """``count`` players seen today, one in ten with an email address, and a segment of the
    players seen this month; a few lapsed players stay outside it."""
    players = [player.pk for player in players_in_bulk(count, prefix=prefix)]
    outsiders = [player.pk for player in players_in_bulk(5, prefix=f"{prefix}lapsed")]
    User.objects.filter(pk__in=players).update(last_seen_at=timezone.now())
    User.objects.filter(pk__in=players[::10]).update(email=Concat(F("site_id"), Value("@players.example")))
    User.objects.filter(pk__in=outsiders).update(last_seen_at=timezone.now() - timedelta(days=90))
    return recently_seen_segment(), players


def send(staff: User, *, segment: Segment | None = None, user_ids: list[int] | None = None, **fields: Any) -> Campaign:
    arguments: dict[str, Any] = {
        "actor": staff,
        "title": "Weekend bonus",
        "message": "Spin the wheel this weekend: double XP on every game.",
        "channels": ["in_app", "email"],
        "bundle": REWARD,
        "reason": "Weekend retention push",
    }
    if segment is not None:
        arguments |= {"target": "segment", "segment": segment}
    else:
        arguments |= {"user_ids": user_ids or [], "target_description": "test list"}
    return campaign_create(**{**arguments, **fields})


def kill_on_call(monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, call: int) -> None:
    """Make ``module.<name>`` kill the worker on its ``call``-th call."""
    real = getattr(module, name)
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call:
            raise WorkerKilled(f"worker killed in {name}, call {call}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, dying)


def notifications_per_player(campaign: Campaign) -> Counter[int]:
    rows = Notification.objects.filter(kind="campaign", data__campaign_id=campaign.pk)
    return Counter(dict(rows.values_list("user_id").annotate(n=Count("id")).values_list("user_id", "n")))


def gold_grants(campaign: Campaign) -> Any:
    return LedgerEntry.objects.filter(
        reference=f"campaign:{campaign.pk}", reason=LedgerReason.CAMPAIGN_REWARD, currency="gold"
    )


# --- 1,000 players, a retry and two killed workers -------------------------------------------------


@pytest.mark.django_db(transaction=True)  # one transaction per batch, as in production
def test_a_segment_of_1000_players_is_reached_once_through_retries_and_workers_killed_mid_batch(
    smtp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 1,000 players in a segment (and 5 lapsed players outside it), and a campaign with a
    # message in the inbox and by email, and a reward
    segment, players = segment_of(1000, "seg")
    campaign = send(manager(), segment=segment)

    # When the worker is killed in the middle of the third batch (after 250 players' grants) ...
    kill_on_call(monkeypatch, campaign_delivery, "_grant", 250)
    with pytest.raises(WorkerKilled):
        job_run(job_id=campaign.job_id)
    monkeypatch.undo()
    # ... then the batch it was in left nothing behind: two batches done, the third rolled back
    assert CampaignDelivery.objects.filter(campaign=campaign, status="done").count() == 200
    assert gold_grants(campaign).count() == 200
    assert sum(notifications_per_player(campaign).values()) == 200
    assert len(smtp_server.messages) == 20  # one player in ten has an address

    # When the restarted worker is killed during the SMTP conversation of its third email ...
    kill_on_call(monkeypatch, campaign_emails, "_email_send_one", 3)
    with pytest.raises(WorkerKilled):
        job_run(job_id=campaign.job_id)
    monkeypatch.undo()
    # ... two of the ten emails it had claimed left, and the ten stay claimed
    assert len(smtp_server.messages) == 22
    assert CampaignDelivery.objects.filter(campaign=campaign, email="sending").count() == 10

    # ... and the task is delivered again (the 700 players left: the ledger's grant is 4 statements a
    # player -- wallet lock, entry with its key check, balance, outbox -- and the rest goes
    # in bulk, a few dozen statements a batch of 100), then once more after the job is done, and again
    # as if the broker had redelivered it while running
    with CaptureQueriesContext(connection) as queries:
        assert job_run(job_id=campaign.job_id) == "done"
    assert len(queries) < 700 * 4 + 7 * 40, len(queries)
    assert job_run(job_id=campaign.job_id) == "done"
    AdminJob.objects.filter(pk=campaign.job_id).update(status="running")
    assert job_run(job_id=campaign.job_id) == "done"

    # Then every player of the segment, and nobody else, has one notification and one grant
    per_player = notifications_per_player(campaign)
    assert set(per_player) == set(players)
    assert set(per_player.values()) == {1}
    grants = gold_grants(campaign)
    assert grants.count() == 1000
    assert set(grants.values_list("wallet_id", flat=True)) == set(players)
    assert Wallet.objects.filter(pk__in=players).aggregate(total=Sum("gold"))["total"] == 100 * 1000
    # And every email went at most once: the ten the killed worker had claimed are unconfirmed, not
    # sent again (two of them had left), the other 90 were sent
    recipients = Counter(address for message in smtp_server.messages for address in message.envelope_to)
    assert len(recipients) == 92
    assert set(recipients.values()) == {1}
    unconfirmed = CampaignDelivery.objects.filter(campaign=campaign, email="unconfirmed")
    assert len([row for row in unconfirmed.select_related("user") if row.user.email in recipients]) == 2
    # And the counts, the campaign, its job and its audit say so
    counts = campaign_counts(campaign.pk)
    assert (counts.targeted, counts.processed, counts.in_app_sent, counts.rewards_granted) == (1000, 1000, 1000, 1000)
    assert (counts.email_sent, counts.email_unconfirmed, counts.email_no_email) == (90, 10, 900)
    assert counts.failed == 10
    campaign.refresh_from_db()
    assert (campaign.status, campaign.targeted) == ("sent", 1000)
    job = AdminJob.objects.get(pk=campaign.job_id)
    assert (job.status, job.done, job.total) == ("done", 1000, 1000)
    assert job.result["processed_now"] == 0  # the last delivery found nothing left to do
    assert AuditLog.objects.filter(action="campaign_sent", target_id=str(campaign.pk)).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_campaign_at_once_reach_each_player_once(parallel: Any) -> None:
    # Given a campaign with an inbox message and a reward for 300 players
    segment, players = segment_of(300, "race")
    campaign = send(manager(), segment=segment, channels=["in_app"])

    # When two workers run it at the same moment
    with emitted("notification") as live:
        reports = parallel(2, lambda _index: campaign_deliver(campaign_id=campaign.pk))

    # Then they shared the batches, and each player was reached once
    assert not [report for report in reports if isinstance(report, Exception)], reports
    assert sum(report.processed_now for report in reports) == 300
    assert all(report.processed_now < 300 for report in reports)  # both did some of the work
    assert set(notifications_per_player(campaign).values()) == {1}
    assert len(notifications_per_player(campaign)) == 300
    assert gold_grants(campaign).count() == 300
    assert set(Wallet.objects.filter(pk__in=players).values_list("gold", flat=True)) == {100}
    # one socket event each, carrying its row's key (the inbox row is the record: no outbox row)
    inbox = dict(Notification.objects.filter(user__in=players).values_list("user_id", "pk"))
    assert sorted((event.user_id, event.data["id"]) for event in live) == sorted(inbox.items())
    assert not OutboxEvent.objects.filter(type="notification").exists()
    campaign.refresh_from_db()
    assert campaign.status == "sent"
    assert AuditLog.objects.filter(action="campaign_sent").count() == 1


# --- who gets what -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_channel_switches_self_exclusion_and_bans_are_respected(smtp_server: Any) -> None:
    # Given players: one accepting everything, one who switched the inbox off, one who switched
    # email off, one without an address, one self-excluded, one banned
    now = timezone.now()
    everything = UserFactory(email="all@players.example")
    no_inbox = UserFactory(email="noinbox@players.example")
    no_mail = UserFactory(email="nomail@players.example")
    no_address = UserFactory(email="")
    excluded = UserFactory(email="excluded@players.example", self_excluded_until=now + timedelta(days=30))
    banned = UserFactory(email="banned@players.example", is_active=False)
    NotificationSettings.objects.create(user=no_inbox, in_app=False, updated_at=now)
    NotificationSettings.objects.create(user=no_mail, email=False, updated_at=now)
    players = [everything, no_inbox, no_mail, no_address, excluded, banned]
    campaign = send(manager(), user_ids=[player.pk for player in players])

    # When it is sent
    campaign_deliver(campaign_id=campaign.pk)

    # Then each got what their settings allow, and the excluded and banned players nothing at all
    outcome = {
        row.user_id: (row.in_app, row.email, row.reward, row.skipped)
        for row in CampaignDelivery.objects.filter(campaign=campaign)
    }
    assert outcome == {
        everything.pk: ("sent", "sent", "granted", ""),
        no_inbox.pk: ("opted_out", "sent", "granted", ""),
        no_mail.pk: ("sent", "opted_out", "granted", ""),
        no_address.pk: ("sent", "no_email", "granted", ""),
        excluded.pk: ("", "", "", "self_excluded"),
        banned.pk: ("", "", "", "banned"),
    }
    assert set(notifications_per_player(campaign)) == {everything.pk, no_mail.pk, no_address.pk}
    assert sorted(address for message in smtp_server.messages for address in message.envelope_to) == [
        "all@players.example",
        "noinbox@players.example",
    ]
    assert set(gold_grants(campaign).values_list("wallet_id", flat=True)) == {
        everything.pk,
        no_inbox.pk,
        no_mail.pk,
        no_address.pk,
    }
    assert not Wallet.objects.filter(pk__in=[excluded.pk, banned.pk], gold__gt=0).exists()
    counts = campaign_counts(campaign.pk)
    assert (counts.in_app_sent, counts.in_app_opted_out, counts.email_sent, counts.email_opted_out) == (3, 1, 2, 1)
    assert (counts.email_no_email, counts.self_excluded, counts.banned, counts.rewards_granted) == (1, 1, 1, 4)
    assert counts.failed == 0


@pytest.mark.django_db
def test_the_email_reaches_the_smtp_server_with_the_recipient_title_message_and_reward(smtp_server: Any) -> None:
    player = UserFactory(nickname="LuckyLuke", email="luke@players.example")
    campaign = send(manager(), user_ids=[player.pk], channels=["email"], bundle={"gold": 2500, "gems": 10})

    campaign_deliver(campaign_id=campaign.pk)

    [message] = smtp_server.to("luke@players.example")
    assert message.envelope_to == ["luke@players.example"]
    assert message["Subject"] == "Weekend bonus"
    assert message["To"] == "luke@players.example"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "LuckyLuke" in body
        assert "Spin the wheel this weekend: double XP on every game." in body
        assert "2,500 gold, 10 gems" in body
        assert "notification settings" in body  # how to switch campaign emails off
    assert not Notification.objects.exists()  # email only


@pytest.mark.django_db
def test_an_smtp_server_that_refuses_fails_that_email_and_never_sends_it_again(settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    player = UserFactory(email="someone@players.example")
    campaign = send(manager(), user_ids=[player.pk], channels=["in_app", "email"])

    campaign_deliver(campaign_id=campaign.pk)
    campaign_deliver(campaign_id=campaign.pk)

    row = CampaignDelivery.objects.get(campaign=campaign)
    assert (row.in_app, row.email, row.reward) == ("sent", "failed", "granted")
    assert row.error.startswith("email: ")
    counts = campaign_counts(campaign.pk)
    assert (counts.email_failed, counts.failed) == (1, 1)
    campaign.refresh_from_db()
    assert campaign.status == "sent"  # the player got the rest


@pytest.mark.django_db
def test_a_message_without_a_reward_touches_no_wallet() -> None:
    player = UserFactory()
    campaign = send(manager(), user_ids=[player.pk], bundle={}, channels=["in_app"])

    campaign_deliver(campaign_id=campaign.pk)

    assert not LedgerEntry.objects.filter(reason=LedgerReason.CAMPAIGN_REWARD).exists()
    [notification] = Notification.objects.filter(user=player)
    assert (notification.kind, notification.title) == ("campaign", "Weekend bonus")
    assert notification.data == {"campaign_id": campaign.pk, "reward": {}}
    assert CampaignDelivery.objects.get().reward == ""


@pytest.mark.django_db
def test_opened_counts_the_players_who_read_the_campaigns_notification() -> None:
    players = [UserFactory() for _ in range(3)]
    campaign = send(manager(), user_ids=[player.pk for player in players], channels=["in_app"], bundle={})
    campaign_deliver(campaign_id=campaign.pk)

    for player in players[:2]:
        notification = Notification.objects.get(user=player, kind="campaign")
        notification_mark_read(user=player, notification_id=notification.pk)

    assert campaign_counts(campaign.pk).opened == 2


@pytest.mark.django_db
def test_a_segment_is_evaluated_when_the_campaign_starts_sending() -> None:
    # Given a campaign scheduled for tomorrow to players seen this month
    segment = recently_seen_segment()
    early = UserFactory(last_seen_at=timezone.now())
    campaign = send(
        manager(), segment=segment, channels=["in_app"], bundle={}, send_at=timezone.now() + timedelta(days=1)
    )
    # When another player comes back before it starts, and one lapses
    late = UserFactory(last_seen_at=timezone.now())
    User.objects.filter(pk=early.pk).update(last_seen_at=timezone.now() - timedelta(days=60))
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")

    campaign_deliver(campaign_id=campaign.pk)

    # Then it reached who was in the segment when it started
    assert set(notifications_per_player(campaign)) == {late.pk}


@pytest.mark.django_db
def test_a_campaign_whose_segment_was_deleted_before_it_started_fails_and_sends_nothing() -> None:
    segment = recently_seen_segment()
    UserFactory(last_seen_at=timezone.now())
    campaign = send(manager(), segment=segment, channels=["in_app"], bundle={}, send_at=timezone.now())
    segment.delete()

    report = campaign_deliver(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert (campaign.status, report.status) == ("failed", "failed")
    assert "segment was deleted" in campaign.error
    assert not Notification.objects.exists()


# --- Web Push ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_web_push_carries_the_campaigns_notification_to_the_players_browser_once(
    push_service: Any,  # noqa: F811 - the fixture
    vapid: str,  # noqa: F811 - the fixture
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given a player with a subscribed browser, one without, and one who switched push off
    browser = Browser()
    subscribed, bare, refuses = UserFactory(), UserFactory(), UserFactory()
    now = timezone.now()
    PushSubscription.objects.create(
        user=subscribed,
        endpoint=f"{push_service.url}/push/1",
        p256dh=browser.keys()["p256dh"],
        auth=browser.keys()["auth"],
        created_at=now,
        updated_at=now,
    )
    PushSubscription.objects.create(
        user=refuses, endpoint=f"{push_service.url}/push/2", p256dh="x", auth="y", created_at=now, updated_at=now
    )
    NotificationSettings.objects.create(user=refuses, push=False, updated_at=now)
    campaign = send(manager(), user_ids=[subscribed.pk, bare.pk, refuses.pk], channels=["in_app", "push"], bundle={})

    # When it is sent (Celery eager: the push goes out on commit), and sent again
    with django_capture_on_commit_callbacks(execute=True):
        campaign_deliver(campaign_id=campaign.pk)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_deliver(campaign_id=campaign.pk)

    # Then one push reached the subscribed browser, with the campaign's title and message
    assert [request["path"] for request in push_service.received] == ["/push/1"]
    payload = browser.decrypt(push_service.received[0]["body"])
    assert (payload["title"], payload["body"]) == (
        "Weekend bonus",
        "Spin the wheel this weekend: double XP on every game.",
    )
    pushes = dict(CampaignDelivery.objects.filter(campaign=campaign).values_list("user_id", "push"))
    assert pushes == {subscribed.pk: "sent", bare.pk: "no_device", refuses.pk: "opted_out"}
