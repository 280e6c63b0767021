"""``purchase_update.data.status`` and the buy answer's ``status`` are one of
the web client's four words (any other value crashes its shop screen); the
order's own state travels as ``state`` (docs/client-contract.md)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy.tests.factories import player_with_wallet
from realtime.models import OutboxEvent
from shop import services
from shop.api.views import purchase_body
from shop.enums import CLIENT_PURCHASE_STATUS, ClientPurchaseStatus, OrderFailureReason
from shop.models import Order, OrderStatus
from shop.services.order_state import order_transition
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory

pytestmark = pytest.mark.django_db

CLIENT_WORDS = {"pending", "success", "failed", "idempotent_reuse"}
EXPECTED_WORD = {
    OrderStatus.PENDING: "pending",
    OrderStatus.PENDING_REVIEW: "pending",
    OrderStatus.PAID: "pending",
    OrderStatus.FULFILLED: "success",
    OrderStatus.FAILED: "failed",
    OrderStatus.EXPIRED: "failed",
    OrderStatus.REFUNDED: "failed",
}


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=0, gems=5000)


@pytest.fixture
def client(player: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    return api


def purchase_updates() -> list[dict[str, Any]]:
    return [e.data for e in OutboxEvent.objects.filter(type="purchase_update").order_by("id")]


def test_every_order_state_has_one_of_the_client_words() -> None:
    # Given the order states and the client's vocabulary
    # Then every state maps, and only to one of the four words
    assert set(CLIENT_PURCHASE_STATUS) == set(OrderStatus.values)
    assert {word.value for word in CLIENT_PURCHASE_STATUS.values()} <= CLIENT_WORDS
    assert set(ClientPurchaseStatus.values) == CLIENT_WORDS
    assert {state: word.value for state, word in CLIENT_PURCHASE_STATUS.items()} == EXPECTED_WORD


@pytest.mark.parametrize("state", list(OrderStatus))
def test_purchase_update_for_each_state_sends_the_client_word_and_the_state(
    client: APIClient, player: Any, state: OrderStatus
) -> None:
    # Given a money order (pending)
    product = MoneyProductFactory(price_amount=499)
    body = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="k").json()
    order = Order.objects.get(receipt_code=body["receipt_code"])
    order.failure_reason = OrderFailureReason.PAYMENT_DECLINED if state == OrderStatus.FAILED else ""

    # When the order moves to the state
    with transaction.atomic():
        order_transition(order=order, to_status=state, reason="test")

    # Then the event says the client's word, with the state and the contract's fields beside it
    data = purchase_updates()[-1]
    assert data["status"] == EXPECTED_WORD[state]
    assert data["state"] == state
    assert (data["product_id"], data["receipt_code"], data["amount"]) == (product.sku, order.receipt_code, 499)
    assert data["reason_code"] == (OrderFailureReason.PAYMENT_DECLINED if state == OrderStatus.FAILED else None)


def test_a_gold_purchase_emits_pending_then_success(client: APIClient) -> None:
    # Given a product priced in gems
    product = GemPriceProductFactory()

    # When the player buys it
    response = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    # Then the answer and every event use the client's words
    assert response.status_code == 201, response.json()
    assert (response.json()["status"], response.json()["state"]) == ("success", "fulfilled")
    assert [(d["status"], d["state"]) for d in purchase_updates()] == [("pending", "paid"), ("success", "fulfilled")]
    assert all(d["status"] in CLIENT_WORDS for d in purchase_updates())


def test_a_money_purchase_answers_pending_and_emits_pending(client: APIClient) -> None:
    # Given a real-money product
    product = MoneyProductFactory()

    # When the player buys it
    body = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="k").json()

    # Then the answer is pending with where to pay, and so is the event
    assert (body["status"], body["state"]) == ("pending", "pending")
    assert body["checkout_url"]
    assert [(d["status"], d["state"]) for d in purchase_updates()] == [("pending", "pending")]


def test_a_replayed_buy_answers_idempotent_reuse_and_emits_nothing(player: Any) -> None:
    # Given a buy already made with a key
    product = GemPriceProductFactory()
    first = services.shop_buy(user=player, idempotency_key="same", product_sku=product.sku)
    emitted = len(purchase_updates())

    # When the same buy comes again with the same key (the endpoint's stored answer lost)
    again = services.shop_buy(user=player, idempotency_key="same", product_sku=product.sku)

    # Then the answer says idempotent_reuse, with the order's state; nothing new happened
    assert again.replayed and again.order.pk == first.order.pk
    body = purchase_body(again)
    assert (body["status"], body["state"], body["idempotent"]) == ("idempotent_reuse", "fulfilled", True)
    assert purchase_body(first)["status"] == "success"
    assert len(purchase_updates()) == emitted
    assert Order.objects.count() == 1
