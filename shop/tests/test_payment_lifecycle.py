"""The limits and the order of events hold over a money order's whole life:
a payment is checked again when it arrives (daily spend limit, per-player
limits), a payment we will not fulfil is refunded at the provider, a refund or
failure reported before the success wins, expiry cancels the provider payment,
and orders held for review give their stock back in time.

Webhooks are delivered through ``services.payment_webhook_receive`` (the view
only adds the source address); the races use real threads on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from accounts.services import daily_spend_limit_set
from economy.models import Wallet
from economy.tests.factories import player_with_wallet
from shop import services
from shop.exceptions import PurchaseLimitReached
from shop.models import LimitedPackage, Order, OrderStatus, SandboxPayment, SandboxPaymentStatus
from shop.providers.base import PaymentIntent
from shop.providers.sandbox import (
    SandboxPaymentAlreadyDecided,
    SandboxProvider,
    WebhookEventType,
    sandbox_decide,
    webhook_payload,
)
from shop.tests.concurrency import WAIT_SECONDS, Background, wait_until_someone_waits_for_a_row_lock
from shop.tests.factories import MoneyProductFactory, PackageFactory
from shop.webhooks import signature_headers

REFUNDED_AT_PROVIDER = services.PaymentOutcome.REFUNDED_UNFULFILLED


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_fraud_rules(tmp_path: Any, settings: Any) -> None:
    """The player here buys often on purpose: no velocity rule sends them to review."""
    rules = tmp_path / "no-rules.yaml"
    rules.write_text("thresholds:\n  review: 40\n  block: 80\nrules: []\n")
    settings.SHOP_FRAUD_RULES_PATH = rules


def buy(user: Any, *, product: Any = None, package: Any = None) -> Order:
    """A real-money order (pending, with a sandbox payment), or the refusal."""
    target = {"package_code": package.code} if package is not None else {"product_sku": product.sku}
    return services.shop_buy(user=user, idempotency_key=str(uuid.uuid4()), **target).order


def payment_of(order: Order) -> SandboxPayment:
    order.refresh_from_db()
    return SandboxPayment.objects.get(reference=order.provider_reference)


def payer_pays(order: Order) -> None:
    """The payer approves at the provider (whatever we asked it meanwhile)."""
    SandboxPayment.objects.filter(reference=payment_of(order).reference).update(status=SandboxPaymentStatus.APPROVED)


def delivery(order: Order, event_type: str, **data: Any) -> tuple[dict[str, str], bytes]:
    """A signed webhook about ``order``'s payment, as the provider would send it now."""
    payload = webhook_payload(event_type=event_type, payment=payment_of(order))
    payload["data"].update(data)
    body = json.dumps(payload).encode()
    headers = signature_headers(
        secrets=list(settings.SHOP_WEBHOOK_SECRETS[:1]),
        msg_id=f"msg_{uuid.uuid4().hex}",
        timestamp=int(timezone.now().timestamp()),
        body=body,
    )
    return headers, body


def deliver(order: Order, event_type: str, **data: Any) -> services.WebhookOutcome:
    headers, body = delivery(order, event_type, **data)
    return services.payment_webhook_receive(headers=headers, body=body)


def expire(*orders: Order) -> None:
    """Make the orders older than the payment TTL and run the expiry sweep."""
    long_ago = timezone.now() - settings.SHOP_PENDING_ORDER_TTL - timedelta(minutes=1)
    Order.objects.filter(pk__in=[order.pk for order in orders]).update(created_at=long_ago, updated_at=long_ago)
    assert services.orders_expire_stale() == len(orders)


def steps(order: Order) -> list[str]:
    return list(order.transitions.order_by("pk").values_list("to_status", flat=True))


def gems(user: Any) -> int:
    return Wallet.objects.get(pk=user.pk).gems


# --- the daily spend limit and the per-player limit, checked again at payment ------------------


