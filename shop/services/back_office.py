"""What staff and the schedulers do to orders and packages: settle with the
provider, expire unpaid orders, refund, decide fraud reviews, create limited
packages, change them and raise their stock. Every staff change is audited
in the transaction that makes it (``casino.services.audit_record``).

Each function here is an entry point: it opens its own transaction
(``durable=True``, so calling it inside another one is a bug that raises
instead of silently joining a transaction that may still roll back).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from casino.services import audit_record
from economy.exceptions import ReasonRequired
from shop.enums import OrderFailureReason, PaymentOutcome
from shop.exceptions import OrderStateConflict, StockCanOnlyGrow, StockChangedMeanwhile
from shop.locks import order_lock, orders_qs_select_for_update
from shop.models import LimitedPackage, Order, OrderStatus, PriceType, Product
from shop.providers import get_provider
from shop.services.order_state import order_apply_payment, order_take_back, order_transition
from shop.services.purchase import order_payment_open
from shop.services.stock import stock_release

# --- orders ---------------------------------------------------------------------------------


def order_settle(
    *, order: Order, actor: User | None = None, reason: str = "settled from the back office"
) -> PaymentOutcome:
    """Ask the provider for the payment's state (by its own reference) and
    apply it, as a webhook would. Audited when ``actor`` is staff (the owner
    may settle their own order from the API)."""
    if order.price_type != PriceType.MONEY or not order.provider_reference:
        return PaymentOutcome.NOTHING_TO_SETTLE
    # Outside the transaction: a slow provider must not hold the order row lock.
    status = get_provider(order.provider).fetch_status(reference=order.provider_reference)
    with transaction.atomic(durable=True):
        locked = order_lock(order_id=order.pk)
        result = order_apply_payment(
            order=locked, state=status.state, amount=status.amount, currency=status.currency, source="settlement"
        )
        if actor is not None and actor.is_staff:
            audit_record(
                actor=actor, action="order_settle", target=locked, reason=reason, data={"result": result.value}
            )
    order.refresh_from_db()
    return result


def orders_expire_stale() -> int:
    """Expire unpaid orders older than ``SHOP_PENDING_ORDER_TTL`` and return
    their stock; how many expired. One transaction per order; an order whose
    row someone holds (its webhook is being applied) is skipped, not waited
    for: the next sweep sees it again if it is still pending."""
    cutoff = timezone.now() - settings.SHOP_PENDING_ORDER_TTL
    expired = 0
    stale = Order.objects.filter(status=OrderStatus.PENDING, created_at__lt=cutoff).values_list("pk", flat=True)
    for order_id in stale:
        with transaction.atomic(durable=True):
            order = (
                orders_qs_select_for_update(skip_locked=True).filter(pk=order_id, status=OrderStatus.PENDING).first()
            )
            if order is None:
                continue
            stock_release(order=order)
            order.failure_reason = OrderFailureReason.PAYMENT_TIMEOUT
            order_transition(order=order, to_status=OrderStatus.EXPIRED, reason="not paid in time")
            expired += 1
    return expired


def order_refund(*, actor: User, order: Order, reason: str) -> Order:
    """Staff refund a fulfilled order (audited). Money orders are refunded at
    the provider; game-currency orders give the price back. The order row lock
    makes a second refund of the same order see ``refunded`` and refuse."""
    with transaction.atomic(durable=True):
        locked = order_lock(order_id=order.pk)
        if locked.status != OrderStatus.FULFILLED:
            raise OrderStateConflict(order_status=locked.status)
        if locked.price_type == PriceType.MONEY:
            get_provider(locked.provider).refund(reference=locked.provider_reference, amount=locked.total)
        now = timezone.now()
        order_take_back(order=locked, now=now)
        order_transition(
            order=locked, to_status=OrderStatus.REFUNDED, reason=f"refunded by staff: {reason}", actor=actor, now=now
        )
        audit_record(
            actor=actor,
            action="order_refund",
            target=locked,
            reason=reason,
            data={"total": locked.total, "currency": locked.currency},
        )
    return locked


def order_review(*, actor: User, order: Order, approve: bool, reason: str) -> Order:
    """Staff decide an order the fraud rules held for review (audited). An
    approved order goes to payment after commit, like a new one."""
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
    """Put ``total_stock`` units of ``product`` on sale in a window (audited).
    The remaining stock starts at the total: it is never set by hand."""
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
    purchase made meanwhile."""
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
    buys committed meanwhile are kept. ``package.total_stock`` is the new total."""
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
