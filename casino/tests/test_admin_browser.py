"""The back office through a real browser: Debian's Chromium, driven by
Playwright, against pytest-django's live server. Staff log in through the
login form and click through the pages as a person would; the database and
the API then show what the clicks did."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from accounts.models import InviteCode, User
from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from casino.models import AuditLog
from conftest import admin_log_in, admin_result_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, user: User, password: str) -> None:
    admin_log_in(page, user.site_id, password)
    expect(page.locator("#site-name")).to_have_text("Casino Club back office")


result_rows = admin_result_rows


def test_staff_logs_in_lists_players_and_finds_one_by_nickname(page: Page, staff_user: User, password: str) -> None:
    # Given three players
    players = [
        UserFactory(site_id="alice01", nickname="AliceWonder"),
        UserFactory(site_id="bob02", nickname="BobBuilder"),
        UserFactory(site_id="carol03", nickname="CarolSinger"),
    ]

    # When staff log in through the form and open the user list
    log_in(page, staff_user, password)
    page.goto("/admin/accounts/user/")

    # Then every player's site_id is listed
    listed = "\n".join(result_rows(page))
    for player in players:
        assert player.site_id in listed

    # When they search for one player's nickname
    page.fill("#searchbar", "bobbuilder")
    page.press("#searchbar", "Enter")

    # Then only that player is listed
    expect(page).to_have_url(re.compile(r"/admin/accounts/user/\?q=bobbuilder$"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)  # auto-waits for the new page (the old one lists 4 rows)
    expect(rows.first).to_contain_text("bob02")
    expect(rows.first).to_contain_text("BobBuilder")


def test_staff_generates_invite_codes_from_the_change_list_button(page: Page, staff_user: User, password: str) -> None:
    # Given staff on the invite code list
    log_in(page, staff_user, password)
    page.goto("/admin/accounts/invitecode/")

    # When they press "Generate codes" and ask for 3 codes of 2 uses each
    page.get_by_role("link", name="Generate codes").click()
    expect(page).to_have_url(re.compile(r"/admin/accounts/invitecode/generate/$"))
    page.fill("#id_count", "3")
    page.fill("#id_max_uses", "2")
    page.fill("#id_note", "spring campaign")
    page.click("input[type=submit][value='Generate']")

    # Then three codes exist, made by them, and the change list shows each one
    expect(page).to_have_url(re.compile(r"/admin/accounts/invitecode/$"))
    codes = list(InviteCode.objects.filter(created_by=staff_user))
    assert len(codes) == 3
    assert {code.max_uses for code in codes} == {2}
    assert {code.uses for code in codes} == {0}
    assert {code.note for code in codes} == {"spring campaign"}
    expect(page.locator(".messagelist")).to_contain_text("Generated 3 code(s)")
    for code in codes:
        expect(page.locator("#result_list")).to_contain_text(code.code)
    # And one audit row names the staff member and the codes
    audit = AuditLog.objects.get(action="invite_codes_generate")
    assert audit.actor == staff_user
    assert audit.reason == "spring campaign"
    assert sorted(audit.data["codes"]) == sorted(code.code for code in codes)
    assert audit.data["max_uses"] == 2


def test_staff_bans_a_player_with_a_reason_and_the_players_token_stops_working(
    page: Page, staff_user: User, password: str, live_server: Any
) -> None:
    # Given two players, one of whom holds an access token that works now
    cheater = UserFactory(site_id="cheater01", nickname="Cheater")
    bystander = UserFactory(site_id="honest02", nickname="Honest")
    access = tokens_issue(user=cheater).access
    me_url = f"{live_server.url}/api/auth/me"
    assert httpx.get(me_url, headers={"Authorization": f"Bearer {access}"}).status_code == 200

    # When staff tick that player, choose "Ban selected users" and press Go
    log_in(page, staff_user, password)
    page.goto("/admin/accounts/user/")
    page.locator("#result_list tbody tr", has_text="cheater01").locator("input.action-select").check()
    page.select_option("select[name=action]", label="Ban selected users (ends every session)")
    page.click("button[name=index]")

    # Then an intermediate page names the player and asks for a reason
    expect(page.locator("#content")).to_contain_text("Ban selected users (ends every session): 1 selected.")
    expect(page.locator("#content li", has_text="cheater01")).to_have_count(1)
    assert User.objects.get(pk=cheater.pk).is_active  # nothing happened yet

    # When they give the reason and confirm
    page.fill("#id_reason", "chip dumping with a second account")
    page.click("input[name=apply]")

    # Then the player alone is banned, the ban is audited with the reason
    expect(page.locator(".messagelist")).to_contain_text("Banned 1 user(s).")
    cheater.refresh_from_db()
    bystander.refresh_from_db()
    assert cheater.is_active is False
    assert bystander.is_active is True
    audit = AuditLog.objects.get(action="user_ban")
    assert audit.actor == staff_user
    assert audit.target_id == str(cheater.pk)
    assert audit.reason == "chip dumping with a second account"
    # And the token issued before the ban is refused by the API
    response = httpx.get(me_url, headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 401
    assert response.json()["error"] == "account_disabled"