@pytest.mark.django_db
def test_late_payment_of_an_expired_order_beyond_the_spend_limit_is_refunded_not_fulfilled() -> None:
    # Given a 500 cent limit, an expired 499 order, and a second 499 order bought and paid since
    player = player_with_wallet()
    daily_spend_limit_set(user=player, limit=500)
    product = MoneyProductFactory(price_amount=499, grants={"gems": 100})
    first = buy(player, product=product)
    expire(first)
    second = buy(player, product=product)
    payer_pays(second)
    assert deliver(second, WebhookEventType.SUCCEEDED).result == services.PaymentOutcome.FULFILLED

    # When the first order's payment arrives after all (the payer paid at the provider)
    payer_pays(first)
    outcome = deliver(first, WebhookEventType.SUCCEEDED)

    # Then it is not fulfilled: it is refunded at the provider and the order says why
    assert outcome.result == REFUNDED_AT_PROVIDER
    first.refresh_from_db()
    assert (first.status, first.failure_reason) == (OrderStatus.REFUNDED, "daily_spend_limit_reached")
    assert steps(first) == ["pending", "expired", "paid", "refunded"]
    assert payment_of(first).status == SandboxPaymentStatus.REFUNDED
    # And the player got (and paid for) 499 cents' worth, within the limit
    assert gems(player) == 100


@pytest.mark.django_db
def test_late_payment_beyond_the_per_player_package_limit_is_refunded_and_the_unit_stays_sold_once() -> None:
    # Given a one-per-player package, an expired order of it, and a second order bought and paid since
    package = PackageFactory(total_stock=5, remaining_stock=5, per_player_limit=1)
    player = player_with_wallet()
    first = buy(player, package=package)
    expire(first)
    second = buy(player, package=package)
    payer_pays(second)
    deliver(second, WebhookEventType.SUCCEEDED)

    # When the expired order's payment arrives
    payer_pays(first)
    outcome = deliver(first, WebhookEventType.SUCCEEDED)

    # Then the player holds one unit, the late payment is refunded, and one unit of stock is gone
    assert outcome.result == REFUNDED_AT_PROVIDER
    first.refresh_from_db()
    assert (first.status, first.failure_reason, first.stock_held) == (
        OrderStatus.REFUNDED,
        "purchase_limit_reached",
        False,
    )
    assert gems(player) == 100
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 4


@pytest.mark.django_db
def test_order_released_from_review_is_checked_against_the_limit_in_force_when_paid(
    tmp_path: Any, settings: Any, staff_user: Any
) -> None:
    # Given a 499 order held for review, and a player who lowers their limit to 300 meanwhile
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        'thresholds:\n  review: 40\n  block: 80\nrules:\n  - name: all\n    when: "amount >= 1"\n    points: 40\n'
    )
    settings.SHOP_FRAUD_RULES_PATH = rules
    player = player_with_wallet()
    order = buy(player, product=MoneyProductFactory(price_amount=499, grants={"gems": 100}))
    assert order.status == OrderStatus.PENDING_REVIEW
    daily_spend_limit_set(user=player, limit=300)

    # When staff release it and the player pays
    services.order_review(actor=staff_user, order=order, approve=True, reason="known player")
    payer_pays(order)
    outcome = deliver(order, WebhookEventType.SUCCEEDED)

    # Then the payment is refunded, not fulfilled
    assert outcome.result == REFUNDED_AT_PROVIDER
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (OrderStatus.REFUNDED, "daily_spend_limit_reached")
    assert gems(player) == 0


@pytest.mark.django_db
def test_an_order_paid_in_time_within_the_limits_is_fulfilled_as_before() -> None:
    # Given a 500 cent limit and a 499 order
    player = player_with_wallet()
    daily_spend_limit_set(user=player, limit=500)
    order = buy(player, product=MoneyProductFactory(price_amount=499, grants={"gems": 100}))

    # When it is paid in time
    payer_pays(order)
    outcome = deliver(order, WebhookEventType.SUCCEEDED)

    # Then the check again finds it still fits (the order itself is not counted twice)
    assert outcome.result == services.PaymentOutcome.FULFILLED
    assert gems(player) == 100


