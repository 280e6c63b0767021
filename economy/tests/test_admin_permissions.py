"""Least privilege in the economy back office (design promise 7): adjusting a
balance, changing a VIP tier and running a ledger audit each need their own
permission -- the wallet's "change" permission no longer stands for them --
in the admin page and in the service."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tests.staff import staff_with
from casino.jobs import job_run
from casino.models import AdminJob, AuditLog
from casino.permissions import StaffPermissionRequired
from economy.enums import Currency, LedgerReason, VipTier
from economy.models import LedgerAuditRun, LedgerEntry, Wallet
from economy.services.admin_ops import wallet_adjust
from economy.services.vip import vip_set_tier
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db

WALLETS = "/admin/economy/wallet/"


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=1000)


def adjustments(player: Any) -> int:
    return LedgerEntry.objects.filter(wallet_id=player.pk, reason=LedgerReason.ADMIN_ADJUST).count()


# --- adjust balance ------------------------------------------------------------------------


def test_the_wallets_change_permission_no_longer_lets_staff_adjust_a_balance(player: Any) -> None:
    # Given staff with view and change on wallets, without adjust_balance
    clerk, _ = staff_with("economy.view_wallet", "economy.change_wallet")
    url = reverse("admin:economy_wallet_adjust", args=[player.pk])
    entries_before = adjustments(player)

    # When they open the adjust page and post an adjustment
    page = clerk.get(url)
    posted = clerk.post(url, {"currency": Currency.GOLD, "amount": "500", "reason": "x", "nonce": str(uuid.uuid4())})

    # Then both answer 403, the wallet page offers no link, and nothing moved
    assert (page.status_code, posted.status_code) == (403, 403)
    assert url not in clerk.get(reverse("admin:economy_wallet_change", args=[player.pk])).content.decode()
    assert Wallet.objects.get(pk=player.pk).gold == 1000
    assert adjustments(player) == entries_before
    assert not AuditLog.objects.exists()


def test_staff_holding_adjust_balance_adjust_and_it_is_audited(player: Any) -> None:
    finance, staff = staff_with("economy.view_wallet", "economy.adjust_balance")
    url = reverse("admin:economy_wallet_adjust", args=[player.pk])

    posted = finance.post(
        url, {"currency": Currency.GOLD, "amount": "250", "reason": "goodwill", "nonce": str(uuid.uuid4())}
    )

    assert posted.status_code == 302
    assert Wallet.objects.get(pk=player.pk).gold == 1250
    assert AuditLog.objects.get(action="wallet_adjust").actor == staff


def test_wallet_adjust_refuses_staff_without_adjust_balance_whoever_calls_it(player: Any) -> None:
    _, clerk = staff_with("economy.view_wallet", "economy.change_wallet")
    entries_before = adjustments(player)

    with pytest.raises(StaffPermissionRequired) as refused:
        wallet_adjust(actor=clerk, user=player, currency=Currency.GOLD, amount=500, reason="x")

    assert refused.value.details == {"permission": "economy.adjust_balance"}
    assert Wallet.objects.get(pk=player.pk).gold == 1000
    assert adjustments(player) == entries_before


# --- VIP tier ------------------------------------------------------------------------------


def vip_action(client: Client, player: Any) -> Any:
    data = {
        "action": "change_vip_tier",
        "_selected_action": [player.pk],
        "apply": "1",
        "tier": VipTier.VIP,
        "reason": "whale",
    }
    return client.post(WALLETS, data)


def test_the_vip_tier_action_needs_set_vip_tier_not_the_adjust_or_change_permission(player: Any) -> None:
    clerk, _ = staff_with("economy.view_wallet", "economy.change_wallet", "economy.adjust_balance")

    listing = clerk.get(WALLETS)
    forged = vip_action(clerk, player)

    assert listing.context["action_form"] is None  # nothing to offer them
    assert forged.status_code in (200, 302)
    assert Wallet.objects.get(pk=player.pk).vip_tier == VipTier.STANDARD
    assert not AuditLog.objects.exists()


def test_staff_holding_set_vip_tier_change_a_tier_and_it_is_audited(player: Any) -> None:
    manager, staff = staff_with("economy.view_wallet", "economy.set_vip_tier")

    done = vip_action(manager, player)

    assert done.status_code == 302
    assert Wallet.objects.get(pk=player.pk).vip_tier == VipTier.VIP
    assert AuditLog.objects.get(action="vip_tier_change").actor == staff


def test_vip_set_tier_refuses_staff_without_the_permission_whoever_calls_it(player: Any) -> None:
    _, clerk = staff_with("economy.view_wallet", "economy.change_wallet")

    with pytest.raises(StaffPermissionRequired):
        vip_set_tier(actor=clerk, user=player, tier=VipTier.VIP, reason="x")

    assert Wallet.objects.get(pk=player.pk).vip_tier == VipTier.STANDARD


# --- ledger audit ----------------------------------------------------------------------------


def test_running_a_ledger_audit_from_the_wallet_list_needs_its_permission(player: Any) -> None:
    viewer, _ = staff_with("economy.view_wallet")
    auditor, _ = staff_with("economy.view_wallet", "economy.run_ledger_audit")
    url = reverse("admin:economy_wallet_audit")

    refused = viewer.post(url)
    assert refused.status_code == 403
    assert not LedgerAuditRun.objects.exists()
    assert url not in viewer.get(WALLETS).content.decode()

    done = auditor.post(url)  # a back-office job: queued for a worker (casino.jobs)
    assert done.status_code == 302
    assert job_run(job_id=AdminJob.objects.get(kind="ledger_audit").pk) == "done"
    assert LedgerAuditRun.objects.count() == 1
    assert url in auditor.get(WALLETS).content.decode()
