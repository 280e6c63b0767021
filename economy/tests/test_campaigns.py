"""Reward campaigns (issue 15, batch work): one bundle to many players, each through the
ledger's grant under ``campaign:{campaign}:{player}``, so however often the grants run -- a
task delivered twice, two runs at once -- every player is paid exactly once; one audit record
per campaign; nothing at all without ``economy.grant_campaign``."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db.models import Count, Sum

from accounts.tests.factories import UserFactory, players_in_bulk
from accounts.tests.staff import staff_with
from casino.jobs import job_run
from casino.models import AdminJob, AuditLog
from casino.permissions import StaffPermissionRequired
from economy.enums import Currency, LedgerReason
from economy.exceptions import CampaignWithoutPlayers, InvalidBundle
from economy.models import LedgerEntry, RewardCampaign, Wallet
from economy.services import campaigns as campaign_services
from economy.services.campaigns import (
    campaign_create,
    campaign_identifiers,
    campaign_run,
    campaign_targets_resolve,
)
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db

BUNDLE = {"gold": 500, "gems": 5, "xp": 50}


@pytest.fixture
def manager() -> Any:
    _, staff = staff_with("economy.grant_campaign")
    return staff


def start(manager: Any, players: list[int], **overrides: Any) -> RewardCampaign:
    arguments: dict[str, Any] = {
        "actor": manager,
        "name": "Spring gift",
        "bundle": BUNDLE,
        "reason": "Sorry for Tuesday's outage",
        "user_ids": players,
        "target_description": "test list",
    }
    return campaign_create(**{**arguments, **overrides})


def campaign_entries(campaign: RewardCampaign) -> Any:
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


def test_creating_a_campaign_records_who_why_the_bundle_and_the_count_once_and_queues_its_job(
    manager: Any, django_capture_on_commit_callbacks: Any
) -> None:
    players = [UserFactory().pk for _ in range(3)]

    with django_capture_on_commit_callbacks() as queued:
        campaign = start(manager, [*players, players[0]], unknown_ids=["ghost"])

    assert campaign.user_ids == players  # each once
    assert (campaign.gold, campaign.gems, campaign.xp, campaign.unknown_count) == (500, 5, 50, 1)
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
        "players": 3,
        "unknown_ids": 1,
        "target": "test list",
        "job_id": job.pk,
    }
    assert not LedgerEntry.objects.filter(reason=LedgerReason.CAMPAIGN_REWARD).exists()  # not before the job runs


def test_a_staff_member_without_the_permission_creates_and_grants_nothing() -> None:
    _, support = staff_with("accounts.view_user", "economy.view_wallet")
    player = UserFactory()

    with pytest.raises(StaffPermissionRequired):
        start(support, [player.pk])

    assert not RewardCampaign.objects.exists()
    assert not AdminJob.objects.exists()
    assert not AuditLog.objects.exists()
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"bundle": {"gold": 0, "gems": 0}}, InvalidBundle),
        ({"bundle": {"vip_points": 10}}, InvalidBundle),
        ({"bundle": {"gold": -5}}, InvalidBundle),
        ({"user_ids": []}, CampaignWithoutPlayers),
    ],
)
def test_a_campaign_without_anything_to_grant_or_anyone_to_grant_it_to_is_refused(
    manager: Any, overrides: dict[str, Any], refusal: type[Exception]
) -> None:
    player = UserFactory()

    with pytest.raises(refusal):
        start(manager, [player.pk], **overrides)

    assert not RewardCampaign.objects.exists()
    assert not AuditLog.objects.exists()


# --- running it -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # one transaction per grant, as in production
def test_a_thousand_players_are_each_granted_once_even_when_the_task_runs_twice() -> None:
    # Given a campaign for 1,000 players
    _, manager = staff_with("economy.grant_campaign")
    players = players_in_bulk(1000)
    campaign = start(manager, [player.pk for player in players])

    # When its job runs, and its task is delivered again (once as a duplicate of the finished job,
    # once as a redelivery of an unfinished one: the campaign's grants run again)
    started = time.monotonic()
    assert job_run(job_id=campaign.job_id) == "done"
    first_run_seconds = time.monotonic() - started
    assert job_run(job_id=campaign.job_id) == "done"  # a duplicate of a finished job: not run again
    AdminJob.objects.filter(pk=campaign.job_id).update(status="running")
    assert job_run(job_id=campaign.job_id) == "done"

    # Then every player got the bundle exactly once, through the ledger
    entries = campaign_entries(campaign)
    assert entries.values("wallet_id").distinct().count() == 1000
    assert {row["currency"]: row["n"] for row in entries.values("currency").annotate(n=Count("id"))} == {
        "gold": 1000,
        "gems": 1000,
        "xp": 1000,
    }
    assert Wallet.objects.filter(pk__in=[p.pk for p in players]).aggregate(Sum("gold"))["gold__sum"] == 500 * 1000
    assert set(Wallet.objects.filter(pk__in=[p.pk for p in players]).values_list("gold", "gems", "xp")) == {
        (500, 5, 50)
    }
    # And the job shows the report of the last run: nothing new, everyone already granted
    job = AdminJob.objects.get(pk=campaign.job_id)
    assert (job.status, job.done, job.total, job.errors) == ("done", 1000, 1000, 0)
    assert job.result["granted_now"] == 0
    assert job.result["already_granted"] == 1000
    assert job.result["paid_total"] == 1000
    assert "Players holding the grant, by the ledger: 1000 of 1000." in job.report
    campaign.refresh_from_db()
    assert campaign.status == "done"
    assert first_run_seconds < 30, first_run_seconds  # about 1,000 small transactions


def test_a_second_run_that_misses_the_quick_check_is_still_refused_by_the_ledger(
    manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a campaign already granted to its players
    players = [player_with_wallet(gold=10) for _ in range(5)]
    campaign = start(manager, [player.pk for player in players])
    first = campaign_run(campaign_id=campaign.pk)
    assert (first.granted_now, first.already_granted) == (5, 0)

    # When a run does not see the earlier grants in its first read (a run in parallel paid them after it)
    monkeypatch.setattr(campaign_services, "campaign_paid_players", lambda campaign_id: set())
    again = campaign_run(campaign_id=campaign.pk)

    # Then the ledger's key replays each grant: nothing is paid twice
    assert (again.granted_now, again.already_granted) == (0, 5)
    assert set(Wallet.objects.filter(pk__in=[p.pk for p in players]).values_list("gold", flat=True)) == {510}
    assert campaign_entries(campaign).filter(currency=Currency.GOLD).count() == 5


def test_a_grant_repays_a_players_debt_first_like_any_grant(manager: Any) -> None:
    player = player_with_wallet()
    Wallet.objects.filter(pk=player.pk).update(gold_debt=200)
    campaign = start(manager, [player.pk], bundle={"gold": 500})

    campaign_run(campaign_id=campaign.pk)

    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gold, wallet.gold_debt) == (300, 0)


def test_a_player_who_no_longer_exists_is_reported_and_the_others_are_paid(manager: Any) -> None:
    kept, gone = UserFactory(), UserFactory()
    campaign = start(manager, [kept.pk, gone.pk], bundle={"gems": 3})
    gone.delete()  # no wallet yet, so the account could go

    job_run(job_id=campaign.job_id)

    job = AdminJob.objects.get(pk=campaign.job_id)
    assert (job.result["granted_now"], job.result["missing"], job.errors) == (1, 1, 1)
    assert "1 player(s) no longer exist" in job.report
    assert Wallet.objects.get(pk=kept.pk).gems == 3


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_time_grant_each_player_once(parallel: Any) -> None:
    # Given a campaign for 200 players
    _, manager = staff_with("economy.grant_campaign")
    players = players_in_bulk(200, prefix="race")
    campaign = start(manager, [player.pk for player in players], bundle={"gold": 100})

    # When two workers run it at the same moment (the quick check sees nothing paid in both)
    reports = parallel(2, lambda _index: campaign_run(campaign_id=campaign.pk))

    # Then each player was paid once, by one run or the other
    assert not [report for report in reports if isinstance(report, Exception)], reports
    assert sum(report.granted_now for report in reports) == 200
    assert sum(report.already_granted for report in reports) == 200
    assert campaign_entries(campaign).count() == 200
    assert set(Wallet.objects.filter(pk__in=[p.pk for p in players]).values_list("gold", flat=True)) == {100}
