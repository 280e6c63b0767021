"""The order state machine: every status change of an order goes through here.

::

    (new) -> paid -> fulfilled               game currency, one write (purchase)
    (new) -> pending | pending_review        real money (purchase; review: fraud rules)
    pending_review -> pending | failed       staff review (back office)
    pending -> paid -> fulfilled             payment succeeded (webhook, settlement)
    pending | pending_review -> failed       payment failed, provider unreachable
    pending -> expired                       not paid in time (expiry sweep)
    expired | failed -> paid -> fulfilled    paid late, stock still left
    expired | failed -> paid                 paid late, sold out meanwhile: refund it
    fulfilled -> refunded                    provider refund, staff refund

Every change is saved with the order, recorded as an ``OrderTransition`` and
emitted as ``purchase_update``, in the caller's transaction, with the order
row locked by the caller (``shop.locks``) for any order that already exists.
Nothing here opens a transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

import realtime
from accounts.models import User
from economy.enums import LedgerReason
from economy.services import wallet_claw_back, wallet_grant
from shop.enums import OrderFailureReason, OrderLedgerStep, PaymentOutcome
from shop.exceptions import WebhookAmountMismatch, WebhookCurrencyMismatch
from shop.ledger_keys import order_ledger_key, order_ledger_reference
from shop.locks import owned_items_lock
from shop.models import OPEN_STATUSES, Order, OrderStatus, OrderTransition, OwnedItem, PriceType
from shop.providers.base import PaymentState
from shop.services.stock import stock_release, stock_retake

# One recorded step: (from status, to status, reason); "" as the from status of a new order.
OrderStep = tuple[str, str, str]


def order_transition(
    *, order: Order, to_status: str, reason: str = "", actor: User | None = None, now: datetime | None = None
) -> None:
    """Move ``order`` to ``to_status`` (saved; inserted if new), record it and tell the player."""
    now = now or timezone.now()
    from_status = order.status if order.pk else ""
    order.status = to_status
    order.updated_at = now
    if order.pk:
        order.save()
    else:
        order.save(force_insert=True)
    order_steps_record(order=order, steps=[(from_status, to_status, reason)], actor=actor, now=now)


def order_steps_record(*, order: Order, steps: Sequence[OrderStep], actor: User | None = None, now: datetime) -> None:
    """Record steps of a saved order (one INSERT) and tell the player of each
    (one outbox INSERT)."""
    OrderTransition.objects.bulk_create(
        [
            OrderTransition(
                order=order,
                from_status=from_status,
                to_status=to_status,
                reason=reason[:255],
                actor=actor,
                created_at=now,
            )
            for from_status, to_status, reason in steps
        ]
    )
    realtime.emit_many(
        [
            (
                "purchase_update",
                order.user_id,
                {
                    "receipt_code": order.receipt_code,
                    "status": to_status,
                    "previous_status": from_status or None,
                    "product_id": order.product.sku,
                    "quantity": order.quantity,
                    "total": order.total,
                    "currency": order.currency,
                    "reason": reason or None,
                },
            )
            for from_status, to_status, reason in steps
        ]
    )


def order_items_grant(*, order: Order, now: datetime) -> None:
    """Add the order's items to what the player owns: the rows are created if
    missing, then locked in primary-key order and counted up."""
    counts = Counter(order.grant_items)
    if not counts:
        return
    OwnedItem.objects.bulk_create(
        [OwnedItem(user_id=order.user_id, item_code=code, quantity=0, updated_at=now) for code in sorted(counts)],
        ignore_conflicts=True,
    )
    for owned in owned_items_lock(user_id=order.user_id, item_codes=counts):
        owned.quantity += counts[owned.item_code]
        owned.updated_at = now
        owned.save(update_fields=["quantity", "updated_at"])


def _items_take_back(order: Order, now: datetime) -> None:
    counts = Counter(order.grant_items)
    if not counts:
        return
    for owned in owned_items_lock(user_id=order.user_id, item_codes=counts):
        owned.quantity = max(0, owned.quantity - counts[owned.item_code])
        owned.updated_at = now
        owned.save(update_fields=["quantity", "updated_at"])


def order_fulfil(*, order: Order, now: datetime, paid_reason: str) -> None:
    """(open ->) paid -> fulfilled: grant what was bought, exactly once (the
    grant's key is the order's), with the order row locked. The order is
    written once; both steps are recorded."""
    if order.grants:
        wallet_grant(
            user=order.user_id,
            bundle=order.grants,
            reason=LedgerReason.PURCHASE,
            idempotency_key=order_ledger_key(order, OrderLedgerStep.GRANT),
            reference=order_ledger_reference(order),
            metadata={"product": order.product.sku, "quantity": order.quantity},
        )
    order_items_grant(order=order, now=now)
    steps = [(order.status, OrderStatus.PAID, paid_reason), (OrderStatus.PAID, OrderStatus.FULFILLED, "granted")]
    order.paid_at = order.fulfilled_at = order.updated_at = now
    order.failure_reason = ""
    order.stock_held = False  # the unit is sold now, not held
    order.status = OrderStatus.FULFILLED
    order.save()
    order_steps_record(order=order, steps=steps, now=now)


def order_take_back(*, order: Order, now: datetime) -> None:
    """Compensate a fulfilled order: claw back its grants (debt for what was
    already spent), give a game-currency order its price back, take the items
    back. The caller moves the order to refunded."""
    if order.grants:
        wallet_claw_back(
            user=order.user_id,
            bundle=order.grants,
            reason=LedgerReason.PURCHASE_REFUND,
            idempotency_key=order_ledger_key(order, OrderLedgerStep.REFUND),
            reference=order_ledger_reference(order),
        )
    if order.price_type != PriceType.MONEY:
        wallet_grant(
            user=order.user_id,
            bundle={order.price_type: order.total},
            reason=LedgerReason.PURCHASE_REFUND,
            idempotency_key=order_ledger_key(order, OrderLedgerStep.REPAY),
            reference=order_ledger_reference(order),
        )
    _items_take_back(order, now)
    order.refunded_at = now


def _check_payment_matches(order: Order, *, amount: int, currency: str) -> None:
    expected = {"amount": order.total, "currency": order.currency}
    received = {"amount": amount, "currency": currency}
    if amount != order.total:
        raise WebhookAmountMismatch(expected=expected, received=received)
    if currency != order.currency:
        raise WebhookCurrencyMismatch(expected=expected, received=received)


def order_apply_payment(*, order: Order, state: str, amount: int, currency: str, source: str) -> PaymentOutcome:
    """Apply what the provider says about the order's payment (``state``, a
    ``PaymentState``) with the order row locked by the caller; ``source``
    (webhook, settlement) goes into the recorded reasons. A succeeded or
    refunded payment must match the order's total and currency exactly."""
    if state in (PaymentState.SUCCEEDED, PaymentState.REFUNDED):
        _check_payment_matches(order, amount=amount, currency=currency)
    now = timezone.now()
    if state == PaymentState.SUCCEEDED:
        if order.status in (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.REFUNDED):
            return PaymentOutcome.ALREADY_SETTLED
        gave_stock_back = order.status in (OrderStatus.EXPIRED, OrderStatus.FAILED) and not order.stock_held
        # Paid after we gave up on it: it sells only if the units are still there.
        if gave_stock_back and order.package_id and not stock_retake(order=order):
            order.paid_at = now
            order.failure_reason = OrderFailureReason.PAID_AFTER_SOLD_OUT
            order_transition(
                order=order,
                to_status=OrderStatus.PAID,
                reason=f"{source}: paid late, sold out meanwhile: refund it",
                now=now,
            )
            return PaymentOutcome.PAID_NEEDS_REFUND
        order_fulfil(order=order, now=now, paid_reason=f"{source}: payment succeeded")
        return PaymentOutcome.FULFILLED
    if state == PaymentState.FAILED:
        if order.status not in OPEN_STATUSES:
            return PaymentOutcome.IGNORED
        stock_release(order=order)
        order.failure_reason = OrderFailureReason.PAYMENT_DECLINED
        order_transition(order=order, to_status=OrderStatus.FAILED, reason=f"{source}: payment failed", now=now)
        return PaymentOutcome.FAILED
    if state == PaymentState.REFUNDED:
        if order.status != OrderStatus.FULFILLED:
            return PaymentOutcome.IGNORED
        order_take_back(order=order, now=now)
        order_transition(order=order, to_status=OrderStatus.REFUNDED, reason=f"{source}: refunded", now=now)
        return PaymentOutcome.REFUNDED
    return PaymentOutcome.PENDING
