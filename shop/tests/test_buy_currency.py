"""Buying with game currency: one transaction, server prices, every refusal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from casino.db import key_next_sql
from economy.enums import LedgerReason
from economy.models import LedgerEntry, Wallet
from economy.tests.factories import player_with_wallet
from events.definitions import definitions
from realtime.models import OutboxEvent
from shop.catalog_selectors import catalog_product
from shop.models import LimitedPackage, Order, OrderStatus
from shop.tests.factories import GemPriceProductFactory, PackageFactory, PromoFactory

pytestmark = pytest.mark.django_db
BUY = "/api/shop/buy"


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=0, gems=2000)


@pytest.fixture
def client(player: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    api.user = player  # type: ignore[attr-defined]
    return api


def buy(client: APIClient, key: str, **body: Any) -> Any:
    return client.post(BUY, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_buy_with_gems_spends_and_grants_in_one_go(client: APIClient, player: Any) -> None:
    product = GemPriceProductFactory()

    response = buy(client, "k1", product_id=product.sku, quantity=2)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["success"] is True
    assert (body["status"], body["state"]) == ("success", "fulfilled")
    assert (body["gems_spent"], body["gold_granted"]) == (1000, 20_000)
    assert (body["new_gold_balance"], body["new_gems_balance"]) == (20_000, 1000)
    assert body["receipt_code"]
    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gold, wallet.gems) == (20_000, 1000)
    reasons = set(
        LedgerEntry.objects.filter(reference=f"order:{body['receipt_code']}").values_list("reason", flat=True)
    )
    assert reasons == {LedgerReason.PURCHASE}
    events = OutboxEvent.objects.filter(type="purchase_update").order_by("id")
    assert [(e.data["status"], e.data["state"]) for e in events] == [("pending", "paid"), ("success", "fulfilled")]


def test_a_gem_purchase_is_one_order_write_and_one_wallet_posting(
    client: APIClient, player: Any, django_assert_num_queries: Any
) -> None:
    product = GemPriceProductFactory()
    minute = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(minute, tick=True):  # both requests in one minute: one activity mark
        client.get("/api/users/balance")  # this minute's activity mark is written
        definitions()  # the progress subscriber's definitions and the catalog, as in a running process
        catalog_product(sku=product.sku)
        key_next_sql(Order)  # and the order's key sequence, looked up once per process

        # The product, whether it is priced in money (a money order keeps no idempotency record) and
        # whether it is sold as a package come from the process's copy of the catalog: no statement.
        # Then one transaction (a savepoint here, inside the test's): the idempotency claim, the buyer
        # lock with the wallet's and the replay check (one statement: the user row, then the wallet row,
        # which the posting takes as locked; the check draws the order's key too), the wallet posting
        # (the entries with their key check and the wallet's UPDATE in one statement), one statement for
        # the order, its transitions, the fulfilled order's notification (its inbox row: a realtime
        # subscriber of purchase_update; its socket event, which carries the row's key, is not stored),
        # the three outbox events (balance, two purchase updates) and the stored response. 4 statements
        # plus the savepoint pair. No mission, achievement or event counts purchases here, so the
        # progress subscriber writes nothing.
        with django_assert_num_queries(6) as captured:
            body = buy(client, "q1", product_id=product.sku).json()

    locks = [q["sql"] for q in captured.captured_queries if " FOR " in q["sql"]]
    assert len(locks) == 1 and locks[0].endswith("FOR NO KEY UPDATE OF u, w")  # buyer and wallet, in that order
    assert "shop_order" in locks[0] and "nextval" in locks[0]  # the replay check and the order's key

    order_writes = [q["sql"] for q in captured.captured_queries if 'INSERT INTO "shop_order"' in q["sql"]]
    assert len(order_writes) == 1 and "realtime_outboxevent" in order_writes[0]
    assert 'INSERT INTO "realtime_notification"' in order_writes[0]  # the inbox row, in the same statement
    assert 'UPDATE "casino_idempotencyrecord"' in order_writes[0]  # the stored response, in the same statement

    order = Order.objects.get(receipt_code=body["receipt_code"])
    steps = list(order.transitions.order_by("pk").values_list("from_status", "to_status", "reason"))
    assert steps == [("", "paid", "paid with gems"), ("paid", "fulfilled", "granted")]
    assert (order.status, order.paid_at, order.fulfilled_at, order.stock_held) == (
        OrderStatus.FULFILLED,
        order.created_at,
        order.created_at,
        False,
    )
    assert (body["new_gems_balance"], body["new_gold_balance"]) == (1500, 10_000)
    event = OutboxEvent.objects.filter(type="balance_update", user_id=player.pk).latest("id")
    assert event.data["deltas"] == {"gems": -500, "gold": 10_000}


def test_prices_from_the_client_are_ignored(client: APIClient, player: Any) -> None:
    product = GemPriceProductFactory()

    body = buy(client, "k", product_id=product.sku, price=1, amount=1, gold_spent=0, user_id=999).json()

    assert body["gems_spent"] == 500
    assert Wallet.objects.get(pk=player.pk).gems == 1500


def test_insufficient_funds_changes_nothing(client: APIClient, player: Any) -> None:
    product = GemPriceProductFactory(price_amount=5000)

    response = buy(client, "k", product_id=product.sku)

    assert response.status_code == 409
    assert response.json()["error"] == "insufficient_funds"
    assert not Order.objects.exists()
    assert Wallet.objects.get(pk=player.pk).gems == 2000


def test_replay_returns_the_same_order_and_another_request_is_a_conflict(client: APIClient, player: Any) -> None:
    product = GemPriceProductFactory()
    first = buy(client, "same", product_id=product.sku)

    replay = buy(client, "same", product_id=product.sku)
    other = buy(client, "same", product_id=product.sku, quantity=3)

    assert replay.content == first.content
    assert other.status_code == 409
    assert other.json()["error"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    assert Wallet.objects.get(pk=player.pk).gems == 1500


def test_buying_requires_an_idempotency_key(client: APIClient) -> None:
    product = GemPriceProductFactory()

    response = client.post(BUY, {"product_id": product.sku}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "idempotency_key_required"


@pytest.mark.parametrize(
    ("setup", "code", "status"),
    [
        ({"is_active": False}, "product_unavailable", 409),
        ({"min_vip_tier": "PREMIUM"}, "vip_tier_too_low", 403),
    ],
)
def test_refusals_have_their_own_code(client: APIClient, setup: dict[str, Any], code: str, status: int) -> None:
    product = GemPriceProductFactory(**setup)

    response = buy(client, "k", product_id=product.sku)

    assert (response.status_code, response.json()["error"]) == (status, code)


def test_vip_tier_is_compared_by_order_not_equality(client: APIClient, player: Any) -> None:
    Wallet.objects.filter(pk=player.pk).update(vip_tier="VIP")
    product = GemPriceProductFactory(min_vip_tier="PREMIUM")

    assert buy(client, "k", product_id=product.sku).status_code == 201


def test_unknown_product_is_404(client: APIClient) -> None:
    response = buy(client, "k", product_id="nope")

    assert (response.status_code, response.json()["error"]) == (404, "product_not_found")


def test_daily_limit_resets_the_next_utc_day(player: Any) -> None:
    product = GemPriceProductFactory(price_amount=10, limit_daily=2)
    start = timezone.now().replace(hour=12)

    def client_now() -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
        return api

    with time_machine.travel(start, tick=False):
        api = client_now()
        assert buy(api, "a", product_id=product.sku).status_code == 201
        assert buy(api, "b", product_id=product.sku).status_code == 201
        refused = buy(api, "c", product_id=product.sku)
        assert refused.status_code == 409
        assert (refused.json()["error"], refused.json()["period"], refused.json()["remaining"]) == (
            "purchase_limit_reached",
            "daily",
            0,
        )
    with time_machine.travel(start + timedelta(days=1), tick=False):
        assert buy(client_now(), "d", product_id=product.sku).status_code == 201


def test_lifetime_limit_counts_quantity(client: APIClient) -> None:
    product = GemPriceProductFactory(price_amount=10, limit_lifetime=3)

    assert buy(client, "a", product_id=product.sku, quantity=2).status_code == 201
    over = buy(client, "b", product_id=product.sku, quantity=2)

    assert (over.status_code, over.json()["remaining"]) == (409, 1)


def test_percent_and_fixed_promos(client: APIClient, player: Any) -> None:
    product = GemPriceProductFactory(price_amount=500)
    PromoFactory(code="TENOFF", discount_type="percent", discount_value=10)
    PromoFactory(code="MINUS100", discount_type="fixed", discount_value=100)

    percent = buy(client, "a", product_id=product.sku, promo_code="tenoff").json()
    fixed = buy(client, "b", product_id=product.sku, promo_code="MINUS100").json()

    assert (percent["amount"], percent["discount"], percent["gems_spent"]) == (450, 50, 450)
    assert (fixed["amount"], fixed["discount"]) == (400, 100)
    assert Order.objects.get(receipt_code=percent["receipt_code"]).redemption.promo.code == "TENOFF"


@pytest.mark.parametrize(
    ("promo", "reason"),
    [
        (None, "unknown"),
        ({"is_active": False}, "inactive"),
        ({"ends_at": timezone.now() - timedelta(seconds=1)}, "expired"),
        ({"max_total_uses": 1, "uses": 1}, "used_up"),
    ],
)
def test_bad_promo_codes_are_errors_never_ignored(client: APIClient, player: Any, promo: Any, reason: str) -> None:
    product = GemPriceProductFactory()
    if promo is not None:
        PromoFactory(code="CODE", **promo)

    response = buy(client, "k", product_id=product.sku, promo_code="CODE")

    assert (response.status_code, response.json()["error"], response.json()["reason"]) == (
        400,
        "invalid_promo_code",
        reason,
    )
    assert Wallet.objects.get(pk=player.pk).gems == 2000


def test_promo_per_player_use_and_product_restriction(client: APIClient) -> None:
    product, other = GemPriceProductFactory(), GemPriceProductFactory()
    PromoFactory(code="ONCE", max_uses_per_player=1, product=product)

    first = buy(client, "a", product_id=product.sku, promo_code="ONCE")
    second = buy(client, "b", product_id=product.sku, promo_code="ONCE")
    wrong = buy(client, "c", product_id=other.sku, promo_code="ONCE")

    assert first.status_code == 201
    assert second.json()["reason"] == "already_used"
    assert wrong.json()["reason"] == "not_for_this_product"


def test_limited_package_with_gems_decrements_stock(client: APIClient) -> None:
    package = PackageFactory(product=GemPriceProductFactory(), total_stock=3, remaining_stock=3, per_player_limit=1)

    bought = client.post("/api/shop/buy-limited", {"package_id": package.code}, format="json", HTTP_IDEMPOTENCY_KEY="a")
    again = client.post("/api/shop/buy-limited", {"package_id": package.code}, format="json", HTTP_IDEMPOTENCY_KEY="b")

    assert bought.status_code == 201
    assert (again.status_code, again.json()["error"], again.json()["period"]) == (
        409,
        "purchase_limit_reached",
        "package",
    )
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 2
    assert buy(client, "c", product_id=package.product.sku).json()["error"] == "wrong_purchase_endpoint"


def test_package_outside_its_window_is_refused(client: APIClient) -> None:
    package = PackageFactory(
        product=GemPriceProductFactory(),
        starts_at=timezone.now() + timedelta(hours=1),
        ends_at=timezone.now() + timedelta(hours=2),
    )

    response = client.post(
        "/api/shop/buy-limited", {"package_id": package.code}, format="json", HTTP_IDEMPOTENCY_KEY="a"
    )

    assert (response.status_code, response.json()["error"]) == (409, "sale_not_open")


def test_catalog_shows_prices_stock_and_what_is_left_for_me(client: APIClient) -> None:
    product = GemPriceProductFactory(limit_daily=3, is_highlighted=True)
    package = PackageFactory(total_stock=10, remaining_stock=7, per_player_limit=2)
    buy(client, "a", product_id=product.sku)

    catalog = client.get("/api/shop/catalog?view=grouped").json()
    products = client.get("/api/shop/products").json()
    packages = client.get("/api/shop/limited-packages").json()

    listed = {item["product_id"]: item for item in products}
    assert listed[product.sku]["user_remaining"] == 2
    assert listed[product.sku]["price"] == 500 and listed[product.sku]["currency"] == "gems"
    assert package.product.sku not in listed  # sold only as the package
    assert packages[0]["package_id"] == package.code
    assert (packages[0]["remaining_stock"], packages[0]["user_remaining"]) == (7, 2)
    assert catalog["limited_packages"][0]["currency"] == "USD"
    dashboard = client.get("/api/dashboard").json()
    assert dashboard["shop_highlights"][0]["product_id"] == product.sku


def test_the_catalog_lists_what_is_on_sale_in_order_and_follows_staff_changes(client: APIClient) -> None:
    later = GemPriceProductFactory(sort_order=2)
    first = GemPriceProductFactory(sort_order=1)
    tied = GemPriceProductFactory(sort_order=2)
    GemPriceProductFactory(is_active=False)
    packaged = PackageFactory().product

    def listed() -> list[str]:
        return [item["product_id"] for item in client.get("/api/shop/products").json()]

    assert listed() == [first.sku, later.sku, tied.sku]  # sort order, then id; nothing off sale or packaged
    catalog = client.get("/api/shop/catalog").json()
    assert [item.get("package_id") is not None for item in catalog if item["product_id"] == packaged.sku] == [True]
    # When staff take one off sale (a save: every process's copy of the catalog follows it)
    later.is_active = False
    later.save()
    assert listed() == [first.sku, tied.sku]


def test_transactions_list_my_orders_only(client: APIClient, staff_user: Any) -> None:
    product = GemPriceProductFactory()
    buy(client, "a", product_id=product.sku)

    mine = client.get("/api/shop/transactions?limit=5").json()

    assert mine["total"] == 1
    assert (mine["items"][0]["status"], mine["items"][0]["state"]) == ("success", OrderStatus.FULFILLED)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=staff_user).access}")
    assert other.get("/api/shop/transactions").json()["total"] == 0
