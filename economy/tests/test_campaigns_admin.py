"""Campaigns in the back office: the "New campaign" page (content, channels, reward, target,
when, and a preview of how many players the target names), the player list's action for a
selection, the campaign list (filters, search, cancel) and a campaign's page (the delivery
counts, the job, scheduling a draft). Refused, with nothing created, to staff without the
permissions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from accounts.tests.staff import offered_actions, permissions, staff_with
from casino.jobs import job_run
from casino.models import AdminJob, AuditLog
from economy.models import Campaign, CampaignDelivery, Segment, Wallet
from economy.services.campaign_delivery import campaign_deliver
from economy.services.campaigns import campaign_create
from realtime.models import Notification, NotificationSettings

pytestmark = pytest.mark.django_db

NEW = "/admin/economy/campaign/new/"
CAMPAIGNS = "/admin/economy/campaign/"
USERS = "/admin/accounts/user/"


def member_of(role: str, *extra: str) -> tuple[Client, Any]:
    staff = UserFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name=role))
    staff.user_permissions.set(permissions(*extra))
    client = Client()
    client.force_login(staff)
    return client, staff


def live_ops() -> tuple[Client, Any]:
    """A live-ops manager who may also send messages (``economy.send_campaign``)."""
    return member_of("live-ops", "economy.send_campaign")


def campaign_form(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Spring gift",
        "message": "",
        "gold": "1000",
        "gems": "0",
        "xp": "25",
        "reason": "Spring event compensation",
        "target": "upload",
        "identifiers": "site_id",
        "ids_text": "",
        "when": "now",
        "send_at": "",
        "_create": "1",
        **overrides,
    }


def seen_segment(name: str = "Seen this month") -> Segment:
    now = timezone.now()
    return Segment.objects.create(name=name, seen_within_days=30, created_at=now, updated_at=now)


# --- the "New campaign" page ------------------------------------------------------------------------


def test_live_ops_grants_a_bundle_to_an_uploaded_list_and_lands_on_its_job() -> None:
    # Given a live-ops manager and a CSV of login ids (one unknown, one in another letter case)
    client, manager = live_ops()
    alice, bob = UserFactory(site_id="alice"), UserFactory(site_id="bob")
    upload = SimpleUploadedFile("spring.csv", b"site_id\nalice\nBOB\nnobody\n", content_type="text/csv")

    # When they start a campaign from the list
    assert NEW in client.get(CAMPAIGNS).content.decode()
    response = client.post(NEW, campaign_form(ids_file=upload))

    # Then the campaign and its job exist, and they land on the job's page
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:casino_adminjob_change", args=[campaign.job_id])
    assert (campaign.user_ids, campaign.unknown_ids, campaign.created_by) == ([alice.pk, bob.pk], ["nobody"], manager)
    assert (campaign.target, campaign.target_description) == ("upload", "uploaded list spring.csv of 3 site_id(s)")
    assert "Campaign #" in client.get(response["Location"]).content.decode()
    # And once the job ran, both were paid and the report says so
    job_run(job_id=campaign.job_id)
    assert list(Wallet.objects.filter(pk__in=[alice.pk, bob.pk]).values_list("gold", "xp")) == [(1000, 25)] * 2
    report = client.get(response["Location"]).content.decode()
    assert "Rewards granted, by the delivery records: 2 of 2" in report
    assert "1 uploaded id(s) unknown" in report


def test_a_message_to_a_segment_is_previewed_then_sent_to_who_is_in_it() -> None:
    # Given a segment of two players seen this month (a lapsed player and staff are not in it)
    client, manager = live_ops()
    segment = seen_segment()
    inside = [UserFactory(last_seen_at=timezone.now()) for _ in range(2)]
    UserFactory(last_seen_at=timezone.now() - timedelta(days=90))
    form = campaign_form(
        target="segment",
        segment=str(segment.pk),
        message="Double XP all weekend!",
        channels=["in_app", "email"],
        gold="0",
        xp="0",
    )

    # When they preview it
    preview = client.post(NEW, {**form, "_create": "", "_preview": "1"})

    # Then the page says how many players it would reach, and nothing exists yet
    assert preview.status_code == 200
    assert "This campaign would reach 2 player(s)." in preview.content.decode()
    assert not Campaign.objects.exists()

    # When they create it
    created = client.post(NEW, form)

    # Then it is sending to the segment, a message without a reward
    campaign = Campaign.objects.get()
    assert created.status_code == 302
    assert (campaign.target, campaign.segment, campaign.channels, campaign.bundle) == (
        "segment",
        segment,
        ["in_app", "email"],
        {},
    )
    assert AdminJob.objects.get().kind == "campaign_message"
    job_run(job_id=campaign.job_id)
    assert set(Notification.objects.filter(kind="campaign").values_list("user_id", flat=True)) == {
        player.pk for player in inside
    }
    assert AuditLog.objects.get(action="campaign_create").actor == manager


def test_previewing_an_uploaded_file_keeps_its_ids_for_the_next_submit() -> None:
    client, _ = live_ops()
    UserFactory(site_id="carol")
    upload = SimpleUploadedFile("list.csv", b"carol\nghost\n", content_type="text/csv")

    page = client.post(NEW, {**campaign_form(ids_file=upload), "_create": "", "_preview": "1"})

    html = page.content.decode()
    assert "This campaign would reach 1 player(s) (1 id(s) are no player)." in html
    assert page.context["form"]["ids_text"].value() == "carol\nghost"


def test_a_campaign_scheduled_for_later_waits_and_staff_land_on_its_page() -> None:
    client, _ = live_ops()
    UserFactory(site_id="dave")
    when = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)

    response = client.post(NEW, campaign_form(ids_text="dave", when="later", send_at=when.strftime("%Y-%m-%dT%H:%M")))

    campaign = Campaign.objects.get()
    assert response["Location"] == reverse("admin:economy_campaign_change", args=[campaign.pk])
    assert (campaign.status, campaign.scheduled_at, campaign.job_id) == ("scheduled", when, None)
    page = client.get(response["Location"]).content.decode()
    assert "1 (counted now; frozen when it starts sending)" in page
    assert reverse("admin:economy_campaign_schedule", args=[campaign.pk]) in page


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"identifiers": "user_id", "ids_text": "99999991, 99999992"}, "A campaign needs at least one player."),
        ({"gold": "0", "xp": "0", "ids_text": "erin"}, "Choose a channel (in-app, push, email) or give a reward."),
        ({"channels": ["in_app"], "ids_text": "erin"}, "Write the message the players will read"),
        ({"channels": ["push"], "message": "Hi", "ids_text": "erin"}, "Web push shows the in-app notification"),
        ({"target": "segment"}, "Choose the segment to send to."),
        ({"target": "upload"}, "Upload a list of players or paste their ids."),
        ({"when": "later", "send_at": "2020-01-01T10:00", "ids_text": "erin"}, "This time has passed"),
        ({"when": "later", "ids_text": "erin"}, "Give the time to send at."),
    ],
)
def test_an_incomplete_campaign_is_refused_on_the_form_and_creates_nothing(
    overrides: dict[str, Any], said: str
) -> None:
    client, _ = live_ops()
    UserFactory(site_id="erin")

    response = client.post(NEW, campaign_form(**overrides))

    assert response.status_code == 200
    assert said in response.content.decode()
    assert not Campaign.objects.exists()
    assert not AdminJob.objects.exists()


def test_a_sender_without_the_grant_permission_may_message_but_not_reward() -> None:
    client, _ = staff_with("economy.view_campaign", "economy.send_campaign")
    UserFactory(site_id="frank")

    refused = client.post(NEW, campaign_form(ids_text="frank"))
    sent = client.post(NEW, campaign_form(ids_text="frank", gold="0", xp="0", message="Hi", channels=["in_app"]))

    assert "a reward needs the permission to grant campaign rewards" in refused.content.decode()
    assert sent.status_code == 302
    assert Campaign.objects.get().bundle == {}


@pytest.mark.parametrize("role", ["support", "finance"])
def test_roles_without_the_send_permission_may_not_open_the_campaign_form(role: str) -> None:
    client, _ = member_of(role)
    player = UserFactory()

    assert client.get(NEW).status_code == 403
    assert client.post(NEW, campaign_form(identifiers="user_id", ids_text=str(player.pk))).status_code == 403
    if role == "support":  # sees the player list, but is not offered the grant
        assert "grant_reward_bundle" not in offered_actions(client, USERS)
    assert not Campaign.objects.exists()
    assert not AuditLog.objects.exists()


# --- the player list's action --------------------------------------------------------------------------


def test_live_ops_opens_the_campaign_form_by_its_role() -> None:
    client, _ = member_of("live-ops")

    assert client.get(NEW).status_code == 200


def test_staff_who_see_players_grant_a_bundle_to_the_whole_filtered_player_list() -> None:
    # Given staff who see players and may grant campaigns, and a filtered player list
    client, staff = staff_with("accounts.view_user", "economy.grant_campaign", "casino.view_adminjob")
    winners = [UserFactory(site_id=f"winner{n}") for n in range(3)]
    UserFactory(site_id="bystander")
    assert "grant_reward_bundle" in offered_actions(client, USERS)
    action = {"action": "grant_reward_bundle", "_selected_action": [winners[0].pk], "select_across": "1"}
    bundle = {"title": "Winners", "gold": "50", "gems": "0", "xp": "0", "reason": "Tournament", "apply": "1"}

    # When they choose "select all" of the filtered list and the action, then confirm the bundle
    form_page = client.post(f"{USERS}?q=winner", action)
    done = client.post(f"{USERS}?q=winner", {**action, **bundle})

    # Then the campaign names exactly the filtered players, and they land on its job
    assert form_page.status_code == 200
    assert "to 3 player(s) (the whole filtered list)" in form_page.content.decode()
    campaign = Campaign.objects.get()
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:casino_adminjob_change", args=[campaign.job_id])
    assert (campaign.user_ids, campaign.target) == (sorted(winner.pk for winner in winners), "selection")
    assert campaign.target_description == "3 player(s) of the filtered player list (q=winner)"
    assert AuditLog.objects.get(action="campaign_create").actor == staff


def test_the_player_lists_action_needs_a_reward_and_may_add_a_message() -> None:
    client, _ = staff_with("accounts.view_user", "economy.grant_campaign", "economy.send_campaign")
    player = UserFactory()
    action = {"action": "grant_reward_bundle", "_selected_action": [player.pk], "apply": "1"}
    content = {"title": "Thanks", "gold": "0", "gems": "0", "xp": "0", "reason": "Beta testers"}

    refused = client.post(USERS, {**action, **content})
    client.post(USERS, {**action, **content, "gems": "20", "message": "Thank you!", "channels": ["in_app"]})

    assert "Give at least one amount: gold, gems or XP." in refused.content.decode()
    campaign = Campaign.objects.get()
    assert (campaign.bundle, campaign.channels, campaign.message) == ({"gems": 20}, ["in_app"], "Thank you!")


def test_the_player_lists_action_posted_without_the_permission_creates_nothing() -> None:
    client, _ = staff_with("accounts.view_user")
    player = UserFactory()

    assert "grant_reward_bundle" not in offered_actions(client, USERS)
    client.post(
        USERS,
        {
            "action": "grant_reward_bundle",
            "_selected_action": [player.pk],
            **campaign_form(),
            "apply": "1",
        },
    )

    assert not Campaign.objects.exists()
    assert not AuditLog.objects.exists()


# --- the list and a campaign's page ------------------------------------------------------------------


def test_the_campaign_page_shows_what_was_sent_the_counts_and_the_job() -> None:
    # Given a campaign with a message and a reward, sent to three players, one of whom switched the
    # inbox off and one of whom read it
    client, manager = live_ops()
    players = [UserFactory(site_id=f"gina{n}") for n in range(3)]
    NotificationSettings.objects.create(user=players[2], in_app=False, updated_at=timezone.now())
    client.post(
        NEW,
        campaign_form(ids_text="gina0 gina1 gina2 ghost", message="Hello!", channels=["in_app"], gems="7", xp="0"),
    )
    campaign = Campaign.objects.get()
    job_run(job_id=campaign.job_id)
    Notification.objects.filter(user=players[0]).update(read_at=timezone.now())

    # When they open its page and the list
    page = client.get(reverse("admin:economy_campaign_change", args=[campaign.pk])).content.decode()
    listing = client.get(CAMPAIGNS).content.decode()

    # Then the page shows the content, the counts and the job
    assert "1000 gold, 7 gems" in page
    assert "In-app notification" in page
    assert "1: ghost" in page
    assert '<tr class="count-targeted"><th>players targeted</th><td>3</td></tr>' in page
    assert '<tr class="count-in_app"><th>in-app</th><td>2 sent, 1 opted out</td></tr>' in page
    assert '<tr class="count-rewards"><th>rewards granted</th><td>3 (0 failed)</td></tr>' in page
    assert '<tr class="count-opened"><th>opened</th><td>1</td></tr>' in page
    assert "Done: 3 / 3 (100%)" in page
    assert f"job #{campaign.job_id}" in listing
    assert manager.has_perm("economy.view_campaign")


def test_the_list_filters_by_status_and_channel_and_searches_titles() -> None:
    client, manager = live_ops()
    player = UserFactory()
    common = {"actor": manager, "reason": "Test", "user_ids": [player.pk]}
    mail = campaign_create(title="Mail news", message="News", channels=["email"], draft=True, **common)
    gift = campaign_create(title="Gift", bundle={"gold": 5}, **common)

    def shown(query: str) -> set[int]:
        return {row.pk for row in client.get(f"{CAMPAIGNS}?{query}").context["cl"].result_list}

    assert shown("status__exact=draft") == {mail.pk}
    assert shown("channel=email") == {mail.pk}
    assert shown("channel=reward_only") == {gift.pk}
    assert shown("q=mail") == {mail.pk}
    assert shown("") == {mail.pk, gift.pk}


def test_cancelling_from_the_list_stops_a_scheduled_campaign_and_leaves_a_sent_one() -> None:
    client, manager = live_ops()
    player = UserFactory()
    common = {"actor": manager, "reason": "Test", "user_ids": [player.pk], "message": "Hi", "channels": ["in_app"]}
    later = campaign_create(title="Later", send_at=timezone.now() + timedelta(hours=2), **common)
    sent = campaign_create(title="Sent", **common)
    campaign_deliver(campaign_id=sent.pk)
    assert "cancel_campaigns" in offered_actions(client, CAMPAIGNS)

    response = client.post(
        CAMPAIGNS,
        {"action": "cancel_campaigns", "_selected_action": [later.pk, sent.pk], "apply": "1", "reason": "Typo"},
        follow=True,
    )

    later.refresh_from_db()
    sent.refresh_from_db()
    assert (later.status, sent.status) == ("cancelled", "sent")
    text = response.content.decode()
    assert "Cancelled 1 campaign(s)." in text
    assert "Only a draft or scheduled campaign can be cancelled." in text
    record = AuditLog.objects.get(action="campaign_cancel")
    assert (record.actor, record.reason, record.target_id) == (manager, "Typo", str(later.pk))


def test_cancelling_without_the_permission_is_not_offered_and_changes_nothing() -> None:
    client, _ = staff_with("economy.grant_campaign", "economy.view_campaign")  # may grant, not send
    _, sender = staff_with("economy.send_campaign")
    player = UserFactory()
    later = campaign_create(
        actor=sender,
        title="Later",
        message="Hi",
        channels=["in_app"],
        reason="Test",
        user_ids=[player.pk],
        send_at=timezone.now() + timedelta(hours=2),
    )

    assert "cancel_campaigns" not in offered_actions(client, CAMPAIGNS)
    client.post(CAMPAIGNS, {"action": "cancel_campaigns", "_selected_action": [later.pk], "apply": "1", "reason": "No"})

    later.refresh_from_db()
    assert later.status == "scheduled"
    assert not AuditLog.objects.filter(action="campaign_cancel").exists()


def test_a_draft_is_scheduled_from_its_page() -> None:
    client, manager = live_ops()
    player = UserFactory()
    draft = campaign_create(
        actor=manager, title="Draft", message="Hi", channels=["in_app"], reason="Test", user_ids=[player.pk], draft=True
    )
    url = reverse("admin:economy_campaign_schedule", args=[draft.pk])
    when = (timezone.now() + timedelta(hours=3)).replace(second=0, microsecond=0)

    assert client.get(url).status_code == 200
    refused = client.post(url, {"when": "later", "send_at": "2020-01-01T00:00", "reason": "Go"})
    response = client.post(url, {"when": "later", "send_at": when.strftime("%Y-%m-%dT%H:%M"), "reason": "Approved"})

    assert "This time has passed" in refused.content.decode()
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.scheduled_at) == ("scheduled", when)
    assert AuditLog.objects.get(action="campaign_schedule").reason == "Approved"


def test_the_schedule_page_is_refused_without_the_send_permission() -> None:
    client, _ = staff_with("economy.grant_campaign", "economy.view_campaign")  # may grant, not send
    _, sender = staff_with("economy.send_campaign")
    draft = campaign_create(
        actor=sender,
        title="Draft",
        message="Hi",
        channels=["in_app"],
        reason="Test",
        user_ids=[UserFactory().pk],
        draft=True,
    )
    url = reverse("admin:economy_campaign_schedule", args=[draft.pk])

    assert client.get(url).status_code == 403
    assert client.post(url, {"when": "now", "reason": "Go"}).status_code == 403
    draft.refresh_from_db()
    assert draft.status == "draft"
    assert not CampaignDelivery.objects.exists()
