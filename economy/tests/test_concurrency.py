"""Parallel requests against PostgreSQL prove exactly-once effects."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy.enums import Currency, LedgerReason
from economy.exceptions import InsufficientFunds
from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant, wallet_spend
from economy.streaks import streak_reward
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db(transaction=True)


def test_hundred_parallel_streak_claims_pay_once(parallel: Any) -> None:
    player = player_with_wallet(gold=1000)
    access = tokens_issue(user=player).access

    def claim(_index: int) -> dict[str, Any]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        response = client.post("/api/streak/claim")
        assert response.status_code in (200, 409), response.content
        body = response.json()
        # One answer shape for both: the 409 carries the first claim.
        return {**body.get("first_claim", body), "status": response.status_code}

    results = parallel(100, claim)

    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors[:3]
    assert (
        LedgerEntry.objects.filter(
            wallet_id=player.pk, reason=LedgerReason.STREAK_DAILY, currency=Currency.GOLD
        ).count()
        == 1
    )
    assert Counter(r["status"] for r in results) == {200: 1, 409: 99}
    assert {(r["awarded_gold"], r["awarded_xp"], r["new_gold_balance"], r["streak_count"]) for r in results} == {
        (streak_reward(1).gold, streak_reward(1).xp, 1000 + streak_reward(1).gold, 1)
    }
    assert Wallet.objects.get(pk=player.pk).gold == 1000 + streak_reward(1).gold


def test_parallel_vip_claims_pay_once(parallel: Any) -> None:
    player = player_with_wallet()
    access = tokens_issue(user=player).access

    def claim(_index: int) -> tuple[int, int]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        response = client.post("/api/vip/claim")
        body = response.json()
        return response.status_code, body.get("first_claim", body)["new_vip_points"]

    results = parallel(30, claim)

    assert Counter(status for status, _ in results) == {200: 1, 409: 29}
    assert {points for _, points in results} == {50}
    assert Wallet.objects.get(pk=player.pk).vip_points == 50


def test_fifty_parallel_spends_never_overdraw(parallel: Any) -> None:
    player = player_with_wallet(gold=1000)

    def spend(index: int) -> str:
        try:
            wallet_spend(
                user=player, bundle={Currency.GOLD: 70}, reason=LedgerReason.PURCHASE, idempotency_key=f"buy:{index}"
            )
            return "applied"
        except InsufficientFunds:
            return "refused"

    outcome = Counter(parallel(50, spend))

    assert outcome == {"applied": 14, "refused": 36}  # 14 * 70 = 980 <= 1000 < 15 * 70
    wallet = Wallet.objects.get(pk=player.pk)
    assert wallet.gold == 1000 - 14 * 70
    assert (
        LedgerEntry.objects.filter(wallet=wallet, currency=Currency.GOLD).aggregate(total=Sum("delta"))["total"]
        == wallet.gold
    )


def test_bank_invariant_under_a_storm_of_grants_and_spends() -> None:
    """Several players, eight threads of random grants and spends (some with
    repeated keys) for three seconds; afterwards every balance is the sum of
    its entries and nothing is negative."""
    players = [player_with_wallet(gold=500, gems=50) for _ in range(4)]
    deadline = time.monotonic() + 3.0
    errors: list[BaseException] = []
    operations = Counter()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while time.monotonic() < deadline:
                player = rng.choice(players)
                currency = rng.choice([Currency.GOLD, Currency.GEMS])
                amount = rng.randint(1, 120)
                key = f"storm:{rng.randint(0, 400)}"  # collisions exercise replays and conflicts
                operation = rng.choice([wallet_grant, wallet_spend])
                try:
                    operation(
                        user=player,
                        bundle={currency: amount},
                        reason=LedgerReason.GAME_BET if operation is wallet_spend else LedgerReason.GAME_WIN,
                        idempotency_key=key,
                    )
                    operations["ok"] += 1
                except InsufficientFunds:
                    operations["insufficient"] += 1
                except Exception as exc:
                    if getattr(exc, "code", "") == "idempotency_key_reused":
                        operations["conflict"] += 1
                    else:
                        raise
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors[:3]
    assert operations["ok"] > 50
    for player in players:
        wallet = Wallet.objects.get(pk=player.pk)
        for currency in (Currency.GOLD, Currency.GEMS):
            total = LedgerEntry.objects.filter(wallet=wallet, currency=currency).aggregate(total=Sum("delta"))["total"]
            assert total == wallet.balance(currency) >= 0
            last = LedgerEntry.objects.filter(wallet=wallet, currency=currency).order_by("-id").first()
            assert last is not None and last.balance_after == wallet.balance(currency)
