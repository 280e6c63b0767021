"""A live-ops manager grants a reward bundle to 1,000 players in a real browser (Playwright +
Debian's Chromium against the live server) and watches the job finish: the upload, the job's
page refreshing itself while a worker grants, the report when done. The worker is this test's
thread running the Celery task's body (casino.jobs.job_run), as a Celery worker would after
taking the task from the broker."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from playwright.sync_api import Page, expect

from accounts.services.staff import staff_roles_sync
from accounts.tests.factories import UserFactory, players_in_bulk
from casino.jobs import job_run
from casino.models import AdminJob, AuditLog
from conftest import admin_log_in
from economy.enums import LedgerReason
from economy.models import LedgerEntry, RewardCampaign, Wallet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Screenshots for people to look at (not committed: var/ is ignored).
ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


def test_a_live_ops_manager_grants_a_bundle_to_1000_players_and_watches_the_job_finish(
    page: Page, password: str
) -> None:
    # Given 1,000 players and a live-ops manager holding their login ids in a CSV
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    staff_roles_sync()
    players = players_in_bulk(1000, prefix="spring")
    manager = UserFactory(is_staff=True, password=password)
    manager.groups.add(Group.objects.get(name="live-ops"))
    listing = "site_id\n" + "\n".join(player.site_id for player in players) + "\nnobody-here\n"
    admin_log_in(page, manager.site_id, password)

    # When they open reward campaigns, start a new one from the file and submit it
    page.goto("/admin/economy/rewardcampaign/")
    page.click("text=New reward campaign…")
    page.fill("#id_name", "Spring festival gift")
    page.fill("#id_gold", "2500")
    page.fill("#id_gems", "10")
    page.fill("#id_reason", "Thank-you for playing during the spring festival")
    page.select_option("#id_identifiers", "site_id")
    page.set_input_files(
        "#id_ids_file", files=[{"name": "spring.csv", "mimeType": "text/csv", "buffer": listing.encode()}]
    )
    page.click("input[type=submit][value='Start the campaign']")

    # Then they land on the job's page: queued for a worker, refreshing itself
    expect(page.locator("ul.messagelist li.success")).to_contain_text("started for 1000 player(s) (1 id(s) unknown)")
    expect(page.locator("#job-status")).to_contain_text("Queued")
    campaign = RewardCampaign.objects.get()
    assert campaign.created_by == manager and len(campaign.user_ids) == 1000

    # When a worker runs the job, they watch it run and finish without touching the page
    def worker() -> None:
        try:
            job_run(job_id=campaign.job_id)
        finally:
            connection.close()

    running = threading.Thread(target=worker)
    running.start()
    try:
        expect(page.locator("#job-status")).to_contain_text("Running", timeout=30_000)
        expect(page.locator("#job-status")).to_contain_text("Done", timeout=90_000)
    finally:
        running.join(timeout=120)

    # Then the page shows the full bar and the report, and links to the campaign
    expect(page.locator(".field-progress")).to_contain_text("1000 / 1000 (100%)")
    expect(page.locator(".job-report")).to_contain_text(
        "Granted 1000 player(s) now; 0 already had this campaign's grant (skipped); 1 uploaded id(s) unknown"
    )
    page.screenshot(path=str(ARTEFACTS / "reward-campaign-job-done.png"), full_page=True)
    page.get_by_role("link", name=f"Reward campaign #{campaign.pk}", exact=True).click()
    expect(page.locator(".field-paid_players .readonly")).to_have_text("1000")
    # And every player got the bundle once, through the ledger
    assert AdminJob.objects.get(pk=campaign.job_id).status == "done"
    assert LedgerEntry.objects.filter(reason=LedgerReason.CAMPAIGN_REWARD, currency="gold").count() == 1000
    assert set(Wallet.objects.filter(pk__in=[p.pk for p in players]).values_list("gold", "gems")) == {(2500, 10)}
    assert AuditLog.objects.get(action="campaign_create").actor == manager


def test_support_cannot_open_the_campaign_form(page: Page, password: str) -> None:
    staff_roles_sync()
    agent = UserFactory(is_staff=True, password=password)
    agent.groups.add(Group.objects.get(name="support"))
    admin_log_in(page, agent.site_id, password)

    response: Any = page.goto("/admin/economy/rewardcampaign/new/")

    assert response.status == 403
    assert not RewardCampaign.objects.exists()