@pytest.mark.django_db
def test_a_refund_the_provider_cannot_make_leaves_the_order_paid_and_settlement_refunds_it_later() -> None:
    # Given an expired order paid late, beyond the per-player limit, while the provider refuses refunds
    package = PackageFactory(total_stock=5, remaining_stock=5, per_player_limit=1)
    player = player_with_wallet()
    first = buy(player, package=package)
    expire(first)
    second = buy(player, package=package)
    payer_pays(second)
    deliver(second, WebhookEventType.SUCCEEDED)
    payer_pays(first)
    from unittest import mock

    from shop.providers.sandbox import SandboxProvider

    with mock.patch.object(SandboxProvider, "refund", side_effect=ConnectionError("provider down")):
        outcome = deliver(first, WebhookEventType.SUCCEEDED)

    # Then the order waits, paid, not fulfilled and not counted against the player's limits
    assert outcome.result == services.PaymentOutcome.PAID_NEEDS_REFUND
    first.refresh_from_db()
    assert (first.status, first.failure_reason) == (OrderStatus.PAID, "purchase_limit_reached")
    assert gems(player) == 100

    # When the provider is back and the reconciliation settles it
    assert services.order_settle(order=first) == REFUNDED_AT_PROVIDER

    # Then it is refunded at the provider
    first.refresh_from_db()
    assert first.status == OrderStatus.REFUNDED
    assert payment_of(first).status == SandboxPaymentStatus.REFUNDED


@pytest.mark.django_db(transaction=True)
def test_five_late_payments_delivered_at_once_fulfil_at_most_the_spend_limit(parallel: Any) -> None:
    # Given a 500 cent limit and five 499 orders, each bought after the previous one expired
    player = player_with_wallet()
    daily_spend_limit_set(user=player, limit=500)
    product = MoneyProductFactory(price_amount=499, grants={"gems": 100})
    orders = []
    for _ in range(5):
        order = buy(player, product=product)
        expire(order)
        orders.append(order)
    deliveries = []
    for order in orders:
        payer_pays(order)
        deliveries.append(delivery(order, WebhookEventType.SUCCEEDED))

    # When all five payments arrive at the same moment
    results = parallel(5, lambda i: services.payment_webhook_receive(headers=deliveries[i][0], body=deliveries[i][1]))

    # Then exactly one is fulfilled and four are refunded at the provider
    assert sorted(getattr(r, "result", r) for r in results) == sorted(
        [services.PaymentOutcome.FULFILLED] + [REFUNDED_AT_PROVIDER] * 4
    ), results
    assert gems(player) == 100
    assert Order.objects.filter(status=OrderStatus.REFUNDED, failure_reason="daily_spend_limit_reached").count() == 4
    assert SandboxPayment.objects.filter(status=SandboxPaymentStatus.REFUNDED).count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_buy_made_while_the_late_payment_is_applied_waits_for_it_and_is_refused() -> None:
    # Given a one-per-player package and an expired order of it whose payment arrives now
    package = PackageFactory(total_stock=5, remaining_stock=5, per_player_limit=1)
    player = player_with_wallet()
    late = buy(player, package=package)
    expire(late)
    payer_pays(late)
    buys: list[Background] = []

    def buy_meanwhile(*_args: Any, **_kwargs: Any) -> None:
        buys.append(Background(lambda: buy(player, package=package)))
        wait_until_someone_waits_for_a_row_lock()  # the buy queues behind the payment's buyer lock

    # When the player buys again while the webhook applies the late payment
    from casino.tests.race_condition import run_before

    with run_before("shop.services.webhooks.order_apply_payment", buy_meanwhile):
        outcome = deliver(late, WebhookEventType.SUCCEEDED)

    # Then the late payment fulfils (it still fit), and the buy, let through after, is refused
    assert outcome.result == services.PaymentOutcome.FULFILLED
    assert buys[0].finished_within(WAIT_SECONDS)
    assert isinstance(buys[0].error, PurchaseLimitReached), buys[0].error
    assert gems(player) == 100
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 4


