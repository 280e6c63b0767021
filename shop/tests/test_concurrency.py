"""Parallel buyers against PostgreSQL: no oversell, no double charge, no double grant."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import pytest
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import daily_spend_limit_set
from accounts.tokens import tokens_issue
from economy.models import LedgerEntry, Wallet
from economy.tests.factories import player_with_wallet
from shop.models import FraudDecision, LimitedPackage, Order, OrderStatus, SandboxPayment
from shop.providers.sandbox import WebhookEventType, webhook_payload
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory, PackageFactory
from shop.webhooks import signature_headers

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(player: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    return api


def test_two_hundred_buyers_for_fifty_units_sell_exactly_fifty(parallel: Any) -> None:
    package = PackageFactory(product=GemPriceProductFactory(price_amount=100), total_stock=50, remaining_stock=50)
    buyers = [client_for(player_with_wallet(gems=100)) for _ in range(200)]

    def buy(index: int) -> tuple[int, str]:
        response = buyers[index].post(
            "/api/shop/buy-limited", {"package_id": package.code}, format="json", HTTP_IDEMPOTENCY_KEY=f"buy-{index}"
        )
        return response.status_code, response.json().get("error", response.json().get("state"))

    outcomes = Counter(parallel(200, buy))

    assert outcomes == {(201, "fulfilled"): 50, (409, "sold_out"): 150}
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 0
    assert Order.objects.filter(status=OrderStatus.FULFILLED).count() == 50
    assert LedgerEntry.objects.filter(reason="purchase", delta__gt=0).count() == 50  # no extra grant
    assert Wallet.objects.filter(gems=0).count() == 50


def test_per_player_limit_holds_under_parallel_buys(parallel: Any) -> None:
    product = GemPriceProductFactory(price_amount=10, limit_lifetime=3)
    player = player_with_wallet(gems=1000)
    api = client_for(player)

    def buy(index: int) -> int:
        return api.post(
            "/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY=f"k{index}"
        ).status_code

    assert Counter(parallel(10, buy)) == {201: 3, 409: 7}
    assert Wallet.objects.get(pk=player.pk).gems == 970


def test_one_key_sent_twenty_times_makes_one_order_one_payment_one_grant(parallel: Any) -> None:
    product = MoneyProductFactory(grants={"gems": 100})
    player = player_with_wallet()
    api = client_for(player)

    def buy(_index: int) -> tuple[int, str]:
        response = api.post(
            "/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
        )
        body = response.json()
        return response.status_code, body.get("receipt_code") or body.get("error")

    results = parallel(20, buy)

    receipts = {value for status, value in results if status in (200, 201)}
    assert len(receipts) == 1, results
    assert {value for status, value in results if status == 409} <= {"idempotency_key_in_use"}
    assert Order.objects.count() == 1
    assert SandboxPayment.objects.count() == 1
    assert FraudDecision.objects.count() == 1  # the twins answered from the order record no decision of their own
    payment = SandboxPayment.objects.get()
    SandboxPayment.objects.filter(pk=payment.pk).update(status="approved")
    payment.refresh_from_db()
    body = json.dumps(webhook_payload(event_type=WebhookEventType.SUCCEEDED, payment=payment)).encode()
    headers = signature_headers(
        secrets=settings.SHOP_WEBHOOK_SECRETS[:1],
        msg_id="msg_one",
        timestamp=int(timezone.now().timestamp()),
        body=body,
    )
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}

    def deliver(_index: int) -> int:
        return (
            APIClient()
            .post("/api/shop/webhook/payment", data=body, content_type="application/json", **extra)
            .status_code
        )

    assert set(parallel(5, deliver)) == {200}  # the same webhook five times at once
    assert Wallet.objects.get(pk=player.pk).gems == 100
    assert LedgerEntry.objects.filter(wallet_id=player.pk, reason="purchase").count() == 1
    assert Order.objects.get().status == OrderStatus.FULFILLED


def test_daily_spend_limit_is_never_exceeded_by_twenty_parallel_purchases(parallel: Any) -> None:
    product = MoneyProductFactory(price_amount=300)
    player = player_with_wallet()
    daily_spend_limit_set(user=player, limit=1000)
    api = client_for(player)

    def buy(index: int) -> int:
        return api.post(
            "/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY=f"k{uuid.uuid4()}"
        ).status_code

    statuses = Counter(parallel(20, buy))

    assert statuses == {201: 3, 409: 17}  # 3 x 300 = 900 <= 1000 < 1200
    committed = (
        Order.objects.filter(user=player).exclude(status=OrderStatus.FAILED).aggregate(total=Sum("total"))["total"]
    )
    assert committed == 900


def test_gem_purchases_racing_grants_on_one_wallet_lose_no_update(parallel: Any) -> None:
    # A purchase with gems locks the buyer and the wallet in one statement and posts from the
    # wallet as it read it there: grants committing meanwhile must wait for that lock, not be
    # overwritten by balances read before them.
    from economy.services import wallet_grant

    product = GemPriceProductFactory(price_amount=10, grants={"gold": 1})
    player = player_with_wallet(gems=200)
    api = client_for(player)

    def act(index: int) -> int:
        if index % 2:
            wallet_grant(user=player.pk, bundle={"gems": 7}, reason="admin_adjust", idempotency_key=f"g{index}")
            return 0
        return api.post(
            "/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY=f"k{index}"
        ).status_code

    outcomes = Counter(parallel(20, act))

    assert outcomes == {201: 10, 0: 10}
    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gems, wallet.gold) == (200 - 10 * 10 + 10 * 7, 10)
    entries = LedgerEntry.objects.filter(wallet_id=player.pk, currency="gems")
    assert entries.aggregate(total=Sum("delta"))["total"] == wallet.gems  # the first entry: the 200 seeded
    # Each entry's balance_after follows the one before it: the postings were serialised.
    running = 0
    for delta, after in entries.order_by("pk").values_list("delta", "balance_after"):
        running += delta
        assert after == running


def test_gem_purchases_racing_spins_of_the_same_player_all_complete(parallel: Any) -> None:
    # A spin holds the wallet and, at its commit, checks its round's foreign key to the player's
    # user row; a purchase holds that user row (the purchase lock) and waits for the wallet. The
    # purchase lock lets foreign-key checks through (FOR NO KEY UPDATE), so neither waits for the other.
    from games.services.slots import slot_table_current

    slot_table_current()
    product = GemPriceProductFactory(price_amount=10, grants={"gold": 1})
    player = player_with_wallet(gold=10_000, gems=200)
    api = client_for(player)

    def act(index: int) -> int:
        if index % 2:
            path, body = "/api/games/slot/spin", {"bet_amount": 10}
        else:
            path, body = "/api/shop/buy", {"product_id": product.sku}
        return api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"k{index}").status_code

    outcomes = Counter(parallel(20, act))

    assert outcomes == {201: 10, 200: 10}, outcomes
    assert Wallet.objects.get(pk=player.pk).gems == 200 - 10 * 10
    assert Order.objects.filter(user=player, status=OrderStatus.FULFILLED).count() == 10


def _twin_purchase_waiting_for_the_buyer(gems: int) -> tuple[Any, Any, Any, Any]:
    """``shop_buy`` under key "twin" twice, as a service call (no idempotency record in front):
    the second's lock statement starts while the first holds the buyer lock (so its snapshot
    cannot see the first's order) and waits; then the first commits."""
    from unittest import mock

    from casino.tests.race_condition import run_waiting_after
    from shop.services import purchase
    from shop.services.purchase import shop_buy

    product = GemPriceProductFactory(price_amount=100, grants={"gold": 1})
    player = player_with_wallet(gems=gems)

    def buy() -> Any:
        return shop_buy(user=player, idempotency_key="twin", product_sku=product.sku)

    with (
        mock.patch.object(purchase, "_replay", wraps=purchase._replay) as replays,
        run_waiting_after("shop.services.purchase.buyer_and_wallet_lock", buy) as second,
    ):
        first = buy()
    return player, first, second["result"], replays


