"""The order state machine: every status change of an order goes through here.

::

    (new) -> paid -> fulfilled               game currency, one write (purchase)
    (new) -> pending | pending_review        real money (purchase; review: fraud rules)
    pending_review -> pending | failed       staff review (back office)
    pending | pending_review -> expired      not paid / not reviewed in time (expiry sweep)
    pending | expired -> paid -> fulfilled   payment succeeded and the order still fits
    pending | expired | failed -> paid       payment succeeded but the order does not fit
                                             (limits, sold out) or its payment had failed:
                                             refunded at the provider, never fulfilled
    paid -> refunded                         that refund went through
    pending | pending_review | expired
      -> failed                              payment failed, provider unreachable
    (any but fulfilled) -> refunded          the provider refunded it before we fulfilled it
    fulfilled -> refunded                    provider refund, staff refund: taken back

A payment that succeeds is checked again before anything is granted: the
player's daily spend limit, the product's period limits and the package's
per-player limit (``shop.services.limits``, against what the player holds
*now*: an order that expired stopped counting, so its late payment may no
longer fit), and the package's stock. A failure or refund the provider reports
first wins over a success that arrives after it (webhooks come in any order):
the success is refunded, not fulfilled.

Every change is saved with the order, recorded as an ``OrderTransition`` and
emitted as ``purchase_update`` (``data.status``: the client's word for the new
state, ``shop.enums.CLIENT_PURCHASE_STATUS``; ``data.state``: the state itself),
in the caller's transaction, with the order row locked by the caller
(``shop.locks``) for any order that already exists; applying a payment also
needs the buyer's row locked first
(``shop.locks.order_and_buyer_lock``). Nothing here opens a transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from django.utils import timezone

import realtime
from accounts.models import User
from casino.db import row_insert_keyed, row_update_later, rows_insert_later
from economy.enums import LedgerReason
from economy.selectors import wallet_balances
from economy.services import wallet_claw_back, wallet_grant
from shop.enums import OrderFailureReason, OrderLedgerStep, PaymentOutcome, client_purchase_status
from shop.exceptions import (
    DailySpendLimitReached,
    PurchaseLimitReached,
    WebhookAmountMismatch,
    WebhookCurrencyMismatch,
    WebhookMerchantReferenceMismatch,
)
from shop.ledger_keys import order_ledger_key, order_ledger_reference
from shop.locks import orders_qs_select_for_update, owned_items_lock
from shop.models import OPEN_STATUSES, Order, OrderStatus, OrderTransition, OwnedItem, PriceType
from shop.providers.base import PaymentState
from shop.services.limits import purchase_limits_check, spend_limit_check
from shop.services.stock import stock_release, stock_retake

# One recorded step: (from status, to status, reason); "" as the from status of a new order.
OrderStep = tuple[str, str, str]


def order_transition(
    *, order: Order, to_status: str, reason: str = "", actor: User | None = None, now: datetime | None = None
) -> None:
    """Move ``order`` to ``to_status`` (saved; inserted if new), record it and tell the player.
    A new order is written by :func:`order_insert`."""
    now = now or timezone.now()
    new = order.pk is None or order._state.adding
    from_status = "" if new else order.status
    order.status = to_status
    order.updated_at = now
    if new:
        order_insert(order)
    else:
        order.save()
    order_steps_record(order=order, steps=[(from_status, to_status, reason)], actor=actor, now=now)


def order_insert(order: Order) -> None:
    """Write a new order: with the transaction's last statement (its steps and
    events) when its key was drawn in advance (``casino.db.key_next_sql``, with
    the buy's replay check), else at once."""
    row_insert_keyed(order)


def order_steps_record(*, order: Order, steps: Sequence[OrderStep], actor: User | None = None, now: datetime) -> None:
    """Record steps of a saved order and tell the player of each: written with
    the transaction's outbox rows (``rows_insert_later``; at once outside a unit of work)."""
    rows_insert_later(
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
                    # The client's word (shop.enums.CLIENT_PURCHASE_STATUS); the order's state beside it.
                    "status": client_purchase_status(to_status).value,
                    "state": to_status,
                    "previous_state": from_status or None,
                    "receipt_code": order.receipt_code,
                    "product_id": order.product.sku,
                    "quantity": order.quantity,
                    "amount": order.total,
                    "total": order.total,
                    "currency": order.currency,
                    # What the order grants in all (per unit x quantity), for progress metrics.
                    "grants": {name: int(amount) * order.quantity for name, amount in order.product.grants.items()},
                    "reason_code": order.failure_reason or None,
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
    written once, with the transaction's last statement where a unit of work
    holds it (``row_update_later``: nothing in the transaction reads the order
    row again), and both steps are recorded."""
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
    row_update_later(order, ["paid_at", "fulfilled_at", "updated_at", "failure_reason", "stock_held", "status"])
    order_steps_record(order=order, steps=steps, now=now)


# Game currencies a purchase can be paid with (PriceType other than money).
_GAME_CURRENCIES = tuple(value for value in PriceType.values if value != PriceType.MONEY)


def order_take_back(*, order: Order, now: datetime) -> list[Order]:
    """Compensate a fulfilled order: claw back its grants, give a game-currency
    order its price back, take the items back. The caller moves the order to
    refunded. Returns the other orders reversed with it (see below).

    What was granted is taken back in the currency the player actually holds
    it in. Gold or gems the player no longer has may have gone into game-currency
    purchases made after this order (gold spent on gems): those purchases are
    reversed first, oldest first, as far as the balance falls short (each gives
    its price back and has its own grants taken back, the same way), so the
    debt (``economy.services.wallet_claw_back``) lands in the currency bought
    with it and still owed (the gems), not in a currency the player never
    holds again. What is still missing after that (lost on bets) is owed in
    the granted currency, repaid from the next grants."""
    return _take_back(order=order, now=now, later=None)


def _take_back(*, order: Order, now: datetime, later: list[Order] | None) -> list[Order]:
    reversed_orders: list[Order] = []
    if order.grants:
        if later is None:
            later = _later_game_currency_orders(order)
        reversed_orders = _reverse_purchases_paid_with(order=order, now=now, later=later)
        wallet_claw_back(
            user=order.user_id,
            bundle=order.grants,
            reason=LedgerReason.PURCHASE_REFUND,
            idempotency_key=order_ledger_key(order, OrderLedgerStep.REFUND),
            reference=order_ledger_reference(order),
        )
    if order.price_type != PriceType.MONEY and order.total:
        wallet_grant(
            user=order.user_id,
            bundle={order.price_type: order.total},
            reason=LedgerReason.PURCHASE_REFUND,
            idempotency_key=order_ledger_key(order, OrderLedgerStep.REPAY),
            reference=order_ledger_reference(order),
        )
    _items_take_back(order, now)
    order.refunded_at = now
    return reversed_orders


def _later_game_currency_orders(order: Order) -> list[Order]:
    """The player's fulfilled game-currency orders paid after ``order``, locked
    once, in primary-key order (every later one was made after it, so this
    keeps the order-rows-in-key-order rule)."""
    paid_at = order.paid_at or order.created_at
    return list(
        orders_qs_select_for_update()
        .filter(
            user_id=order.user_id,
            status=OrderStatus.FULFILLED,
            price_type__in=_GAME_CURRENCIES,
            paid_at__gt=paid_at,
            total__gt=0,
        )
        .exclude(pk=order.pk)
    )


def _reverse_purchases_paid_with(*, order: Order, now: datetime, later: list[Order]) -> list[Order]:
    """Reverse, oldest first, the game-currency purchases made after ``order``
    with a currency it granted, while the player's balance of that currency is
    short of what is taken back."""
    balances = wallet_balances(user_id=order.user_id)
    short = {
        currency: amount - balances.get(currency, 0)
        for currency, amount in order.grants.items()
        if currency in _GAME_CURRENCIES and amount > balances.get(currency, 0)
    }
    reversed_orders: list[Order] = []
    paid_at = order.paid_at or order.created_at
    for candidate in sorted(later, key=lambda o: (o.paid_at or o.created_at, o.pk)):
        if short.get(candidate.price_type, 0) <= 0 or candidate.status != OrderStatus.FULFILLED:
            continue
        if (candidate.paid_at or candidate.created_at) <= paid_at:
            continue
        reversed_orders.extend(_take_back(order=candidate, now=now, later=later))
        order_transition(
            order=candidate,
            to_status=OrderStatus.REFUNDED,
            reason=f"reversed with the refund of {order.receipt_code}: paid with {candidate.price_type} it took back",
            now=now,
        )
        short[candidate.price_type] -= candidate.total
        reversed_orders.append(candidate)
    return reversed_orders


def _check_payment_matches(order: Order, *, amount: int, currency: str) -> None:
    expected = {"amount": order.total, "currency": order.currency}
    received = {"amount": amount, "currency": currency}
    if amount != order.total:
        raise WebhookAmountMismatch(expected=expected, received=received)
    if currency != order.currency:
        raise WebhookCurrencyMismatch(expected=expected, received=received)


def _limits_refusal(order: Order, now: datetime) -> OrderFailureReason | None:
    """Why the order no longer fits the player's limits (checked again, this
    order left out of what they hold), or None. ``order.user`` is locked."""
    try:
        purchase_limits_check(
            product=order.product,
            package=order.package,
            user_id=order.user_id,
            quantity=order.quantity,
            now=now,
            exclude_order_id=order.pk,
        )
    except PurchaseLimitReached:
        return OrderFailureReason.PURCHASE_LIMIT_REACHED
    try:
        spend_limit_check(
            user=order.user, currency=order.currency, total=order.total, now=now, exclude_order_id=order.pk
        )
    except DailySpendLimitReached:
        return OrderFailureReason.DAILY_SPEND_LIMIT_REACHED
    return None


def _paid_not_fulfilled(order: Order, *, why: OrderFailureReason, source: str, now: datetime) -> PaymentOutcome:
    """The payment succeeded but the order will not be fulfilled: it is
    recorded as paid, with the reason, gives back any stock it holds, and is
    to be refunded at the provider (``shop.services.payment.order_payment_refund``,
    after commit)."""
    stock_release(order=order)
    order.paid_at = now
    order.failure_reason = why
    order_transition(
        order=order,
        to_status=OrderStatus.PAID,
        reason=f"{source}: payment succeeded, not fulfilled ({why.label.lower()}): refund it",
        now=now,
    )
    return PaymentOutcome.PAID_NEEDS_REFUND


def order_apply_payment(
    *,
    order: Order,
    state: str,
    amount: int,
    currency: str,
    source: str,
    merchant_reference: str | None = None,
) -> PaymentOutcome:
    """Apply what the provider says about the order's payment (``state``, a
    ``PaymentState``) with the buyer's and the order's rows locked by the
    caller (``shop.locks.order_and_buyer_lock``); ``source`` (webhook,
    settlement) goes into the recorded reasons. The provider's merchant
    reference (our receipt code; ``None``: the provider did not say) must be
    the order's, and a succeeded or refunded payment must match the order's
    total and currency exactly; anything else is refused and changes nothing.

    ``paid_needs_refund``: the payment succeeded but the order is not
    fulfilled; the caller refunds it at the provider once this commits."""
    if merchant_reference is not None and merchant_reference != order.receipt_code:
        raise WebhookMerchantReferenceMismatch(
            expected=order.receipt_code, received=merchant_reference or None, reference=order.provider_reference
        )
    if state in (PaymentState.SUCCEEDED, PaymentState.REFUNDED):
        _check_payment_matches(order, amount=amount, currency=currency)
    now = timezone.now()
    if state == PaymentState.SUCCEEDED:
        return _apply_success(order, source=source, now=now)
    if state == PaymentState.FAILED or (state == PaymentState.CANCELED and order.status in OPEN_STATUSES):
        # A failure seen before the success wins: an expired order records it
        # too, so a success arriving after it is refunded, not fulfilled.
        if order.status not in (*OPEN_STATUSES, OrderStatus.EXPIRED):
            return PaymentOutcome.IGNORED
        stock_release(order=order)
        order.failure_reason = OrderFailureReason.PAYMENT_DECLINED
        order_transition(order=order, to_status=OrderStatus.FAILED, reason=f"{source}: payment failed", now=now)
        return PaymentOutcome.FAILED
    if state == PaymentState.REFUNDED:
        return _apply_refund(order, source=source, now=now)
    if state == PaymentState.CANCELED:
        return PaymentOutcome.IGNORED
    return PaymentOutcome.PENDING


def _apply_success(order: Order, *, source: str, now: datetime) -> PaymentOutcome:
    if order.status in (OrderStatus.FULFILLED, OrderStatus.REFUNDED):
        return PaymentOutcome.ALREADY_SETTLED
    if order.status == OrderStatus.PAID:  # not fulfillable, its refund not through yet
        return PaymentOutcome.PAID_NEEDS_REFUND
    if order.status == OrderStatus.FAILED:
        return _paid_not_fulfilled(order, why=OrderFailureReason.PAID_AFTER_FAILURE, source=source, now=now)
    # Open, or expired (paid late): it must still fit the limits and the stock.
    refusal = _limits_refusal(order, now)
    if refusal is not None:
        return _paid_not_fulfilled(order, why=refusal, source=source, now=now)
    if order.package_id and not order.stock_held and not stock_retake(order=order):
        return _paid_not_fulfilled(order, why=OrderFailureReason.PAID_AFTER_SOLD_OUT, source=source, now=now)
    order_fulfil(order=order, now=now, paid_reason=f"{source}: payment succeeded")
    return PaymentOutcome.FULFILLED


def _apply_refund(order: Order, *, source: str, now: datetime) -> PaymentOutcome:
    if order.status == OrderStatus.REFUNDED:
        return PaymentOutcome.IGNORED
    if order.status == OrderStatus.FULFILLED:
        order_take_back(order=order, now=now)
        order_transition(order=order, to_status=OrderStatus.REFUNDED, reason=f"{source}: refunded", now=now)
        return PaymentOutcome.REFUNDED
    # Refunded before we fulfilled it: a refund delivered before the success
    # (which then finds the order refunded and grants nothing), or the refund
    # of a payment we could not fulfil.
    stock_release(order=order)
    if order.status != OrderStatus.PAID:
        order.failure_reason = OrderFailureReason.PAYMENT_REFUNDED
    order.refunded_at = now
    order_transition(
        order=order, to_status=OrderStatus.REFUNDED, reason=f"{source}: refunded before it was fulfilled", now=now
    )
    return PaymentOutcome.REFUNDED