@pytest.mark.django_db(transaction=True)
def test_a_late_payment_arriving_while_a_new_buy_holds_the_player_is_refunded_after_it() -> None:
    # Given a one-per-player package and an expired, paid order of it
    package = PackageFactory(total_stock=5, remaining_stock=5, per_player_limit=1)
    player = player_with_wallet()
    late = buy(player, package=package)
    expire(late)
    payer_pays(late)
    headers, body = delivery(late, WebhookEventType.SUCCEEDED)
    webhooks: list[Background] = []

    def webhook_meanwhile(*_args: Any, **_kwargs: Any) -> None:
        webhooks.append(Background(lambda: services.payment_webhook_receive(headers=headers, body=body)))
        wait_until_someone_waits_for_a_row_lock()  # the webhook queues behind the buy's buyer lock

    # When the late payment arrives while a new buy of the package holds the player
    from casino.tests.race_condition import run_after

    with run_after("shop.services.purchase.stock_hold", webhook_meanwhile):
        fresh = buy(player, package=package)

    # Then the new order stands, and the late payment, applied after it, is refunded
    assert webhooks[0].finished_within(WAIT_SECONDS) and webhooks[0].error is None, webhooks[0].error
    assert webhooks[0].result.result == REFUNDED_AT_PROVIDER
    assert fresh.status == OrderStatus.PENDING
    late.refresh_from_db()
    assert (late.status, late.failure_reason) == (OrderStatus.REFUNDED, "purchase_limit_reached")
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 4  # the fresh order's unit only


# --- expiry cancels the payment ------------------------------------------------------------------


@pytest.mark.django_db
def test_expiry_cancels_the_payment_so_the_checkout_can_no_longer_pay_it() -> None:
    # Given a pending order
    order = buy(player_with_wallet(), product=MoneyProductFactory())

    # When it expires
    expire(order)

    # Then its payment is canceled at the provider, and the payer can no longer approve it
    assert payment_of(order).status == SandboxPaymentStatus.CANCELED
    with pytest.raises(SandboxPaymentAlreadyDecided):
        sandbox_decide(reference=order.provider_reference, approve=True)
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (OrderStatus.EXPIRED, "payment_timeout")


@pytest.mark.django_db
def test_an_order_paid_just_before_it_expired_is_settled_by_the_sweep() -> None:
    # Given a pending order the payer paid at the provider, its webhook not here yet
    player = player_with_wallet()
    order = buy(player, product=MoneyProductFactory(grants={"gems": 100}))
    payer_pays(order)

    # When the expiry sweep reaches it
    expire(order)

    # Then the cancel finds it paid and the sweep settles it: it still fits, so it is fulfilled
    order.refresh_from_db()
    assert order.status == OrderStatus.FULFILLED
    assert steps(order) == ["pending", "expired", "paid", "fulfilled"]
    assert gems(player) == 100


# --- out-of-order webhooks: a refund or a failure reported first wins ---------------------------


@pytest.mark.django_db
def test_refund_delivered_before_the_success_wins_and_nothing_is_granted() -> None:
    # Given a pending order of a package whose payment was paid and then refunded at the provider
    package = PackageFactory(total_stock=3, remaining_stock=3)
    player = player_with_wallet()
    order = buy(player, package=package)
    payer_pays(order)
    SandboxPayment.objects.filter(reference=order.provider_reference).update(
        status=SandboxPaymentStatus.REFUNDED, refunded_amount=order.total
    )

    # When the refund's webhook arrives first, and the success's after it
    refunded = deliver(order, WebhookEventType.REFUNDED)
    succeeded = deliver(order, WebhookEventType.SUCCEEDED)

    # Then the refund is recorded and wins: the success grants nothing
    assert refunded.result == services.PaymentOutcome.REFUNDED
    assert succeeded.result == services.PaymentOutcome.ALREADY_SETTLED
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (OrderStatus.REFUNDED, "payment_refunded")
    assert steps(order) == ["pending", "refunded"]
    assert gems(player) == 0
    # And the unit it held is back on sale
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 3


@pytest.mark.django_db
def test_failure_delivered_before_the_success_wins_and_the_payment_is_refunded() -> None:
    # Given a pending order whose payment failed, then succeeded on a retry at the provider
    player = player_with_wallet()
    order = buy(player, product=MoneyProductFactory(grants={"gems": 100}))
    failed = deliver(order, WebhookEventType.FAILED)
    payer_pays(order)

    # When the success arrives after the failure
    succeeded = deliver(order, WebhookEventType.SUCCEEDED)

    # Then the failure stands: nothing granted, the money given back
    assert failed.result == services.PaymentOutcome.FAILED
    assert succeeded.result == REFUNDED_AT_PROVIDER
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (OrderStatus.REFUNDED, "paid_after_failure")
    assert steps(order) == ["pending", "failed", "paid", "refunded"]
    assert gems(player) == 0


