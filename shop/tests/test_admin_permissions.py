"""Least privilege in the shop back office (design promise 7): settling,
refunding and deciding a fraud review each need their own permission (an
order's "change" permission no longer stands for all three), re-processing a
webhook needs ``reprocess_webhook``, package changes need the package
permissions -- in the admin and in the services, and staff reach other
players' orders through the API only with ``view_order`` / ``settle_order``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.staff import offered_actions, staff_with
from accounts.tokens import tokens_issue
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from economy.enums import Currency
from economy.tests.factories import player_with_wallet
from shop import fraud, services
from shop.models import (
    FraudAction,
    LimitedPackage,
    Order,
    OrderStatus,
    PriceType,
    Product,
    ProductKind,
    SandboxPayment,
    SandboxPaymentStatus,
    WebhookEvent,
    WebhookStatus,
)
from shop.providers.sandbox import sandbox_decide
from shop.services import shop_buy

pytestmark = pytest.mark.django_db

ORDERS = "/admin/shop/order/"
WEBHOOKS = "/admin/shop/webhookevent/"


def run_action(client: Client, url: str, action: str, objects: list[Any], **extra: Any) -> Any:
    return client.post(url, {"action": action, "_selected_action": [obj.pk for obj in objects], **extra})


def buy(player: Any, product: Product) -> Order:
    return shop_buy(user=player, product_sku=product.sku, idempotency_key=str(uuid.uuid4())).order


def gold_order() -> Order:
    product = Product.objects.create(
        sku="gems-for-gold",
        name="Gems for gold",
        kind=ProductKind.GEM_PACK,
        price_type=PriceType.GOLD,
        price_amount=1000,
        grants={Currency.GEMS: 50},
    )
    order = buy(player_with_wallet(gold=10_000), product)
    assert order.status == OrderStatus.FULFILLED
    return order


def money_product(sku: str = "starter-gems") -> Product:
    return Product.objects.create(
        sku=sku,
        name=sku,
        kind=ProductKind.GEM_PACK,
        price_type=PriceType.MONEY,
        price_amount=1299,
        price_currency="USD",
        grants={Currency.GEMS: 500},
    )


def paid_money_order() -> Order:
    """Paid at the provider, its webhook never arrived: settling fulfils it."""
    order = buy(player_with_wallet(), money_product())
    assert order.status == OrderStatus.PENDING and order.provider_reference
    sandbox_decide(reference=order.provider_reference, approve=True)
    return order


@pytest.fixture
def held_order(monkeypatch: pytest.MonkeyPatch) -> Order:
    """An order the fraud rules held for review."""
    real_evaluate = fraud.fraud_evaluate

    def review_everything(*, features: Any) -> Any:
        verdict = real_evaluate(features=features)
        return type(verdict)(
            action=FraudAction.REVIEW,
            score=40,
            matched_rules=[{"name": "test_review", "points": 40}],
            features=verdict.features,
            rules_version=verdict.rules_version,
        )

    monkeypatch.setattr(fraud, "fraud_evaluate", review_everything)
    order = buy(player_with_wallet(), money_product("held-gems"))
    assert order.status == OrderStatus.PENDING_REVIEW
    return order


# action -> (its permission, the order it acts on, the status after, the audit action, the service)
ORDER_ACTIONS: dict[str, tuple[str, str, str, str, Callable[[User, Order], Any]]] = {
    "settle_orders": (
        "shop.settle_order",
        "paid",
        OrderStatus.FULFILLED,
        "order_settle",
        lambda actor, order: services.order_settle(order=order, actor=actor, reason="x"),
    ),
    "refund_orders": (
        "shop.refund_order",
        "fulfilled",
        OrderStatus.REFUNDED,
        "order_refund",
        lambda actor, order: services.order_refund(actor=actor, order=order, reason="x"),
    ),
    "approve_review": (
        "shop.review_order",
        "held",
        OrderStatus.PENDING,
        "order_review_approve",
        lambda actor, order: services.order_review(actor=actor, order=order, approve=True, reason="x"),
    ),
    "reject_review": (
        "shop.review_order",
        "held",
        OrderStatus.FAILED,
        "order_review_reject",
        lambda actor, order: services.order_review(actor=actor, order=order, approve=False, reason="x"),
    ),
}


@pytest.fixture
def make_order(request: pytest.FixtureRequest) -> Callable[[str], Order]:
    def make(kind: str) -> Order:
        if kind == "held":
            held: Order = request.getfixturevalue("held_order")
            return held
        return paid_money_order() if kind == "paid" else gold_order()

    return make


@pytest.mark.parametrize("action", ORDER_ACTIONS)
def test_staff_who_may_view_and_change_orders_cannot_run_an_order_action_without_its_permission(
    action: str, make_order: Callable[[str], Order]
) -> None:
    # Given staff with the order's view and change permissions but not the action's own
    _, kind, _, audit_action, _ = ORDER_ACTIONS[action]
    clerk, _ = staff_with("shop.view_order", "shop.change_order")
    order = make_order(kind)

    # When they open the order list and post the action anyway
    offered = offered_actions(clerk, ORDERS)
    forged = run_action(clerk, ORDERS, action, [order], apply="1", reason="x")

    # Then it is not offered, and the order is as it was
    assert action not in offered
    assert forged.status_code in (200, 302)
    assert Order.objects.get(pk=order.pk).status == order.status
    assert not AuditLog.objects.filter(action=audit_action).exists()


@pytest.mark.parametrize("action", ORDER_ACTIONS)
def test_staff_holding_an_order_actions_permission_run_it_and_it_is_audited(
    action: str, make_order: Callable[[str], Order]
) -> None:
    permission, kind, after, audit_action, _ = ORDER_ACTIONS[action]
    finance, staff = staff_with("shop.view_order", permission)
    order = make_order(kind)

    offered = offered_actions(finance, ORDERS)
    done = run_action(finance, ORDERS, action, [order], apply="1", reason="ticket 7")

    assert offered == {name for name, spec in ORDER_ACTIONS.items() if spec[0] == permission}
    assert done.status_code == 302
    assert Order.objects.get(pk=order.pk).status == after
    record = AuditLog.objects.get(action=audit_action)
    assert (record.actor, record.reason) == (staff, "ticket 7")


@pytest.mark.parametrize("action", ORDER_ACTIONS)
def test_an_order_service_refuses_staff_without_its_permission_whoever_calls_it(
    action: str, make_order: Callable[[str], Order]
) -> None:
    _, kind, _, audit_action, call = ORDER_ACTIONS[action]
    _, clerk = staff_with("shop.view_order", "shop.change_order")
    order = make_order(kind)

    with pytest.raises(StaffPermissionRequired):
        call(clerk, order)

    assert Order.objects.get(pk=order.pk).status == order.status
    assert not AuditLog.objects.filter(action=audit_action).exists()


# --- webhooks --------------------------------------------------------------------------------


@pytest.fixture
def failed_webhook() -> WebhookEvent:
    """A verified payment webhook that failed (it arrived before the order had its reference)."""
    order = buy(player_with_wallet(), money_product())
    SandboxPayment.objects.filter(reference=order.provider_reference).update(status=SandboxPaymentStatus.APPROVED)
    payload = {
        "type": "payment.succeeded",
        "data": {
            "reference": order.provider_reference,
            "merchant_reference": order.receipt_code,
            "amount": order.total,
            "currency": order.currency,
        },
    }
    return WebhookEvent.objects.create(
        provider="sandbox",
        external_id="msg_1",
        event_type="payment.succeeded",
        status=WebhookStatus.FAILED,
        error_code="webhook_unknown_order",
        signature_valid=True,
        payload=payload,
        received_at=timezone.now(),
    )


def test_reprocessing_a_webhook_needs_reprocess_webhook_not_the_change_permission(
    failed_webhook: WebhookEvent,
) -> None:
    clerk, clerk_user = staff_with("shop.view_webhookevent", "shop.change_webhookevent")

    offered = offered_actions(clerk, WEBHOOKS)
    forged = run_action(clerk, WEBHOOKS, "reprocess", [failed_webhook])

    assert "reprocess" not in offered
    assert forged.status_code in (200, 302)
    failed_webhook.refresh_from_db()
    assert failed_webhook.status == WebhookStatus.FAILED
    assert Order.objects.get().status == OrderStatus.PENDING
    with pytest.raises(StaffPermissionRequired):
        services.webhook_process(event=failed_webhook, actor=clerk_user)
    assert WebhookEvent.objects.get(pk=failed_webhook.pk).status == WebhookStatus.FAILED
    assert not AuditLog.objects.exists()


def test_staff_holding_reprocess_webhook_reprocess_one_and_it_is_audited(failed_webhook: WebhookEvent) -> None:
    finance, staff = staff_with("shop.view_webhookevent", "shop.reprocess_webhook")

    done = run_action(finance, WEBHOOKS, "reprocess", [failed_webhook])

    assert done.status_code == 302
    assert WebhookEvent.objects.get(pk=failed_webhook.pk).status == WebhookStatus.PROCESSED
    assert Order.objects.get().status == OrderStatus.FULFILLED
    assert AuditLog.objects.get(action="webhook_reprocess").actor == staff


# --- limited packages ------------------------------------------------------------------------


def test_the_package_services_refuse_staff_without_the_package_permissions() -> None:
    _, viewer = staff_with("shop.view_limitedpackage")
    product = money_product()
    now = timezone.now()
    package = LimitedPackage.objects.create(
        product=product,
        code="launch",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1),
        total_stock=5,
        remaining_stock=5,
        per_player_limit=1,
    )

    with pytest.raises(StaffPermissionRequired):
        services.package_create(
            actor=viewer,
            product=product,
            code="second",
            starts_at=now,
            ends_at=now + timedelta(days=1),
            total_stock=5,
            per_player_limit=1,
        )
    package.per_player_limit = 99
    with pytest.raises(StaffPermissionRequired):
        services.package_update(actor=viewer, package=package, fields=["per_player_limit"], reason="x")
    package.total_stock = 500
    with pytest.raises(StaffPermissionRequired):
        services.package_stock_raise(actor=viewer, package=package, previous_total=5, reason="x")

    stored = LimitedPackage.objects.get()
    assert (stored.code, stored.per_player_limit, stored.total_stock, stored.remaining_stock) == ("launch", 1, 5, 5)
    assert not AuditLog.objects.exists()


# --- the API: staff reach other players' orders only with the permissions ---------------------


def api_client_for(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


def test_staff_without_view_order_cannot_read_or_settle_another_players_order_through_the_api() -> None:
    order = paid_money_order()
    nosy = api_client_for(UserFactory(is_staff=True))

    read = nosy.get(f"/api/shop/transactions/{order.receipt_code}")
    settle = nosy.post(f"/api/shop/transactions/{order.receipt_code}/settle")

    assert (read.status_code, settle.status_code) == (404, 404)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING


def test_staff_who_may_view_orders_read_one_but_settle_it_only_with_settle_order() -> None:
    order = paid_money_order()
    _, viewer_user = staff_with("shop.view_order")
    _, settler_user = staff_with("shop.view_order", "shop.settle_order")
    viewer, settler = api_client_for(viewer_user), api_client_for(settler_user)

    read = viewer.get(f"/api/shop/transactions/{order.receipt_code}")
    refused = viewer.post(f"/api/shop/transactions/{order.receipt_code}/settle")
    assert read.status_code == 200
    assert refused.status_code == 403
    assert refused.json()["error"] == "staff_permission_required"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING

    settled = settler.post(f"/api/shop/transactions/{order.receipt_code}/settle")
    assert settled.status_code == 200
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FULFILLED
    assert AuditLog.objects.get(action="order_settle").actor == settler_user
