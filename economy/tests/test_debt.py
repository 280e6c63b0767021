from __future__ import annotations

import pytest

from economy.enums import Currency, LedgerReason
from economy.models import DebtEntry, LedgerEntry, Wallet
from economy.services import ledger_audit_run, wallet_claw_back, wallet_grant, wallet_spend
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db
GOLD = Currency.GOLD


def test_claw_back_takes_what_is_there_and_records_the_rest_as_debt() -> None:
    user = player_with_wallet()
    wallet_grant(user=user, bundle={GOLD: 1000}, reason=LedgerReason.PURCHASE, idempotency_key="order:1:grant")
    wallet_spend(user=user, bundle={GOLD: 700}, reason=LedgerReason.GAME_BET, idempotency_key="bet")

    result = wallet_claw_back(
        user=user, bundle={GOLD: 1000}, reason=LedgerReason.PURCHASE_REFUND, idempotency_key="order:1:refund"
    )

    assert result.applied
    assert (result.taken, result.debt_added) == ({GOLD: 300}, {GOLD: 700})
    wallet = Wallet.objects.get(pk=user.pk)
    assert (wallet.gold, wallet.gold_debt) == (0, 700)


def test_claw_back_is_once_per_key() -> None:
    user = player_with_wallet(gold=100)
    wallet_claw_back(user=user, bundle={GOLD: 300}, reason=LedgerReason.PURCHASE_REFUND, idempotency_key="r")

    again = wallet_claw_back(user=user, bundle={GOLD: 300}, reason=LedgerReason.PURCHASE_REFUND, idempotency_key="r")

    assert not again.applied
    assert (again.taken, again.debt_added) == ({GOLD: 100}, {GOLD: 200})
    assert Wallet.objects.get(pk=user.pk).gold_debt == 200


def test_next_grants_repay_the_debt_first_and_the_ledger_still_adds_up() -> None:
    user = player_with_wallet()
    wallet_claw_back(user=user, bundle={GOLD: 500}, reason=LedgerReason.PURCHASE_REFUND, idempotency_key="r")

    first = wallet_grant(user=user, bundle={GOLD: 300}, reason=LedgerReason.EVENT_REWARD, idempotency_key="g1")
    second = wallet_grant(user=user, bundle={GOLD: 300}, reason=LedgerReason.EVENT_REWARD, idempotency_key="g2")

    assert first.balances[GOLD] == 0
    assert second.balances[GOLD] == 100
    wallet = Wallet.objects.get(pk=user.pk)
    assert (wallet.gold, wallet.gold_debt) == (100, 0)
    repayments = LedgerEntry.objects.filter(wallet=wallet, reason=LedgerReason.DEBT_REPAYMENT).order_by("id")
    assert [e.delta for e in repayments] == [-300, -200]
    assert list(DebtEntry.objects.filter(wallet=wallet).order_by("id").values_list("delta", "debt_after")) == [
        (500, 500),
        (-300, 200),
        (-200, 0),
    ]
    assert ledger_audit_run().ok
