"""A live-ops manager, in a real browser (Playwright + Debian's Chromium against the live
server), builds a segment and previews its size, creates a campaign with a message and a
reward scheduled for a few minutes later, previews how many players it reaches, and -- once
the beat has started it and a worker sends it -- watches the job finish and reads the counts
on the campaign's page. The beat and the worker are this test's own calls of the Celery
tasks' bodies (``campaigns_start``, ``casino.jobs.job_run``), as the real ones would run them."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from accounts.tests.factories import UserFactory, players_in_bulk
from casino.jobs import job_run
from casino.models import AuditLog
from conftest import admin_log_in
from economy.enums import LedgerReason
from economy.models import Campaign, LedgerEntry, Segment, Wallet
from economy.tasks import campaigns_start
from realtime.models import Notification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Screenshots for people to look at (not committed: var/ is ignored).
ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


def test_live_ops_builds_a_segment_schedules_a_campaign_to_it_and_watches_it_send(page: Page, password: str) -> None:
    # Given 200 players seen today, 5 who lapsed, and a live-ops manager
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    players = [player.pk for player in players_in_bulk(200, prefix="fest")]
    User.objects.filter(pk__in=players).update(last_seen_at=timezone.now())
    lapsed = [player.pk for player in players_in_bulk(5, prefix="gone")]
    User.objects.filter(pk__in=lapsed).update(last_seen_at=timezone.now() - timedelta(days=60))
    manager = UserFactory(is_staff=True, password=password)
    manager.groups.add(Group.objects.get(name="live-ops"))  # the role alone: segments, campaigns, rewards
    admin_log_in(page, manager.site_id, password)

    # When they build a segment of the players seen this week and preview its size, then save it
    page.goto("/admin/economy/segment/add/")
    page.fill("#id_name", "Seen this week")
    page.fill("#id_seen_within_days", "7")
    page.click("input[name=_preview]")
    expect(page.locator("#segment-preview")).to_contain_text("Preview: 200 players match")
    page.click("input[type=submit][name=_save]")
    segment = Segment.objects.get(name="Seen this week")

    # And create a campaign to it: a message in the inbox and a reward, for a few minutes from now
    send_at = (timezone.now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    page.goto("/admin/economy/campaign/")
    page.click("text=New campaign…")
    page.fill("#id_title", "Festival weekend")
    page.fill("#id_message", "The festival starts now: here is a gift to begin with.")
    page.check("input[name=channels][value=in_app]")
    page.fill("#id_gold", "500")
    page.fill("#id_reason", "Festival launch")
    page.check("input[name=target][value=segment]")
    page.select_option("#id_segment", label="Seen this week")
    page.check("input[name=when][value=later]")
    page.fill("#id_send_at", send_at.strftime("%Y-%m-%dT%H:%M"))
    page.click("input[name=_preview]")
    expect(page.locator("#campaign-preview")).to_contain_text("This campaign would reach 200 player(s).")
    page.click("input[name=_create]")

    # Then they land on the campaign's page: scheduled, nobody reached yet
    expect(page.locator("ul.messagelist li.success")).to_contain_text("scheduled for")
    campaign = Campaign.objects.get()
    assert (campaign.status, campaign.segment, campaign.scheduled_at) == ("scheduled", segment, send_at)
    expect(page.locator(".field-status .readonly")).to_have_text("Scheduled")
    assert not Notification.objects.exists()

    # When its time comes, the beat starts it and a worker runs its job
    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    assert campaigns_start() == {"started": [campaign.pk]}
    campaign.refresh_from_db()

    def worker() -> None:
        try:
            job_run(job_id=campaign.job_id)
        finally:
            connection.close()

    page.reload()
    page.click(f"text=Job #{campaign.job_id}")
    running = threading.Thread(target=worker)
    running.start()
    try:
        expect(page.locator("#job-status")).to_contain_text("Done", timeout=90_000)
    finally:
        running.join(timeout=120)
    expect(page.locator(".field-progress")).to_contain_text("200 / 200 (100%)")

    # Then the campaign's page shows the counts
    page.get_by_role("link", name=f"Campaign #{campaign.pk}", exact=True).click()
    expect(page.locator(".field-status .readonly")).to_have_text("Sent")
    expect(page.locator("tr.count-targeted td")).to_have_text("200")
    expect(page.locator("tr.count-in_app td")).to_have_text("200 sent, 0 opted out")
    expect(page.locator("tr.count-rewards td")).to_have_text("200 (0 failed)")
    expect(page.locator("tr.count-opened td")).to_have_text("0")
    page.screenshot(path=str(ARTEFACTS / "campaign-sent.png"), full_page=True)
    # And every player of the segment got the message and the reward once, the lapsed ones nothing
    assert set(Notification.objects.filter(kind="campaign").values_list("user_id", flat=True)) == set(players)
    assert LedgerEntry.objects.filter(reason=LedgerReason.CAMPAIGN_REWARD).count() == 200
    assert set(Wallet.objects.filter(pk__in=players).values_list("gold", flat=True)) == {500}
    assert not Wallet.objects.filter(pk__in=lapsed, gold__gt=0).exists()
    assert AuditLog.objects.get(action="campaign_create").actor == manager
    assert AuditLog.objects.filter(action="campaign_sent").count() == 1


def test_support_cannot_open_the_campaign_form(page: Page, password: str) -> None:
    agent = UserFactory(is_staff=True, password=password)
    agent.groups.add(Group.objects.get(name="support"))
    admin_log_in(page, agent.site_id, password)

    response: Any = page.goto("/admin/economy/campaign/new/")

    assert response.status == 403
    assert not Campaign.objects.exists()