@pytest.mark.django_db
def test_failure_of_an_expired_order_is_recorded_so_a_success_after_it_is_refunded() -> None:
    # Given an expired order whose payment failure arrives late
    player = player_with_wallet()
    order = buy(player, product=MoneyProductFactory(grants={"gems": 100}))
    expire(order)
    assert deliver(order, WebhookEventType.FAILED).result == services.PaymentOutcome.FAILED

    # When a success arrives after that failure
    payer_pays(order)
    succeeded = deliver(order, WebhookEventType.SUCCEEDED)

    # Then it is refunded, not fulfilled
    assert succeeded.result == REFUNDED_AT_PROVIDER
    assert gems(player) == 0


@pytest.mark.django_db(transaction=True)
def test_success_arriving_while_the_refund_holds_the_order_grants_nothing() -> None:
    # Given a pending order paid and then refunded at the provider
    player = player_with_wallet()
    order = buy(player, product=MoneyProductFactory(grants={"gems": 100}))
    payer_pays(order)
    success_headers, success_body = delivery(order, WebhookEventType.SUCCEEDED)
    SandboxPayment.objects.filter(reference=order.provider_reference).update(
        status=SandboxPaymentStatus.REFUNDED, refunded_amount=order.total
    )
    successes: list[Background] = []

    def success_meanwhile(*_args: Any, **_kwargs: Any) -> None:
        successes.append(
            Background(lambda: services.payment_webhook_receive(headers=success_headers, body=success_body))
        )
        wait_until_someone_waits_for_a_row_lock()

    # When the success's webhook arrives while the refund's is being applied
    from casino.tests.race_condition import run_after

    with run_after("shop.services.webhooks.order_apply_payment", success_meanwhile):
        refunded = deliver(order, WebhookEventType.REFUNDED)

    # Then the refund wins and the success, let through after, grants nothing
    assert refunded.result == services.PaymentOutcome.REFUNDED
    assert successes[0].finished_within(WAIT_SECONDS) and successes[0].error is None, successes[0].error
    assert successes[0].result.result == services.PaymentOutcome.ALREADY_SETTLED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
    assert gems(player) == 0


@pytest.mark.django_db(transaction=True)
def test_refund_arriving_while_the_success_holds_the_order_claws_the_grant_back() -> None:
    # Given a pending order paid at the provider
    player = player_with_wallet()
    order = buy(player, product=MoneyProductFactory(grants={"gems": 100}))
    payer_pays(order)
    SandboxPayment.objects.filter(reference=order.provider_reference).update(refunded_amount=order.total)
    refund_headers, refund_body = delivery(order, WebhookEventType.REFUNDED)
    refunds: list[Background] = []

    def refund_meanwhile(*_args: Any, **_kwargs: Any) -> None:
        refunds.append(Background(lambda: services.payment_webhook_receive(headers=refund_headers, body=refund_body)))
        wait_until_someone_waits_for_a_row_lock()

    # When its refund arrives while the success is being applied
    from casino.tests.race_condition import run_after

    with run_after("shop.services.webhooks.order_apply_payment", refund_meanwhile):
        succeeded = deliver(order, WebhookEventType.SUCCEEDED)

    # Then the success fulfilled it and the refund, let through after, took it back
    assert succeeded.result == services.PaymentOutcome.FULFILLED
    assert refunds[0].finished_within(WAIT_SECONDS) and refunds[0].error is None, refunds[0].error
    assert refunds[0].result.result == services.PaymentOutcome.REFUNDED
    assert steps(Order.objects.get(pk=order.pk)) == ["pending", "paid", "fulfilled", "refunded"]
    assert gems(player) == 0


# --- orders held for review give their stock back ------------------------------------------------