def test_a_gem_purchase_twin_that_waited_for_the_buyer_lock_is_answered_with_the_first_order() -> None:
    # Given a buyer with gems for both, and a twin whose replay check read a snapshot taken before
    # the first purchase committed
    player, first, second, replays = _twin_purchase_waiting_for_the_buyer(1000)
    # Then the order's unique key refused the twin's order, and the twin answered with the first's
    assert not first.replayed and second.replayed and second.order.pk == first.order.pk
    assert replays.call_count == 3  # each one's check in its lock statement, then the twin's answer
    assert Order.objects.filter(user=player, idempotency_key="twin").count() == 1
    assert Wallet.objects.get(pk=player.pk).gems == 900
    assert LedgerEntry.objects.filter(wallet_id=player.pk, reason="purchase", delta__lt=0).count() == 1


def test_a_gem_purchase_twin_refused_for_the_gems_the_first_spent_is_answered_with_the_first_order() -> None:
    # Given a buyer with gems for one purchase: the first spends them all
    player, first, second, _replays = _twin_purchase_waiting_for_the_buyer(100)
    # Then the twin's refusal (insufficient funds) is answered with the first order, not refused
    assert not first.replayed and second.replayed and second.order.pk == first.order.pk
    assert Order.objects.filter(user=player, idempotency_key="twin").count() == 1
    assert Wallet.objects.get(pk=player.pk).gems == 0
