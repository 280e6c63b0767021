"""The shop rows of docs/client-contract.md: the listings, the buy answers,
what a buy may name, the transactions and their cursor."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy.models import Wallet
from economy.tests.factories import player_with_wallet
from shop.models import Order
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory, PackageFactory

pytestmark = pytest.mark.django_db

LISTING_FIELDS = {
    "id",
    "product_id",
    "name",
    "description",
    "price",
    "currency",
    "is_active",
    "remaining_stock",
    "per_user_limit",
    "user_remaining",
}
BUY_FIELDS = {
    "success",
    "product_id",
    "quantity",
    "gold_granted",
    "gold_spent",
    "new_gold_balance",
    "new_balance",
    "cyber_token_balance",
    "items",
    "receipt_code",
    "status",
    "reason_code",
}
TRANSACTION_FIELDS = {"product_id", "status", "amount", "receipt_code", "created_at"}


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=700, gems=5000)


@pytest.fixture
def client(player: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    return api


def post(client: APIClient, path: str, key: str, **body: Any) -> Any:
    return client.post(path, body, format="json", HTTP_X_IDEMPOTENCY_KEY=key)


def test_products_catalog_and_packages_list_the_contract_fields(client: APIClient) -> None:
    # Given a product on general sale and a limited package
    product = GemPriceProductFactory(limit_daily=3)
    package = PackageFactory(total_stock=10, remaining_stock=7, per_player_limit=2)

    # When the client reads the three listings
    products = client.get("/api/shop/products").json()
    catalog = client.get("/api/shop/catalog").json()
    packages = client.get("/api/shop/limited-packages").json()

    # Then each is a list of items with every contract field; the catalog lists both
    for listing in (products, catalog, packages):
        assert isinstance(listing, list) and listing
        for item in listing:
            assert set(item) >= LISTING_FIELDS, LISTING_FIELDS - set(item)
            assert isinstance(item["price"], int | float)
    assert [i["product_id"] for i in products] == [product.sku]
    assert [i["product_id"] for i in catalog] == [product.sku, package.product.sku]
    assert catalog[1]["package_id"] == package.code
    assert (catalog[1]["remaining_stock"], catalog[1]["per_user_limit"], catalog[1]["user_remaining"]) == (7, 2, 2)
    assert catalog[0]["user_remaining"] == 3


def test_catalog_grouped_form_is_still_served(client: APIClient) -> None:
    # Given a product and a package
    product = GemPriceProductFactory()
    package = PackageFactory()

    # When a consumer asks for the grouped form
    grouped = client.get("/api/shop/catalog?view=grouped").json()

    # Then it gets the object it read before
    assert [i["product_id"] for i in grouped["products"]] == [product.sku]
    assert [i["package_id"] for i in grouped["limited_packages"]] == [package.code]


def test_buy_answer_has_every_contract_field_and_the_gold_aliases(client: APIClient, player: Any) -> None:
    # Given a product priced in gems granting gold and an item
    product = GemPriceProductFactory(grants={"gold": 10_000}, grant_items=["frame"])

    # When the player buys two
    response = post(client, "/api/shop/buy", "k1", product_id=product.sku, quantity=2)

    # Then the answer carries every field the client reads, the gold under each of its names
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= BUY_FIELDS, BUY_FIELDS - set(body)
    gold = Wallet.objects.get(pk=player.pk).gold
    assert gold == 20_700
    assert (body["new_gold_balance"], body["new_balance"], body["cyber_token_balance"]) == (gold, gold, gold)
    assert (body["gold_granted"], body["gold_spent"], body["quantity"]) == (20_000, 0, 2)
    assert body["items"] == [{"item_code": "frame", "quantity": 2}]
    assert (body["success"], body["status"], body["state"], body["reason_code"]) == (True, "success", "fulfilled", None)


def test_a_money_product_answers_pending_with_a_checkout_url(client: APIClient, player: Any) -> None:
    # Given a real-money product
    product = MoneyProductFactory()

    # When the player buys it
    body = post(client, "/api/shop/buy", "k1", product_id=product.sku).json()

    # Then the answer is pending, says where to pay, and still reports the gold held
    assert (body["status"], body["success"]) == ("pending", True)
    assert body["checkout_url"]
    assert (body["cyber_token_balance"], body["new_balance"], body["gold_granted"]) == (700, 700, 0)


def test_price_like_fields_from_the_client_are_never_trusted(client: APIClient, player: Any) -> None:
    # Given a product priced 500 gems and another player
    product = GemPriceProductFactory(price_amount=500)
    other = player_with_wallet(gold=0, gems=0)

    # When the client sends its own price, amount, buyer, kind and payment method
    response = post(
        client,
        "/api/shop/buy",
        "k1",
        product_id=product.sku,
        amount=1,
        price=0,
        user_id=other.pk,
        kind="item",
        payment_method="free",
    )

    # Then the catalog's price is charged to the caller, and nobody else is touched
    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert (order.user_id, order.total) == (player.pk, 500)
    assert Wallet.objects.get(pk=player.pk).gems == 4500
    assert (Wallet.objects.get(pk=other.pk).gold, Wallet.objects.get(pk=other.pk).gems) == (0, 0)


def test_buy_accepts_a_package_id_and_buy_limited_a_product_id(client: APIClient) -> None:
    # Given two packages on sale
    first = PackageFactory(product=GemPriceProductFactory(), per_player_limit=5)
    second = PackageFactory(product=GemPriceProductFactory(), per_player_limit=5)

    # When the client names them every way it does
    by_package_on_buy = post(client, "/api/shop/buy", "a", package_id=first.code)
    by_sku_on_limited = post(client, "/api/shop/buy-limited", "b", product_id=second.product.sku)
    by_code_on_limited = post(client, "/api/shop/buy-limited", "c", product_id=second.code)
    by_package_on_limited = post(client, "/api/shop/buy-limited", "d", package_id=first.code)

    # Then each buys the package meant
    answers = [by_package_on_buy, by_sku_on_limited, by_code_on_limited, by_package_on_limited]
    assert [r.status_code for r in answers] == [201, 201, 201, 201], [r.json() for r in answers]
    assert [r.json()["package_id"] for r in answers] == [first.code, second.code, second.code, first.code]


def test_a_buy_naming_nothing_is_a_field_error(client: APIClient) -> None:
    # When a buy names neither a product nor a package
    response = post(client, "/api/shop/buy", "k1", quantity=1)

    # Then it is refused with a field error the client can show, and nothing is written
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "product_id" in response.json()["fields"]
    assert not Order.objects.exists()


def test_transactions_answer_under_both_keys_and_page_by_after_id(client: APIClient, player: Any) -> None:
    # Given five purchases of the player and one of someone else
    product = GemPriceProductFactory(price_amount=10)
    for n in range(5):
        assert post(client, "/api/shop/buy", f"k{n}", product_id=product.sku).status_code == 201
    stranger = player_with_wallet(gems=100)
    stranger_client = APIClient()
    stranger_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=stranger).access}")
    assert post(stranger_client, "/api/shop/buy", "k0", product_id=product.sku).status_code == 201
    first_page = client.get("/api/shop/transactions?limit=2").json()

    # When the client follows the cursor
    second_page = client.get(f"/api/shop/transactions?limit=2&after_id={first_page['next_after_id']}").json()
    third_page = client.get(f"/api/shop/transactions?limit=2&after_id={second_page['next_after_id']}").json()

    # Then every page has the list under both names, with the contract's fields, and no order twice
    for page in (first_page, second_page, third_page):
        assert page["transactions"] == page["items"]
        for item in page["transactions"]:
            assert set(item) >= TRANSACTION_FIELDS
            assert item["status"] == "success"
    receipts = [i["receipt_code"] for p in (first_page, second_page, third_page) for i in p["transactions"]]
    newest_first = list(Order.objects.filter(user=player).order_by("-created_at", "-id"))
    assert receipts == [o.receipt_code for o in newest_first]
    assert (first_page["has_more"], second_page["has_more"], third_page["has_more"]) == (True, True, False)
    assert third_page["next_after_id"] is None
    assert first_page["total"] == 5


def test_transactions_refuse_a_cursor_that_is_not_an_id(client: APIClient) -> None:
    # When the client sends a timestamp where the id goes
    response = client.get("/api/shop/transactions?after_id=2024-01-01T00:00:00Z")

    # Then it is a field error, not a 500
    assert response.status_code == 400
    assert "after_id" in response.json()["fields"]


def test_settle_answers_at_both_path_forms(client: APIClient) -> None:
    # Given a pending money order
    body = post(client, "/api/shop/buy", "k1", product_id=MoneyProductFactory().sku).json()

    # When the client settles it, with and without the trailing slash
    plain = client.post(f"/api/shop/transactions/{body['receipt_code']}/settle", HTTP_X_IDEMPOTENCY_KEY="s1")
    slashed = client.post(f"/api/shop/transactions/{body['receipt_code']}/settle/", HTTP_X_IDEMPOTENCY_KEY="s2")

    # Then both reach the settlement (still pending at the sandbox) with the transaction
    for response in (plain, slashed):
        assert response.status_code == 200, response.json()
        assert response.json()["transaction"]["receipt_code"] == body["receipt_code"]
        assert response.json()["transaction"]["status"] == "pending"