def _review_everything(tmp_path: Any, settings: Any) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        'thresholds:\n  review: 40\n  block: 80\nrules:\n  - name: all\n    when: "amount >= 1"\n    points: 40\n'
    )
    settings.SHOP_FRAUD_RULES_PATH = rules


@pytest.mark.django_db
def test_an_order_held_for_review_too_long_expires_and_gives_its_stock_back(tmp_path: Any, settings: Any) -> None:
    # Given an order of a package held for review (a separate review TTL of 2 hours)
    _review_everything(tmp_path, settings)
    settings.SHOP_REVIEW_ORDER_TTL = timedelta(hours=2)
    package = PackageFactory(total_stock=2, remaining_stock=2)
    order = buy(player_with_wallet(), package=package)
    assert order.status == OrderStatus.PENDING_REVIEW
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 1

    # When no one decides it: past the pending TTL it still waits, past the review TTL it expires
    with time_machine.travel(timezone.now() + settings.SHOP_PENDING_ORDER_TTL + timedelta(minutes=1)):
        assert services.orders_expire_stale() == 0
    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1)):
        assert services.orders_expire_stale() == 1

    # Then its unit is back on sale and the order says why
    order.refresh_from_db()
    assert (order.status, order.failure_reason, order.stock_held) == (OrderStatus.EXPIRED, "review_timeout", False)
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 2


@pytest.mark.django_db
def test_review_orders_expire_at_the_pending_ttl_unless_a_review_ttl_is_set(tmp_path: Any, settings: Any) -> None:
    # Given the default review TTL (the pending one) and an order held for review
    _review_everything(tmp_path, settings)
    assert settings.SHOP_REVIEW_ORDER_TTL == settings.SHOP_PENDING_ORDER_TTL
    order = buy(player_with_wallet(), package=PackageFactory(total_stock=1, remaining_stock=1))

    # When the pending TTL passes
    with time_machine.travel(timezone.now() + settings.SHOP_PENDING_ORDER_TTL + timedelta(seconds=1)):
        expired = services.orders_expire_stale()

    # Then it expired
    assert expired == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.EXPIRED


@pytest.mark.django_db
def test_an_order_released_from_review_gets_the_whole_payment_ttl_from_its_release(
    tmp_path: Any, settings: Any, staff_user: Any
) -> None:
    # Given an order reviewed for 25 minutes, then released
    _review_everything(tmp_path, settings)
    settings.SHOP_REVIEW_ORDER_TTL = timedelta(hours=2)
    order = buy(player_with_wallet(), product=MoneyProductFactory())
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=25), tick=False):
        services.order_review(actor=staff_user, order=order, approve=True, reason="fine")

    # When the sweep runs 35 minutes after the order was made (10 after its release)
    with time_machine.travel(start + timedelta(minutes=35), tick=False):
        early = services.orders_expire_stale()
    # Then it is still waiting for its payment; it expires a TTL after the release
    assert early == 0
    with time_machine.travel(start + timedelta(minutes=25) + settings.SHOP_PENDING_ORDER_TTL + timedelta(seconds=1)):
        assert services.orders_expire_stale() == 1


# --- one order per provider reference ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_reference_the_provider_already_gave_another_order_fails_the_new_order(monkeypatch: Any) -> None:
    player = player_with_wallet()
    product = MoneyProductFactory()
    first = buy(player, product=product)
    first.refresh_from_db()
    # The provider (outside our walls) answers the second payment with the first one's reference.
    monkeypatch.setattr(
        SandboxProvider,
        "create_payment",
        lambda self, **_: PaymentIntent(reference=first.provider_reference, checkout_url="https://pay.invalid/x"),
    )

    second = buy(player, product=product)

    second.refresh_from_db()
    assert (second.status, second.failure_reason) == (OrderStatus.FAILED, "payment_provider_unavailable")
    assert (second.provider_reference, second.checkout_url) == ("", "")
    assert list(Order.objects.filter(provider_reference=first.provider_reference)) == [first]
    # A webhook about that payment finds exactly one order: the first.
    payer_pays(first)
    assert deliver(first, WebhookEventType.SUCCEEDED) is not None
    first.refresh_from_db()
    assert first.status == OrderStatus.FULFILLED
