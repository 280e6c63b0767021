"""Exact interleavings of two order steps on one order (PostgreSQL, real threads),
and the nesting guard of the entry points.

Each race test patches a function the first step passes through with its order
row locked (``run_after``) and starts the competing step there, in another
thread, then lets the first step finish: whatever the second does, the order
ends in one state, with one effect.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from casino.models import AuditLog
from casino.tests.race_condition import run_after, run_before
from economy.enums import LedgerReason
from economy.models import LedgerEntry, Wallet
from economy.tests.factories import player_with_wallet
from shop import services
from shop.exceptions import OrderStateConflict
from shop.models import LimitedPackage, Order, OrderStatus
from shop.tests.concurrency import (
    WAIT_SECONDS,
    Background,
    paid_webhook,
    wait_until_someone_waits_for_a_row_lock,
)
from shop.tests.factories import GemPriceProductFactory, PackageFactory


def fulfilled_gold_order() -> Order:
    """500 gems paid for 10,000 gold: a fulfilled game-currency order."""
    player = player_with_wallet(gems=500)
    product = GemPriceProductFactory(grants={"gold": 10_000}, grant_items=["avatar_frame"])
    order = services.shop_buy(user=player, idempotency_key="buy", product_sku=product.sku).order
    assert order.status == OrderStatus.FULFILLED
    return order


def stale_package_order(package: LimitedPackage) -> Order:
    """A pending money order for one unit of ``package``, older than the payment TTL."""
    order = services.shop_buy(
        user=player_with_wallet(), idempotency_key=str(uuid.uuid4()), package_code=package.code
    ).order
    assert order.status == OrderStatus.PENDING and order.stock_held
    long_ago = timezone.now() - settings.SHOP_PENDING_ORDER_TTL - timedelta(minutes=1)
    Order.objects.filter(pk=order.pk).update(created_at=long_ago, updated_at=long_ago)
    return order


# --- two refunds of one order ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_second_refund_arriving_while_the_first_holds_the_order_is_refused(staff_user: Any) -> None:
    # Given a fulfilled gold order: 500 gems paid, 10,000 gold and an item granted
    order = fulfilled_gold_order()
    second: list[Background] = []

    def second_refund(*_args: Any, **_kwargs: Any) -> None:
        second.append(Background(lambda: services.order_refund(actor=staff_user, order=order, reason="twice")))
        wait_until_someone_waits_for_a_row_lock()

    # When a second refund arrives right after the first locked the order
    with run_after("shop.services.back_office.order_lock", second_refund):
        refunded = services.order_refund(actor=staff_user, order=order, reason="once")

    # Then the first refunds, and the second, let through after its commit, sees it refunded
    assert second[0].finished_within(WAIT_SECONDS)
    assert isinstance(second[0].error, OrderStateConflict), second[0].error
    assert refunded.status == OrderStatus.REFUNDED
    # And the money moved back exactly once
    wallet = Wallet.objects.get(pk=order.user_id)
    assert (wallet.gems, wallet.gold, wallet.gold_debt) == (500, 0, 0)
    refunds = LedgerEntry.objects.filter(wallet_id=order.user_id, reason=LedgerReason.PURCHASE_REFUND)
    assert sorted(refunds.values_list("currency", "delta")) == [("gems", 500), ("gold", -10_000)]
    assert order.transitions.filter(to_status=OrderStatus.REFUNDED).count() == 1
    assert AuditLog.objects.filter(action="order_refund").count() == 1
    assert order.user.owned_items.get(item_code="avatar_frame").quantity == 0


@pytest.mark.django_db(transaction=True)
def test_a_refund_started_just_before_another_one_locks_leaves_one_refund(staff_user: Any) -> None:
    # Given a fulfilled gold order
    order = fulfilled_gold_order()
    other: list[Background] = []

    def competing_refund(*_args: Any, **_kwargs: Any) -> None:
        other.append(Background(lambda: services.order_refund(actor=staff_user, order=order, reason="first")))
        assert other[0].finished_within(WAIT_SECONDS)

    # When another refund runs to its end just before this one locks the order
    with run_before("shop.services.back_office.order_lock", competing_refund), pytest.raises(OrderStateConflict):
        services.order_refund(actor=staff_user, order=order, reason="second")

    # Then that one refunded and this one changed nothing
    assert other[0].error is None, other[0].error
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
    assert LedgerEntry.objects.filter(wallet_id=order.user_id, reason=LedgerReason.PURCHASE_REFUND).count() == 2
    assert [log.reason for log in AuditLog.objects.filter(action="order_refund")] == ["first"]


# --- webhook against expiry --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_expiry_sweep_while_the_webhook_holds_the_order_skips_it_and_the_order_is_sold_once() -> None:
    # Given a limited package of 3 and a stale pending order holding one unit
    package = PackageFactory(total_stock=3, remaining_stock=3)
    order = stale_package_order(package)
    deliver = paid_webhook(order)
    sweeps: list[Background] = []

    def sweep_meanwhile(*_args: Any, **_kwargs: Any) -> None:
        sweeps.append(Background(services.orders_expire_stale))
        assert sweeps[0].finished_within(WAIT_SECONDS)  # SKIP LOCKED: it never waits

    # When the expiry sweep runs while the webhook applies the payment
    with run_after("shop.services.webhooks.order_apply_payment", sweep_meanwhile):
        outcome = deliver()

    # Then the sweep skipped the order, and the webhook fulfilled it
    assert (sweeps[0].error, sweeps[0].result) == (None, 0)
    assert outcome.result == services.PaymentOutcome.FULFILLED
    order.refresh_from_db()
    assert (order.status, order.stock_held) == (OrderStatus.FULFILLED, False)
    assert list(order.transitions.values_list("to_status", flat=True)) == ["pending", "paid", "fulfilled"]
    # And the unit stays sold: the stock was never given back
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 2


@pytest.mark.django_db(transaction=True)
def test_webhook_arriving_while_the_sweep_expires_the_order_retakes_the_unit_once() -> None:
    # Given a limited package of 3 and a stale pending order holding one unit
    package = PackageFactory(total_stock=3, remaining_stock=3)
    order = stale_package_order(package)
    deliver = paid_webhook(order)
    webhooks: list[Background] = []

    def webhook_meanwhile(*_args: Any, **_kwargs: Any) -> None:
        webhooks.append(Background(deliver))
        wait_until_someone_waits_for_a_row_lock()

    # When the payment webhook arrives while the sweep holds the order, giving its unit back
    with run_after("shop.services.back_office.stock_release", webhook_meanwhile):
        expired = services.orders_expire_stale()

    # Then the sweep expired it, and the webhook, let through after, sold the unit again
    assert expired == 1
    assert webhooks[0].finished_within(WAIT_SECONDS) and webhooks[0].error is None, webhooks[0].error
    assert webhooks[0].result.result == services.PaymentOutcome.FULFILLED
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (OrderStatus.FULFILLED, "")
    assert list(order.transitions.values_list("to_status", flat=True)) == ["pending", "expired", "paid", "fulfilled"]
    # And the stock moved back once and out once: one unit sold in the end
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 2
    assert Wallet.objects.get(pk=order.user_id).gems == 100  # granted once


# --- the nesting guard -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_refund_called_inside_another_transaction_refuses_to_run(staff_user: Any) -> None:
    # Given a fulfilled order
    order = fulfilled_gold_order()

    # When a caller wraps the refund in its own transaction
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.order_refund(actor=staff_user, order=order, reason="nested")

    # Then nothing happened: the refund's commit could not have been promised
    assert Order.objects.get(pk=order.pk).status == OrderStatus.FULFILLED
    assert not AuditLog.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda order, staff: services.order_settle(order=order, actor=staff), id="order_settle"),
        pytest.param(
            lambda order, staff: services.order_review(actor=staff, order=order, approve=True, reason="x"),
            id="order_review",
        ),
        pytest.param(
            lambda order, staff: services.shop_buy(user=order.user, idempotency_key="again", package_code="launch"),
            id="shop_buy",
        ),
        pytest.param(
            lambda order, staff: services.package_stock_raise(
                actor=staff, package=order.package, previous_total=order.package.total_stock - 1, reason="x"
            ),
            id="package_stock_raise",
        ),
        pytest.param(
            lambda order, staff: services.package_create(
                actor=staff,
                product=order.product,
                code="another",
                starts_at=timezone.now(),
                ends_at=timezone.now() + timedelta(days=1),
                total_stock=1,
                per_player_limit=1,
            ),
            id="package_create",
        ),
    ],
)
def test_entry_points_refuse_to_run_inside_another_transaction(staff_user: Any, call: Any) -> None:
    # Given a pending money order of a limited package
    package = PackageFactory(total_stock=3, remaining_stock=3, code="launch")
    order = services.shop_buy(user=player_with_wallet(), idempotency_key="k", package_code=package.code).order
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PENDING_REVIEW)
    order.refresh_from_db()
    order.package.total_stock += 1  # what a raise by one would ask for

    # When the entry point is called inside a caller's transaction, then it refuses
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        call(order, staff_user)
