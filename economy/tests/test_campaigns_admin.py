"""Reward campaigns in the back office: from an uploaded list of ids (live-ops, who may not see
players) or from the player list's selection, each landing on the campaign's job; refused,
with nothing created, to staff without ``economy.grant_campaign``."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.services.staff import staff_roles_sync
from accounts.tests.factories import UserFactory
from accounts.tests.staff import offered_actions, staff_with
from casino.jobs import job_run
from casino.models import AdminJob, AuditLog
from economy.models import RewardCampaign, Wallet

pytestmark = pytest.mark.django_db

NEW = "/admin/economy/rewardcampaign/new/"
CAMPAIGNS = "/admin/economy/rewardcampaign/"
USERS = "/admin/accounts/user/"


def member_of(role: str) -> tuple[Client, Any]:
    staff_roles_sync()
    staff = UserFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(staff)
    return client, staff


def campaign_form(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Spring gift",
        "gold": "1000",
        "gems": "0",
        "xp": "25",
        "reason": "Spring event compensation",
        "identifiers": "site_id",
        "ids_text": "",
        **overrides,
    }


def test_live_ops_grants_a_bundle_to_an_uploaded_list_and_lands_on_its_job() -> None:
    # Given a live-ops manager and a CSV of login ids (one unknown, one in another letter case)
    client, manager = member_of("live-ops")
    alice, bob = UserFactory(site_id="alice"), UserFactory(site_id="bob")
    upload = SimpleUploadedFile("spring.csv", b"site_id\nalice\nBOB\nnobody\n", content_type="text/csv")

    # When they start a campaign from the list
    assert client.get(CAMPAIGNS).status_code == 200
    assert NEW in client.get(CAMPAIGNS).content.decode()
    response = client.post(NEW, campaign_form(ids_file=upload))

    # Then the campaign and its job exist, and they land on the job's page
    campaign = RewardCampaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:casino_adminjob_change", args=[campaign.job_id])
    assert (campaign.user_ids, campaign.unknown_ids, campaign.created_by) == ([alice.pk, bob.pk], ["nobody"], manager)
    assert campaign.target_description == "uploaded list spring.csv of 3 site_id(s)"
    job_page = client.get(response["Location"])
    assert job_page.status_code == 200
    assert "Reward campaign #" in job_page.content.decode()
    # And once the job ran, both were paid and the report says so
    job_run(job_id=campaign.job_id)
    assert list(Wallet.objects.filter(pk__in=[alice.pk, bob.pk]).values_list("gold", "xp")) == [(1000, 25)] * 2
    report = client.get(response["Location"]).content.decode()
    assert (
        "Granted 2 player(s) now; 0 already had this campaign&#x27;s grant (skipped); 1 uploaded id(s) unknown"
        in report
    )


def test_a_list_of_nobody_known_is_refused_on_the_form_and_creates_nothing() -> None:
    client, _ = member_of("live-ops")

    response = client.post(NEW, campaign_form(identifiers="user_id", ids_text="99999991, 99999992"))

    assert response.status_code == 200
    assert "A reward campaign needs at least one player. (2 id(s) are no player)" in response.content.decode()
    assert not RewardCampaign.objects.exists()
    assert not AdminJob.objects.exists()


def test_a_bundle_of_nothing_is_refused_on_the_form() -> None:
    client, _ = member_of("live-ops")
    player = UserFactory()

    response = client.post(NEW, campaign_form(gold="0", xp="0", identifiers="user_id", ids_text=str(player.pk)))

    assert "Give at least one amount: gold, gems or XP." in response.content.decode()
    assert not RewardCampaign.objects.exists()


@pytest.mark.parametrize("role", ["support", "finance"])
def test_roles_without_the_permission_may_not_start_a_campaign(role: str) -> None:
    client, _ = member_of(role)
    player = UserFactory()

    assert client.get(NEW).status_code == 403
    assert client.post(NEW, campaign_form(identifiers="user_id", ids_text=str(player.pk))).status_code == 403
    if role == "support":  # sees the player list, but is not offered the grant
        assert "grant_reward_bundle" not in offered_actions(client, USERS)
    assert not RewardCampaign.objects.exists()
    assert not AuditLog.objects.exists()


def test_staff_who_see_players_grant_a_bundle_to_the_whole_filtered_player_list() -> None:
    # Given staff who see players and may grant campaigns, and a filtered player list
    client, staff = staff_with("accounts.view_user", "economy.grant_campaign", "casino.view_adminjob")
    winners = [UserFactory(site_id=f"winner{n}") for n in range(3)]
    UserFactory(site_id="bystander")
    assert "grant_reward_bundle" in offered_actions(client, USERS)
    action = {"action": "grant_reward_bundle", "_selected_action": [winners[0].pk], "select_across": "1"}

    # When they choose "select all" of the filtered list and the action, then confirm the bundle
    form_page = client.post(f"{USERS}?q=winner", action)
    done = client.post(f"{USERS}?q=winner", {**action, **campaign_form(gold="50", xp="0"), "apply": "1"})

    # Then the campaign names exactly the filtered players, and they land on its job
    assert form_page.status_code == 200
    assert "to 3 player(s) (the whole filtered list)" in form_page.content.decode()
    campaign = RewardCampaign.objects.get()
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:casino_adminjob_change", args=[campaign.job_id])
    assert campaign.user_ids == sorted(winner.pk for winner in winners)
    assert campaign.target_description == "3 player(s) of the filtered player list (q=winner)"
    assert AuditLog.objects.get(action="campaign_create").actor == staff


def test_the_player_lists_action_posted_without_the_permission_creates_nothing() -> None:
    client, _ = staff_with("accounts.view_user")
    player = UserFactory()

    assert "grant_reward_bundle" not in offered_actions(client, USERS)
    client.post(
        USERS, {"action": "grant_reward_bundle", "_selected_action": [player.pk], **campaign_form(), "apply": "1"}
    )

    assert not RewardCampaign.objects.exists()
    assert not AuditLog.objects.exists()


def test_the_campaign_page_shows_the_bundle_the_players_paid_and_the_unknown_ids() -> None:
    client, manager = member_of("live-ops")
    player = UserFactory(site_id="carol")
    client.post(NEW, campaign_form(ids_text="carol ghost"))
    campaign = RewardCampaign.objects.get()
    job_run(job_id=campaign.job_id)

    page = client.get(reverse("admin:economy_rewardcampaign_change", args=[campaign.pk])).content.decode()
    listing = client.get(CAMPAIGNS).content.decode()

    assert "1000 gold, 25 xp" in page
    assert "1: ghost" in page
    assert f"job #{campaign.job_id}" in listing
    assert Wallet.objects.get(pk=player.pk).gold == 1000
    assert manager.has_perm("economy.view_rewardcampaign")
