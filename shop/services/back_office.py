"""What staff and the schedulers do to orders and packages: settle with the
provider, expire unpaid orders, refund, decide fraud reviews, create limited
packages, change them and raise their stock. Every staff change is audited
in the transaction that makes it (``casino.services.audit_record``).

Each function here is an entry point: it opens its own transaction
(``durable=True``, so calling it inside another one is a bug that raises
instead of silently joining a transaction that may still roll back).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.exceptions import ReasonRequired
from shop.enums import OrderFailureReason, PaymentOutcome
from shop.exceptions import OrderStateConflict, StockCanOnlyGrow, StockChangedMeanwhile
from shop.locks import order_and_buyer_lock, order_lock, orders_qs_select_for_update
from shop.models import LimitedPackage, Order, OrderStatus, PriceType, Product
from shop.providers import get_provider
from shop.providers.base import PaymentState, PaymentStatus
from shop.services.order_state import order_apply_payment, order_take_back, order_transition
from shop.services.payment import order_payment_refund
from shop.services.purchase import order_payment_open
from shop.services.stock import stock_release

logger = logging.getLogger(__name__)

# --- orders ---------------------------------------------------------------------------------


def order_settle(
    *, order: Order, actor: User | None = None, reason: str = "settled from the back office"
) -> PaymentOutcome:
    """Ask the provider for the payment's state (by its own reference) and
    apply it, as a webhook would. Audited when ``actor`` is staff (the owner
    may settle their own order from the API); anyone else needs
    ``shop.settle_order``."""
    if actor is not None and actor.pk != order.user_id:
        staff_permission_require(actor=actor, permission="shop.settle_order")
    if order.price_type != PriceType.MONEY or not order.provider_reference:
        return PaymentOutcome.NOTHING_TO_SETTLE
    # Outside the transaction: a slow provider must not hold the order row lock.
    status = get_provider(order.provider).fetch_status(reference=order.provider_reference)
    return _settle_with(order=order, status=status, actor=actor, reason=reason)


def _settle_with(*, order: Order, status: PaymentStatus, actor: User | None, reason: str) -> PaymentOutcome:
    """Apply the payment state the provider gave (the buyer's and the order's
    rows locked); a payment that succeeded for an order that will not be
    fulfilled is refunded at the provider after commit."""
    with transaction.atomic(durable=True):
        locked = order_and_buyer_lock(order_id=order.pk, user_id=order.user_id)
        result = order_apply_payment(
            order=locked,
            state=status.state,
            amount=status.amount,
            currency=status.currency,
            merchant_reference=status.merchant_reference or None,
            source="settlement",
        )
        if actor is not None and actor.is_staff:
            audit_record(
                actor=actor, action="order_settle", target=locked, reason=reason, data={"result": result.value}
            )
    if result == PaymentOutcome.PAID_NEEDS_REFUND:
        result = order_payment_refund(order=locked)
    order.refresh_from_db()
    return result


def orders_expire_stale() -> int:
    """Expire the open orders nobody finished in time and give their stock
    back; how many expired:

    - ``pending`` orders not paid within ``SHOP_PENDING_ORDER_TTL`` of
      becoming pending (an order released from review gets the whole time);
    - ``pending_review`` orders no one decided within ``SHOP_REVIEW_ORDER_TTL``.

    One transaction per order; an order whose row someone holds (its webhook
    is being applied) is skipped, not waited for: the next sweep sees it again
    if it is still open. After each commit the expired order's payment is
    canceled at the provider, so it can no longer be paid; one paid meanwhile
    is settled at once (a late payment: fulfilled only if it still fits the
    limits and the stock, else refunded)."""
    now = timezone.now()
    stale = Q()
    for status, ttl in (
        (OrderStatus.PENDING, settings.SHOP_PENDING_ORDER_TTL),
        (OrderStatus.PENDING_REVIEW, settings.SHOP_REVIEW_ORDER_TTL),
    ):
        # updated_at: when it entered its state (created_at first, for the index).
        stale |= Q(status=status, created_at__lt=now - ttl, updated_at__lt=now - ttl)
    expired = 0
    for order_id in Order.objects.filter(stale).values_list("pk", flat=True):
        with transaction.atomic(durable=True):
            order = orders_qs_select_for_update(skip_locked=True).filter(stale, pk=order_id).first()
            if order is None:
                continue
            review = order.status == OrderStatus.PENDING_REVIEW
            stock_release(order=order)
            order.failure_reason = OrderFailureReason.REVIEW_TIMEOUT if review else OrderFailureReason.PAYMENT_TIMEOUT
            order_transition(
                order=order,
                to_status=OrderStatus.EXPIRED,
                reason="not reviewed in time" if review else "not paid in time",
            )
            expired += 1
        if order.provider_reference:
            _expired_payment_cancel(order)
    return expired


def _expired_payment_cancel(order: Order) -> None:
    """Cancel an expired order's payment at the provider (after commit, no
    lock held); settle the order if the payer paid just before. A provider
    that cannot be reached is logged: a late payment is still checked when it
    comes."""
    try:
        status = get_provider(order.provider).cancel(reference=order.provider_reference)
        if status.state == PaymentState.SUCCEEDED:
            _settle_with(order=order, status=status, actor=None, reason="paid as it expired")
    except Exception:
        logger.exception("could not cancel or settle the payment of expired order %s", order.receipt_code)


def order_refund(*, actor: User, order: Order, reason: str) -> Order:
    """Staff refund a fulfilled order (audited). Money orders are refunded at
    the provider; game-currency orders give the price back. The order row lock
    makes a second refund of the same order see ``refunded`` and refuse.
    Needs ``shop.refund_order``."""
    staff_permission_require(actor=actor, permission="shop.refund_order")
    with transaction.atomic(durable=True):
        locked = order_lock(order_id=order.pk)
        if locked.status != OrderStatus.FULFILLED:
            raise OrderStateConflict(order_status=locked.status)
        if locked.price_type == PriceType.MONEY:
            get_provider(locked.provider).refund(reference=locked.provider_reference, amount=locked.total)
        now = timezone.now()
        reversed_orders = order_take_back(order=locked, now=now)
        order_transition(
            order=locked, to_status=OrderStatus.REFUNDED, reason=f"refunded by staff: {reason}", actor=actor, now=now
        )
        audit_record(
            actor=actor,
            action="order_refund",
            target=locked,
            reason=reason,
            data={
                "total": locked.total,
                "currency": locked.currency,
                "reversed_orders": [reversed_order.receipt_code for reversed_order in reversed_orders],
            },
        )
    return locked


def order_review(*, actor: User, order: Order, approve: bool, reason: str) -> Order:
    """Staff decide an order the fraud rules held for review (audited). An
    approved order goes to payment after commit, like a new one. Needs
    ``shop.review_order``."""
    staff_permission_require(actor=actor, permission="shop.review_order")
    with transaction.atomic(durable=True):
        locked = order_lock(order_id=order.pk)
        if locked.status != OrderStatus.PENDING_REVIEW:
            raise OrderStateConflict(order_status=locked.status)
        if approve:
            order_transition(
                order=locked, to_status=OrderStatus.PENDING, reason=f"review approved: {reason}", actor=actor
            )
        else:
            stock_release(order=locked)
            locked.failure_reason = OrderFailureReason.FRAUD_REVIEW_REJECTED
            order_transition(
                order=locked, to_status=OrderStatus.FAILED, reason=f"review rejected: {reason}", actor=actor
            )
        audit_record(
            actor=actor,
            action="order_review_approve" if approve else "order_review_reject",
            target=locked,
            reason=reason,
        )
    if approve:
        order_payment_open(order=locked)
    return locked


# --- limited packages -----------------------------------------------------------------------

# What staff may change on a package besides raising its stock (which has its own service).
PACKAGE_EDITABLE_FIELDS = ("code", "starts_at", "ends_at", "per_player_limit", "is_active")


def package_terms_validate(*, starts_at: datetime, ends_at: datetime, total_stock: int) -> None:
    """The rules every package keeps; a ``ValidationError`` keyed by argument name."""
    errors: dict[str, str] = {}
    if total_stock < 1:
        errors["total_stock"] = "A package needs at least one unit of stock."
    if ends_at <= starts_at:
        errors["ends_at"] = "The sale must end after it starts."
    if errors:
        raise ValidationError(errors)


def package_stock_raise_check(*, previous_total: int, total_stock: int, reason: str) -> int:
    """The units a raise from ``previous_total`` to ``total_stock`` adds, or the
    refusal :func:`package_stock_raise` would give (forms ask first)."""
    added = total_stock - previous_total
    if added <= 0:
        raise StockCanOnlyGrow()
    if not reason.strip():
        raise ReasonRequired("Say why the stock is raised (kept in the audit log).")
    return added


@transaction.atomic(durable=True)
def package_create(
    *,
    actor: User,
    product: Product,
    code: str,
    starts_at: datetime,
    ends_at: datetime,
    total_stock: int,
    per_player_limit: int,
    is_active: bool = True,
    reason: str = "",
) -> LimitedPackage:
    """Put ``total_stock`` units of ``product`` on sale in a window (audited;
    ``shop.add_limitedpackage``). The remaining stock starts at the total: it
    is never set by hand."""
    staff_permission_require(actor=actor, permission="shop.add_limitedpackage")
    package_terms_validate(starts_at=starts_at, ends_at=ends_at, total_stock=total_stock)
    package = LimitedPackage.objects.create(
        product=product,
        code=code,
        starts_at=starts_at,
        ends_at=ends_at,
        total_stock=total_stock,
        remaining_stock=total_stock,
        per_player_limit=per_player_limit,
        is_active=is_active,
    )
    audit_record(
        actor=actor,
        action="package_create",
        target=package,
        reason=reason.strip() or "new limited package",
        data={"product": product.sku, "total_stock": total_stock},
    )
    return package


@transaction.atomic(durable=True)
def package_update(*, actor: User, package: LimitedPackage, fields: Collection[str], reason: str = "") -> None:
    """Write ``fields`` of ``package`` as set on the instance (audited). Only
    these columns are written: the stock columns move by conditional UPDATEs
    of the order flow, and writing back a copy loaded earlier would undo every
    purchase made meanwhile. Needs ``shop.change_limitedpackage``."""
    staff_permission_require(actor=actor, permission="shop.change_limitedpackage")
    fields = [name for name in PACKAGE_EDITABLE_FIELDS if name in fields]
    if not fields:
        return
    package_terms_validate(starts_at=package.starts_at, ends_at=package.ends_at, total_stock=package.total_stock)
    package.save(update_fields=fields)
    audit_record(
        actor=actor,
        action="package_update",
        target=package,
        reason=reason.strip() or "package settings changed",
        data={name: str(getattr(package, name)) for name in fields},
    )


def package_stock_raise(*, actor: User, package: LimitedPackage, previous_total: int, reason: str) -> LimitedPackage:
    """Staff add stock to a package (audited): total and remaining grow by the
    same amount in one UPDATE that applies only if the total is still the one
    the staff member saw; remaining moves relative to its current value, so
    buys committed meanwhile are kept. ``package.total_stock`` is the new total.
    Needs ``shop.change_limitedpackage``."""
    staff_permission_require(actor=actor, permission="shop.change_limitedpackage")
    added = package_stock_raise_check(previous_total=previous_total, total_stock=package.total_stock, reason=reason)
    with transaction.atomic(durable=True):
        raised = LimitedPackage.objects.filter(pk=package.pk, total_stock=previous_total).update(
            total_stock=F("total_stock") + added, remaining_stock=F("remaining_stock") + added
        )
        package.refresh_from_db(fields=["total_stock", "remaining_stock"])
        if not raised:
            raise StockChangedMeanwhile(total_stock=package.total_stock, remaining_stock=package.remaining_stock)
        audit_record(
            actor=actor,
            action="package_stock_raise",
            target=package,
            reason=reason,
            data={
                "added": added,
                "total_stock_before": previous_total,
                "total_stock": package.total_stock,
                "remaining_stock": package.remaining_stock,
            },
        )
    return package
