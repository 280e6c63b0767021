"""Who owns the transaction (Zulip's rule): an entry point opens a durable
transaction and refuses to run inside someone else's; the ledger helpers that
other apps compose run inside the caller's transaction and share its fate."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from economy.enums import Currency, LedgerReason, VipTier
from economy.exceptions import InsufficientFunds
from economy.models import DailyStreak, LedgerAuditRun, LedgerEntry, Wallet
from economy.services import (
    ledger_audit_run,
    streak_claim,
    streak_tick,
    vip_claim,
    vip_set_tier,
    wallet_adjust,
    wallet_grant,
    wallet_spend,
)
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db


class CallerFailed(Exception):
    pass


ENTRY_POINTS: dict[str, Callable[[Any, Any], object]] = {
    "streak_claim": lambda player, _staff: streak_claim(user=player),
    "streak_tick": lambda player, _staff: streak_tick(user=player),
    "vip_claim": lambda player, _staff: vip_claim(user=player),
    "wallet_adjust": lambda player, staff: wallet_adjust(
        actor=staff, user=player, currency=Currency.GOLD, amount=5, reason="goodwill"
    ),
    "vip_set_tier": lambda player, staff: vip_set_tier(actor=staff, user=player, tier=VipTier.VIP, reason="promo"),
    "ledger_audit_run": lambda _player, _staff: ledger_audit_run(),
}


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_an_entry_point_nested_in_a_callers_transaction_raises_and_changes_nothing(
    entry_point: str, staff_user: Any
) -> None:
    player = player_with_wallet(gold=100)
    entries_before = LedgerEntry.objects.count()

    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        ENTRY_POINTS[entry_point](player, staff_user)

    assert LedgerEntry.objects.count() == entries_before
    assert Wallet.objects.get(pk=player.pk).vip_tier == VipTier.STANDARD
    assert not DailyStreak.objects.filter(pk=player.pk).exists()
    assert not LedgerAuditRun.objects.exists()


def test_ledger_helpers_run_in_the_callers_transaction_and_roll_back_with_it() -> None:
    player = player_with_wallet(gold=100)

    def callers_service_that_fails_after_posting() -> None:
        with transaction.atomic():
            wallet_grant(user=player, bundle={Currency.GEMS: 7}, reason=LedgerReason.EVENT_REWARD, idempotency_key="a")
            wallet_spend(user=player, bundle={Currency.GOLD: 40}, reason=LedgerReason.PURCHASE, idempotency_key="b")
            raise CallerFailed

    with pytest.raises(CallerFailed):
        callers_service_that_fails_after_posting()

    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gold, wallet.gems) == (100, 0)
    assert not LedgerEntry.objects.filter(idempotency_key__in=["a", "b"]).exists()


def test_a_refused_posting_leaves_the_callers_transaction_usable() -> None:
    player = player_with_wallet(gold=100)

    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            wallet_spend(user=player, bundle={Currency.GOLD: 500}, reason=LedgerReason.PURCHASE, idempotency_key="x")
        wallet_grant(user=player, bundle={Currency.GEMS: 3}, reason=LedgerReason.EVENT_REWARD, idempotency_key="y")

    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gold, wallet.gems) == (100, 3)


def test_selectors_import_no_services() -> None:
    """Reads never write, so the read module has no business importing the writes."""
    tree = ast.parse((Path(__file__).resolve().parents[1] / "selectors.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}

    assert "economy.models.Wallet" in imported  # the walk sees the module's imports, lazy ones included
    assert not {name for name in imported if name.startswith("economy.services")}
