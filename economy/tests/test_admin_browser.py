"""What staff do in the economy back office, in a real browser (Playwright +
Debian's Chromium against pytest-django's live server)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from casino.models import AuditLog
from conftest import admin_log_in
from economy.enums import Currency, LedgerReason
from economy.models import LedgerEntry, Wallet
from economy.tests.factories import player_with_wallet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page: Any, live_server: Any, site_id: str, password: str) -> None:
    admin_log_in(page, site_id, password)


def test_staff_adjusts_a_balance_from_the_wallet_page(
    page: Any, live_server: Any, staff_user: Any, password: str
) -> None:
    player = player_with_wallet(gold=1000)
    log_in(page, live_server, staff_user.site_id, password)

    page.goto(f"{live_server.url}{reverse('admin:economy_wallet_change', args=[player.pk])}")
    page.click("text=Adjust balance")
    page.select_option("#id_currency", Currency.GOLD)
    page.fill("#id_amount", "250")
    page.fill("#id_reason", "Compensation for ticket 4711")
    page.click("input[value='Apply adjustment']")

    # The success message exists only on the page the form redirects to; expect() waits for it.
    expect(page).to_have_url(f"{live_server.url}{reverse('admin:economy_wallet_change', args=[player.pk])}")
    success = page.locator("ul.messagelist li.success")
    expect(success).to_have_text(f"Granted 250 gold to {player.site_id}: gold balance is now 1250.")
    expect(page.locator(".field-gold .readonly")).to_have_text("1250")
    expect(page.locator(".field-recent_entries table tbody tr").first).to_contain_text("Staff adjustment")
    assert Wallet.objects.get(pk=player.pk).gold == 1250
    entry = LedgerEntry.objects.get(wallet_id=player.pk, idempotency_key__startswith="admin-adjust:")
    assert (entry.reason, entry.currency, entry.delta, entry.balance_after) == (
        LedgerReason.ADMIN_ADJUST,
        Currency.GOLD,
        250,
        1250,
    )
    assert entry.metadata["staff"] == staff_user.site_id
    assert AuditLog.objects.get(action="wallet_adjust").reason == "Compensation for ticket 4711"


def test_staff_runs_the_ledger_audit_from_the_wallet_list(
    page: Any, live_server: Any, staff_user: Any, password: str, eager_tasks: None
) -> None:
    player_with_wallet(gold=40)
    log_in(page, live_server, staff_user.site_id, password)

    page.goto(f"{live_server.url}{reverse('admin:economy_wallet_changelist')}")
    expect(page.locator("#ledger-audit-status")).to_contain_text("none has run yet")
    page.click("text=Run ledger audit now")

    expect(page.locator("ul.messagelist li.success")).to_contain_text("OK, 1 wallets and 1 entries agree")
    expect(page.locator("#ledger-audit-status")).to_contain_text("OK: 1 wallets and 1 entries agree.")
