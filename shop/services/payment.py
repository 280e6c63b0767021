"""Giving back a payment we will not fulfil.

A payment that succeeds for an order that no longer fits (the player's limits,
the package's stock) or whose payment had been reported failed first is left
``paid`` by ``shop.services.order_state`` and refunded here, at the provider,
once that is committed: the provider call holds no row lock. If the provider
cannot be reached the order stays ``paid`` (it no longer counts against any
limit) and the reconciliation task (``shop.tasks.reconcile_pending_orders``)
settles it again later, which refunds it then; the provider's own
``payment.refunded`` webhook moves it to ``refunded`` as well, whichever comes
first.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from shop.enums import OrderFailureReason, PaymentOutcome
from shop.locks import order_lock
from shop.models import Order, OrderStatus
from shop.providers import get_provider
from shop.services.order_state import order_transition

logger = logging.getLogger(__name__)


def order_payment_refund(*, order: Order) -> PaymentOutcome:
    """Refund at the provider the payment of an order left ``paid`` (not
    fulfilled), then record the order ``refunded``. An entry point: call it
    outside any transaction, after the one that left the order ``paid``.

    ``refunded_unfulfilled`` when done; ``paid_needs_refund`` when the
    provider refused or could not be reached (logged; retried by the
    reconciliation); ``nothing_to_settle`` when the order is not waiting for
    such a refund."""
    if order.status != OrderStatus.PAID or not order.provider_reference:
        return PaymentOutcome.NOTHING_TO_SETTLE
    try:
        get_provider(order.provider).refund(reference=order.provider_reference, amount=order.total)
    except Exception:
        logger.exception("refund of the unfulfilled order %s failed at the provider; retried later", order.receipt_code)
        return PaymentOutcome.PAID_NEEDS_REFUND
    with transaction.atomic(durable=True):
        locked = order_lock(order_id=order.pk)
        if locked.status == OrderStatus.PAID:  # the provider's refund webhook may have been first
            now = timezone.now()
            locked.refunded_at = now
            why = dict(OrderFailureReason.choices).get(locked.failure_reason) or "not fulfilled"
            order_transition(
                order=locked, to_status=OrderStatus.REFUNDED, reason=f"refunded at the provider: {why}", now=now
            )
    order.refresh_from_db()
    return PaymentOutcome.REFUNDED_UNFULFILLED
