"""Importing players in a real browser (Playwright + Debian's Chromium against the live
server): a staff member holding ``accounts.import_players`` uploads a CSV on the player list,
reads the dry run's preview (one row invalid: nothing can be confirmed), fixes the file,
confirms the import, and finds the players and the import's job."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.staff import permissions
from casino.models import AdminJob, AuditLog
from conftest import admin_log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADER = "site_id,nickname,phone_number\n"


def upload(page: Page, text: str) -> None:
    page.set_input_files(
        "#id_import_file", files=[{"name": "players.csv", "mimeType": "text/csv", "buffer": text.encode()}]
    )
    page.select_option("#id_format", label="csv")
    page.click("input[type=submit][value='Submit']")


def test_staff_dry_run_an_import_then_import_for_real(page: Page, password: str) -> None:
    # Given a staff member who may import players, and a player already known
    staff = UserFactory(is_staff=True, password=password)
    staff.user_permissions.set(permissions("accounts.view_user", "accounts.import_players", "casino.view_adminjob"))
    UserFactory(site_id="regular01", nickname="Regular", phone_number="+15550001000")
    admin_log_in(page, staff.site_id, password)

    # When they open the player list's import and upload a file with one bad row
    page.goto("/admin/accounts/user/")
    page.click("a.import_link")
    upload(
        page,
        HEADER + "fresh01,Fresh One,010-2222-3333\nregular01,Regular Renamed,+15550001000\nfresh02,x,+15550002000\n",
    )

    # Then the dry run names the bad row and offers no confirmation; nothing was kept
    expect(page.locator("text=Some rows failed to validate")).to_be_visible()
    expect(page.locator(".validation-error-list")).to_contain_text("A nickname has at least 2 characters.")
    expect(page.locator("input[value='Confirm import']")).to_have_count(0)
    assert not User.objects.filter(site_id="fresh01").exists()

    # When they fix the file and upload it again
    upload(
        page,
        HEADER
        + "fresh01,Fresh One,010-2222-3333\nregular01,Regular Renamed,+15550001000\nfresh02,Fresh Two,+15550002000\n",
    )

    # Then the preview shows two new players and one update, still without keeping anything
    expect(page.locator("table.import-preview tr.new")).to_have_count(2)
    expect(page.locator("table.import-preview tr.update")).to_have_count(1)
    assert not User.objects.filter(site_id="fresh01").exists()

    # When they confirm
    page.click("input[value='Confirm import']")

    # Then the import is done: the players exist (no password), the job and the audit record say so
    expect(page.locator("ul.messagelist li.success")).to_contain_text("Import finished: 2 new, 1 updated")
    expect(page.locator("ul.messagelist li.info")).to_contain_text("Recorded as job #")
    fresh = User.objects.get(site_id="fresh01")
    assert (fresh.nickname, fresh.phone_number, fresh.has_usable_password()) == ("Fresh One", "01022223333", False)
    assert User.objects.get(site_id="regular01").nickname == "Regular Renamed"
    job = AdminJob.objects.get()
    page.goto(f"/admin/casino/adminjob/{job.pk}/change/")
    expect(page.locator("#job-status")).to_contain_text("Done")
    expect(page.locator(".job-report")).to_contain_text("2 new, 1 updated, 0 unchanged (skipped), 0 invalid")
    assert AuditLog.objects.get(action="players_import").actor == staff
