"""A refund takes back what was granted in the currency the player actually
holds it in: gold already spent on gems is owed as gems, not as gold."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from casino.models import AuditLog
from economy.enums import LedgerReason
from economy.models import DebtEntry, Wallet
from economy.services import ledger_audit_run, wallet_spend
from economy.tests.factories import player_with_wallet
from shop import services
from shop.models import Order, OrderStatus, SandboxPayment, SandboxPaymentStatus
from shop.providers.sandbox import WebhookEventType, webhook_payload
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory
from shop.webhooks import signature_headers

pytestmark = pytest.mark.django_db
GOLD, GEMS = "gold", "gems"


def paid_gold_pack(player: Any, gold: int = 10_000) -> Order:
    """A real-money order that granted ``gold``, paid through its webhook."""
    order = services.shop_buy(
        user=player, idempotency_key=str(uuid.uuid4()), product_sku=MoneyProductFactory(grants={GOLD: gold}).sku
    ).order
    SandboxPayment.objects.filter(reference=order.provider_reference).update(status=SandboxPaymentStatus.APPROVED)
    payment = SandboxPayment.objects.get(reference=order.provider_reference)
    body = json.dumps(webhook_payload(event_type=WebhookEventType.SUCCEEDED, payment=payment)).encode()
    headers = signature_headers(
        secrets=list(settings.SHOP_WEBHOOK_SECRETS[:1]),
        msg_id=f"msg_{uuid.uuid4().hex}",
        timestamp=int(timezone.now().timestamp()),
        body=body,
    )
    services.payment_webhook_receive(headers=headers, body=body)
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    return order


def buy_gems_with_gold(player: Any, *, price: int = 10_000, gems: int = 500) -> Order:
    product = GemPriceProductFactory(price_type=GOLD, price_amount=price, grants={GEMS: gems})
    order = services.shop_buy(user=player, idempotency_key=str(uuid.uuid4()), product_sku=product.sku).order
    assert order.status == OrderStatus.FULFILLED
    return order


def wallet(player: Any) -> tuple[int, int, int, int]:
    w = Wallet.objects.get(pk=player.pk)
    return w.gold, w.gold_debt, w.gems, w.gems_debt


def test_refund_of_gold_spent_on_gems_takes_the_gems_back_instead_of_owing_gold(staff_user: Any) -> None:
    # Given 10,000 gold bought with money, all of it spent on 500 gems
    player = player_with_wallet()
    gold_pack = paid_gold_pack(player)
    gems_order = buy_gems_with_gold(player)
    assert wallet(player) == (0, 0, 500, 0)

    # When the money order is refunded
    services.order_refund(actor=staff_user, order=gold_pack, reason="chargeback")

    # Then the gems bought with that gold are what is taken back: no gold is owed
    assert wallet(player) == (0, 0, 0, 0)
    gems_order.refresh_from_db()
    assert gems_order.status == OrderStatus.REFUNDED
    assert gold_pack.receipt_code in gems_order.transitions.get(to_status=OrderStatus.REFUNDED).reason
    audit = AuditLog.objects.get(action="order_refund")
    assert audit.data["reversed_orders"] == [gems_order.receipt_code]
    assert ledger_audit_run().ok


def test_gems_already_spent_too_are_owed_as_gems(staff_user: Any) -> None:
    # Given 10,000 gold bought with money, spent on 500 gems, 200 of which were then bet away
    player = player_with_wallet()
    gold_pack = paid_gold_pack(player)
    buy_gems_with_gold(player)
    wallet_spend(user=player, bundle={GEMS: 200}, reason=LedgerReason.GAME_BET, idempotency_key="bet")

    # When the money order is refunded
    services.order_refund(actor=staff_user, order=gold_pack, reason="chargeback")

    # Then the debt is in the currency actually owed: 200 gems, no gold
    assert wallet(player) == (0, 0, 0, 200)
    assert list(DebtEntry.objects.filter(wallet_id=player.pk).values_list("currency", "delta")) == [(GEMS, 200)]
    assert ledger_audit_run().ok


def test_only_as_many_purchases_are_reversed_as_the_balance_falls_short(staff_user: Any) -> None:
    # Given 10,000 gold from money plus 10,000 of the player's own, and two 10,000-gold gem purchases after it
    player = player_with_wallet(gold=10_000)
    gold_pack = paid_gold_pack(player)
    first = buy_gems_with_gold(player)
    second = buy_gems_with_gold(player)

    # When the money order is refunded
    services.order_refund(actor=staff_user, order=gold_pack, reason="chargeback")

    # Then one purchase (the oldest) is reversed: the player keeps what their own gold bought
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (OrderStatus.REFUNDED, OrderStatus.FULFILLED)
    assert wallet(player) == (0, 0, 500, 0)


def test_gold_lost_on_bets_is_still_owed_as_gold(staff_user: Any) -> None:
    # Given 10,000 gold bought with money, 7,000 of it bet away and nothing bought with it
    player = player_with_wallet()
    gold_pack = paid_gold_pack(player)
    wallet_spend(user=player, bundle={GOLD: 7_000}, reason=LedgerReason.GAME_BET, idempotency_key="bet")

    # When the money order is refunded
    services.order_refund(actor=staff_user, order=gold_pack, reason="chargeback")

    # Then what was lost is owed in gold, repaid from the next gold grants
    assert wallet(player) == (0, 7_000, 0, 0)


def test_purchases_made_before_the_refunded_order_are_never_reversed(staff_user: Any) -> None:
    # Given gems bought with the player's own gold before a money order granted gold, which was then bet away
    player = player_with_wallet(gold=10_000)
    earlier = buy_gems_with_gold(player)
    gold_pack = paid_gold_pack(player)
    wallet_spend(user=player, bundle={GOLD: 10_000}, reason=LedgerReason.GAME_BET, idempotency_key="bet")

    # When the money order is refunded
    services.order_refund(actor=staff_user, order=gold_pack, reason="chargeback")

    # Then the earlier purchase stands and the gold is owed
    earlier.refresh_from_db()
    assert earlier.status == OrderStatus.FULFILLED
    assert wallet(player) == (0, 10_000, 500, 0)
