"""Campaigns, created and sent by the services: who an uploaded list names, what creating one
checks and records (permissions by content, one audit record, the job queued), and the
reward reaching each player once through the ledger under ``campaign:{campaign}:{player}``.
The 1,000-player runs, retries, restarts and opt-outs are in ``test_campaigns_delivery.py``;
scheduling and cancelling in ``test_campaigns_schedule.py``."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction

from accounts.tests.factories import UserFactory
from accounts.tests.staff import staff_with
from casino.jobs import job_run
from casino.models import AdminJob, AuditLog
from casino.permissions import StaffPermissionRequired
from economy.enums import Currency, LedgerReason
from economy.exceptions import (
    CampaignInvalid,
    CampaignNothingToSend,
    CampaignWithoutPlayers,
    InvalidBundle,
    ReasonRequired,
)
from economy.models import Campaign, CampaignDelivery, LedgerEntry, Wallet
from economy.services.campaign_delivery import campaign_deliver, campaign_paid_players
from economy.services.campaigns import (
    campaign_create,
    campaign_identifiers,
    campaign_key,
    campaign_reference,
    campaign_targets_resolve,
)
from economy.services.ledger import wallet_grant
from economy.tests.factories import player_with_wallet
from realtime.models import Notification

pytestmark = pytest.mark.django_db

BUNDLE = {"gold": 500, "gems": 5, "xp": 50}


@pytest.fixture
def manager() -> Any:
    _, staff = staff_with("economy.grant_campaign", "economy.send_campaign")
    return staff


def start(manager: Any, players: list[int], **overrides: Any) -> Campaign:
    arguments: dict[str, Any] = {
        "actor": manager,
        "title": "Spring gift",
        "bundle": BUNDLE,
        "reason": "Sorry for Tuesday's outage",
        "user_ids": players,
        "target_description": "test list",
    }
    return campaign_create(**{**arguments, **overrides})


def campaign_entries(campaign: Campaign) -> Any:
    return LedgerEntry.objects.filter(reference=f"campaign:{campaign.pk}", reason=LedgerReason.CAMPAIGN_REWARD)


# --- who: the uploaded list -----------------------------------------------------------------


def test_an_uploaded_list_is_read_as_csv_or_lines_once_each_with_its_header_skipped() -> None:
    text = 'site_id\n"alice",bob\r\nCarol; alice\n\n  dave  \n'

    assert campaign_identifiers(text) == ["alice", "bob", "Carol", "dave"]


def test_login_ids_are_found_whatever_their_case_and_the_rest_is_reported_unknown() -> None:
    alice = UserFactory(site_id="Alice_01")
    bob = UserFactory(site_id="bob-02")

    targets = campaign_targets_resolve(identifiers=["alice_01", "nobody", "BOB-02", "Alice_01"], by="site_id")

    assert targets.user_ids == [alice.pk, bob.pk]
    assert targets.unknown == ["nobody"]


def test_user_ids_must_be_numbers_of_existing_accounts() -> None:
    alice = UserFactory()

    targets = campaign_targets_resolve(identifiers=[str(alice.pk), "99999999", "abc"], by="user_id")

    assert (targets.user_ids, targets.unknown) == ([alice.pk], ["99999999", "abc"])


# --- creating one -------------------------------------------------------------------------------


def test_creating_a_campaign_records_who_why_what_and_to_whom_once_and_queues_its_job(
    manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    players = [UserFactory().pk for _ in range(3)]

    with django_capture_on_commit_callbacks() as queued:
        campaign = start(
            manager,
            [*players, players[0]],
            unknown_ids=["ghost"],
            message="A gift for you",
            channels=["in_app", "email"],
        )

    assert campaign.user_ids == players  # each once
    assert (campaign.gold, campaign.gems, campaign.xp, campaign.unknown_count) == (500, 5, 50, 1)
    assert (campaign.in_app, campaign.push, campaign.email, campaign.status) == (True, False, True, "sending")
    job = AdminJob.objects.get()
    assert (campaign.job, job.kind, job.status, job.total, job.created_by) == (
        job,
        "reward_campaign",
        "queued",
        3,
        manager,
    )
    assert len(queued) == 1  # the job's task, queued on commit
    record = AuditLog.objects.get()
    assert (record.action, record.actor, record.reason) == ("campaign_create", manager, "Sorry for Tuesday's outage")
    assert record.data == {
        "bundle": BUNDLE,
        "channels": ["in_app", "email"],
        "target": "selection",
        "segment_id": None,
        "description": "test list",
        "players": 3,
        "unknown_ids": 1,
        "status": "sending",
        "scheduled_at": campaign.scheduled_at.isoformat(),
        "job_id": job.pk,
    }
    assert not LedgerEntry.objects.filter(reason=LedgerReason.CAMPAIGN_REWARD).exists()  # not before the job runs
    assert not CampaignDelivery.objects.exists()  # the audience is frozen when the job starts


def test_a_message_without_a_reward_runs_as_a_message_job() -> None:
    _, sender = staff_with("economy.send_campaign")
    player = UserFactory()

    campaign = start(sender, [player.pk], bundle={}, message="See you at the weekend event", channels=["in_app"])

    assert AdminJob.objects.get().kind == "campaign_message"
    assert campaign.bundle == {}


@pytest.mark.parametrize(
    ("held", "overrides"),
    [
        (("accounts.view_user", "economy.view_wallet"), {}),  # neither
        (("economy.send_campaign",), {}),  # a reward needs grant_campaign
        (("economy.grant_campaign",), {"message": "Hello", "channels": ["in_app"]}),  # a message needs send_campaign
        (("economy.grant_campaign",), {"bundle": {}, "message": "Hello", "channels": ["email"]}),
    ],
)
def test_a_staff_member_without_the_permission_the_content_needs_creates_and_grants_nothing(
    held: tuple[str, ...], overrides: dict[str, Any]
) -> None:
    _, staff = staff_with(*held)
    player = UserFactory()

    with pytest.raises(StaffPermissionRequired):
        start(staff, [player.pk], **overrides)

    assert not Campaign.objects.exists()
    assert not AdminJob.objects.exists()
    assert not AuditLog.objects.exists()
    assert not LedgerEntry.objects.exists()


def test_a_reward_alone_needs_only_the_grant_permission_as_the_reward_campaigns_did() -> None:
    _, granter = staff_with("economy.grant_campaign")
    player = UserFactory()

    campaign = start(granter, [player.pk])

    assert campaign.channels == [] and campaign.status == "sending"


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"bundle": {"gold": 0, "gems": 0}}, CampaignNothingToSend),
        ({"bundle": {"vip_points": 10}}, InvalidBundle),
        ({"bundle": {"gold": -5}}, InvalidBundle),
        ({"user_ids": []}, CampaignWithoutPlayers),
        ({"reason": "  "}, ReasonRequired),
        ({"channels": ["in_app"]}, CampaignInvalid),  # no message
        ({"channels": ["push"], "message": "Hi"}, CampaignInvalid),  # push without in-app
        ({"channels": ["sms"], "message": "Hi"}, CampaignInvalid),
        ({"channels": ["in_app"], "message": "x" * 1001}, CampaignInvalid),
        ({"channels": ["in_app"], "message": "Hi", "title": " "}, CampaignInvalid),
        ({"target": "segment"}, CampaignInvalid),  # no segment
    ],
)
def test_an_incomplete_campaign_is_refused_and_creates_nothing(
    manager: Any, overrides: dict[str, Any], refusal: type[Exception]
) -> None:
    player = UserFactory()

    with pytest.raises(refusal):
        start(manager, [player.pk], **overrides)

    assert not Campaign.objects.exists()
    assert not AuditLog.objects.exists()


# --- sending the reward ------------------------------------------------------------------------------


def test_each_player_is_granted_the_bundle_once_and_the_job_reports_it(manager: Any) -> None:
    players = [player_with_wallet(gold=10) for _ in range(3)]
    campaign = start(manager, [player.pk for player in players])

    assert job_run(job_id=campaign.job_id) == "done"
    AdminJob.objects.filter(pk=campaign.job_id).update(status="running")  # the task delivered again
    assert job_run(job_id=campaign.job_id) == "done"

    assert set(Wallet.objects.filter(pk__in=[p.pk for p in players]).values_list("gold", "gems", "xp")) == {
        (510, 5, 50)
    }
    assert campaign_entries(campaign).filter(currency=Currency.GOLD).count() == 3
    assert campaign_paid_players(campaign.pk) == {p.pk for p in players}
    job = AdminJob.objects.get(pk=campaign.job_id)
    assert (job.status, job.done, job.total, job.errors) == ("done", 3, 3, 0)
    assert (job.result["rewards_granted"], job.result["processed_now"], job.result["status"]) == (3, 0, "sent")
    assert "Rewards granted, by the delivery records: 3 of 3" in job.report
    campaign.refresh_from_db()
    assert (campaign.status, campaign.targeted) == ("sent", 3)
    assert AuditLog.objects.filter(action="campaign_sent").count() == 1
    assert not Notification.objects.exists()  # a reward alone sends no message


def test_a_player_granted_under_the_campaigns_key_before_is_not_paid_again(manager: Any) -> None:
    # Given a campaign still sending whose grant one player already holds (a reward campaign paid it
    # before the campaigns were reworked: same key)
    paid, other = player_with_wallet(), player_with_wallet()
    campaign = start(manager, [paid.pk, other.pk], bundle={"gold": 500})
    with transaction.atomic():
        wallet_grant(
            user=paid.pk,
            bundle={"gold": 500},
            reason=LedgerReason.CAMPAIGN_REWARD,
            idempotency_key=campaign_key(campaign.pk, paid.pk),
            reference=campaign_reference(campaign.pk),
        )

    # When it sends
    campaign_deliver(campaign_id=campaign.pk)

    # Then the ledger's key replayed the earlier grant: each holds 500 once
    assert list(Wallet.objects.filter(pk__in=[paid.pk, other.pk]).values_list("gold", flat=True)) == [500, 500]
    assert campaign_entries(campaign).count() == 2
    assert set(CampaignDelivery.objects.values_list("reward", flat=True)) == {"granted"}


def test_a_grant_repays_a_players_debt_first_like_any_grant(manager: Any) -> None:
    player = player_with_wallet()
    Wallet.objects.filter(pk=player.pk).update(gold_debt=200)
    campaign = start(manager, [player.pk], bundle={"gold": 500})

    campaign_deliver(campaign_id=campaign.pk)

    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gold, wallet.gold_debt) == (300, 0)


def test_a_player_who_no_longer_exists_is_reported_and_the_others_are_paid(manager: Any) -> None:
    kept, gone = UserFactory(), UserFactory()
    campaign = start(manager, [kept.pk, gone.pk], bundle={"gems": 3})
    gone.delete()  # no wallet yet, so the account could go

    job_run(job_id=campaign.job_id)

    job = AdminJob.objects.get(pk=campaign.job_id)
    assert (job.result["rewards_granted"], job.result["missing"], job.errors) == (1, 1, 1)
    assert "1 player(s) no longer exist" in job.report
    assert Wallet.objects.get(pk=kept.pk).gems == 3
