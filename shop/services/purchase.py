"""Buying: a product by sku or a limited package by code, with game currency
(paid and granted in one transaction) or real money (a pending order paid at
the provider, or held for fraud review).

Every price comes from the catalog; nothing price-like from the client is
used. The same idempotency key with the same request returns the same order;
with another request it is a conflict.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.exceptions import SelfExcluded
from accounts.models import User
from casino.db import (
    constraint_of,
    one_or_none,
    row_exists,
    row_get,
    row_update,
    rows_insert,
    rows_insert_later,
    service_transaction,
)
from casino.degraded import dependency_failed
from casino.errors import ApplicationError
from casino.idempotency import IdempotencyKeyInUse
from economy.enums import LedgerReason
from economy.exceptions import IdempotencyConflict
from economy.selectors import wallet_vip_tier
from economy.services import LedgerResult, wallet_exchange, wallet_spend
from economy.vip import tier_at_least
from shop import fraud, metrics
from shop.catalog_selectors import catalog_product, sold_as_package
from shop.enums import OrderFailureReason, OrderLedgerStep
from shop.exceptions import (
    InvalidQuantity,
    PackageNotFound,
    PaymentBlocked,
    ProductNotFound,
    ProductUnavailable,
    VipTierTooLow,
    WrongPaymentFlow,
)
from shop.ledger_keys import order_ledger_key, order_ledger_reference
from shop.locks import buyer_and_wallet_lock, buyer_lock, order_lock
from shop.models import (
    FraudAction,
    FraudDecision,
    LimitedPackage,
    Order,
    OrderStatus,
    Product,
    PromoCode,
    PromoRedemption,
)
from shop.providers import get_provider
from shop.selectors import order_replay_expressions, order_replay_look, order_replay_values
from shop.services.limits import purchase_limits_check, spend_limit_check
from shop.services.order_state import order_insert, order_items_grant, order_steps_record, order_transition
from shop.services.pricing import price_for, promo_load, promo_use
from shop.services.stock import stock_hold, stock_release

logger = logging.getLogger(__name__)

MAX_QUANTITY = 100


@dataclass(frozen=True)
class PurchaseRequest:
    """One buy, as the player asked for it (prices are never part of it)."""

    user: User
    product: Product
    package: LimitedPackage | None
    quantity: int
    promo_code: str | None
    idempotency_key: str
    fingerprint: str
    ip: str | None = None
    device_id: str = ""
    payment_instrument: str = ""


@dataclass(frozen=True)
class PurchaseResult:
    order: Order
    replayed: bool
    ledger: LedgerResult | None = None  # the wallet posting this call made, if any
    balances: dict[str, int] | None = None  # the buyer's balances, read under the buy's lock (a new money order)

    @property
    def success(self) -> bool:
        return self.order.status not in (OrderStatus.FAILED, OrderStatus.EXPIRED)


def _new_receipt_code() -> str:
    return "R" + timezone.now().strftime("%y%m%d") + secrets.token_hex(5).upper()


def _fingerprint(*, sku: str | None, package: str | None, quantity: int, promo: str) -> str:
    params = {"sku": sku, "package": package, "quantity": quantity, "promo": promo}
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _check_product(product: Product, user: User) -> None:
    if not product.is_active:
        raise ProductUnavailable()
    if product.min_vip_tier:
        tier = wallet_vip_tier(user_id=user.pk)
        if not tier_at_least(tier, product.min_vip_tier):
            raise VipTierTooLow(required_tier=product.min_vip_tier, your_tier=tier)


def _replay(user: User, idempotency_key: str, fingerprint: str, *, keyed: bool | None = None) -> PurchaseResult | None:
    """The order placed earlier under this key, if any. ``keyed``: whether there is
    one, when the caller read that already (``order_replay_look``)."""
    if keyed is None:
        keyed = row_exists(Order, user=user.pk, idempotency_key=idempotency_key)
    if not keyed:
        return None  # the usual case, at the cost of one short statement
    existing = one_or_none(Order.objects.filter(user=user, idempotency_key=idempotency_key).select_related("product"))
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(idempotency_key=idempotency_key)
    return PurchaseResult(order=existing, replayed=True)


def _find_product(*, product_sku: str | None, package_code: str | None) -> tuple[Product, LimitedPackage | None]:
    """The product bought and, when bought by package code, its package (the
    product from the process's copy of the catalog, ``shop.selectors``). A
    product sold as a limited package is bought only by the package's code."""
    if package_code:
        package = row_get(LimitedPackage, code=package_code)
        product = catalog_product(pk=package.product_id) if package is not None else None
        if package is None or product is None:
            raise PackageNotFound()
        package.product = product
        return product, package
    product = catalog_product(sku=product_sku) if product_sku else None
    if product is None:
        raise ProductNotFound()
    if sold_as_package(product):
        raise WrongPaymentFlow(package_required=True)
    return product, None


def shop_buy(
    *,
    user: User,
    idempotency_key: str,
    product_sku: str | None = None,
    package_code: str | None = None,
    quantity: int = 1,
    promo_code: str | None = None,
    ip: str | None = None,
    device_id: str = "",
    payment_instrument: str = "",
) -> PurchaseResult:
    """Buy a product (``product_sku``) or a limited package (``package_code``).

    Game-currency products are paid and granted in one transaction; money
    products create a ``pending`` order paid at the provider (or
    ``pending_review`` when the fraud rules ask for it).
    """
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidQuantity(f"Quantity must be 1-{MAX_QUANTITY}.")
    fingerprint = _fingerprint(
        sku=product_sku, package=package_code, quantity=quantity, promo=(promo_code or "").upper()
    )
    product, package = _find_product(product_sku=product_sku, package_code=package_code)
    if user.is_self_excluded and user.self_excluded_until is not None:
        # Authentication already refuses a self-excluded player; this guards every other caller.
        raise SelfExcluded(self_excluded_until=user.self_excluded_until.isoformat().replace("+00:00", "Z"))
    _check_product(product, user)
    flow = "money" if product.is_money else "currency"
    request = PurchaseRequest(
        user=user,
        product=product,
        package=package,
        quantity=quantity,
        promo_code=promo_code,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        ip=ip,
        device_id=device_id,
        payment_instrument=payment_instrument,
    )
    try:
        result = _buy_with_money(request) if product.is_money else _buy_with_currency_once(request)
    except Exception as exc:
        metrics.purchase_attempts.labels(flow=flow, result="refused", reason=getattr(exc, "code", "error")).inc()
        raise
    metrics.purchase_attempts.labels(
        flow=flow, result=result.order.status, reason=result.order.failure_reason or ""
    ).inc()
    return result


def _new_order(request: PurchaseRequest, *, promo: PromoCode | None, now: datetime) -> Order:
    product, quantity = request.product, request.quantity
    subtotal, discount, total = price_for(product=product, quantity=quantity, promo=promo)
    return Order(
        receipt_code=_new_receipt_code(),
        user=request.user,
        product=product,
        package=request.package,
        quantity=quantity,
        price_type=product.price_type,
        currency=product.currency_label,
        unit_price=product.price_amount,
        subtotal=subtotal,
        discount=discount,
        total=total,
        promo=promo,
        grants={currency: amount * quantity for currency, amount in product.grants.items()},
        grant_items=list(product.grant_items) * quantity,
        idempotency_key=request.idempotency_key,
        request_fingerprint=request.fingerprint,
        ip_address=request.ip,
        device_id=request.device_id[:128],
        created_at=now,
        updated_at=now,
    )


# The order's unique (player, idempotency key): what refuses a twin the replay check missed.
TWIN_CONSTRAINT = "order_unique_user_key"


def _buy_with_currency_once(request: PurchaseRequest) -> PurchaseResult:
    """:func:`_buy_with_currency`, and a twin its replay check could not see answered with
    the twin's order: a request with the same key that committed while this one waited for
    the buyer lock makes this order's unique key refuse it when it is written, or this
    purchase's funds fall short. Behind the idempotency record (``casino.idempotency``)
    twins wait for each other before they get here; a caller without it (a service call)
    is answered so. Inside a caller's transaction the refusal stands: it rolled that
    transaction back too."""
    try:
        return _buy_with_currency(request)
    except (IntegrityError, ApplicationError) as error:
        twin = isinstance(error, ApplicationError) or constraint_of(error) == TWIN_CONSTRAINT
        if not twin or isinstance(error, IdempotencyConflict) or connection.in_atomic_block:
            raise
        replay = _replay(request.user, request.idempotency_key, request.fingerprint)
        if replay is None:
            raise
        return replay


def _buy_with_currency(request: PurchaseRequest) -> PurchaseResult:
    """Paid and granted in one transaction: the order is written once, as
    fulfilled, with both steps (paid, fulfilled) recorded."""
    user, product, package, quantity = request.user, request.product, request.package, request.quantity
    with service_transaction():
        # The buyer and the wallet locked, with the replay check and (PostgreSQL) the new order's key
        # read in the same statement (the order is written with its events). That statement's snapshot
        # predates its wait for the locks: a twin committing meanwhile is not seen there, and is
        # refused by the order's unique key when this order is written (``_buy_with_currency_once``).
        reading, params = order_replay_expressions(user_id=user.pk, idempotency_key=request.idempotency_key)
        locked = buyer_and_wallet_lock(user_id=user.pk, reading=reading, params=params)
        if locked is None:  # no wallet yet: the buyer alone is locked; the look on its own
            wallet = None
            look = order_replay_look(user_id=user.pk, idempotency_key=request.idempotency_key, balances=False)
        else:
            wallet, values = locked
            look = order_replay_values(values)
        replay = _replay(user, request.idempotency_key, request.fingerprint, keyed=look.keyed)
        if replay is not None:
            return replay
        now = timezone.now()
        purchase_limits_check(product=product, package=package, user_id=user.pk, quantity=quantity, now=now)
        promo = promo_load(code=request.promo_code, product=product, user_id=user.pk, now=now)
        if package is not None:
            stock_hold(package=package, quantity=quantity, now=now)
        if promo is not None:
            promo_use(promo=promo)
        order = _new_order(request, promo=promo, now=now)
        order.pk = look.order_key
        order.provider = "wallet"
        order.paid_at = order.fulfilled_at = now
        order.status = OrderStatus.FULFILLED
        reference = order_ledger_reference(order)
        metadata = {"product": product.sku, "quantity": quantity}
        pay = {product.price_type: order.total}
        if order.grants:
            ledger = wallet_exchange(
                user=user,
                spend=pay,
                grant=order.grants,
                reason=LedgerReason.PURCHASE,
                spend_key=order_ledger_key(order, OrderLedgerStep.PAY),
                grant_key=order_ledger_key(order, OrderLedgerStep.GRANT),
                reference=reference,
                metadata=metadata,
                locked=wallet,
            )
        else:
            ledger = wallet_spend(
                user=user,
                bundle=pay,
                reason=LedgerReason.PURCHASE,
                idempotency_key=order_ledger_key(order, OrderLedgerStep.PAY),
                reference=reference,
                metadata=metadata,
                locked=wallet,
            )
        order_insert(order)
        order_items_grant(order=order, now=now)
        order_steps_record(
            order=order,
            steps=[
                ("", OrderStatus.PAID, f"paid with {product.price_type}"),
                (OrderStatus.PAID, OrderStatus.FULFILLED, "granted"),
            ],
            now=now,
        )
        if promo is not None:
            PromoRedemption.objects.create(promo=promo, user=user, order=order, created_at=now)
    return PurchaseResult(order=order, replayed=False, ledger=ledger)


def _fraud_verdict(request: PurchaseRequest, *, total: int) -> fraud.FraudVerdict:
    """The fraud rules' verdict on a money order; review when the features
    cannot be read (Redis down): a dependency going down must not let an
    attempt through unchecked, nor refuse a player outright."""
    try:
        features = fraud.fraud_features(
            user=request.user,
            ip=request.ip,
            device_id=request.device_id,
            payment_instrument=request.payment_instrument,
            amount=total,
            currency=request.product.price_currency,
        )
        return fraud.fraud_evaluate(features=features)
    except Exception:
        logger.exception("fraud features unavailable; sending the order to review")
        return fraud.FraudVerdict(
            action=FraudAction.REVIEW,
            score=0,
            matched_rules=[{"name": "features_unavailable", "points": 0}],
            features={},
            rules_version="",
        )


def _record_attempt(request: PurchaseRequest) -> None:
    """Count the attempt in the fraud windows (Redis). Best effort: with Redis
    down the features were unavailable too, so the order already went to
    review; losing one count must not turn the buy into an error."""
    try:
        fraud.fraud_record_attempt(
            user_id=request.user.pk,
            ip=request.ip,
            device_id=request.device_id,
            payment_instrument=request.payment_instrument,
        )
    except Exception as exc:  # noqa: BLE001 - any store failure; counted and logged
        dependency_failed(dependency="redis", use="fraud_attempt_count", error=exc)


def _buy_with_money(request: PurchaseRequest) -> PurchaseResult:
    """Decide on fraud first (outside the transaction: it reads Redis), then
    write the order and the decision in one transaction, then open the
    payment at the provider after commit. The decision is stored even when
    the buy is refused: a block in the transaction that finds no earlier
    answer, any other refusal (limits, stock, promo) after its transaction
    rolled back.

    The order's (user, idempotency key) is this flow's idempotency record
    (the API keeps no generic one for it): a retry, or a twin waiting on the
    buyer lock, finds the order and answers it (``replayed``) without a
    decision or an attempt of its own. The verdict is computed before that
    look (it only reads), so the usual first request looks once, under the lock."""
    user, product, quantity = request.user, request.product, request.quantity
    now = timezone.now()
    try:
        promo = promo_load(code=request.promo_code, product=product, user_id=user.pk, now=now)
    except ApplicationError:
        # A single-use code this very buy redeemed: its retry is answered with the order.
        replay = _money_replay(request, keyed=None)
        if replay is not None:
            return replay
        raise
    _, _, total = price_for(product=product, quantity=quantity, promo=promo)
    verdict = _fraud_verdict(request, total=total)
    metrics.fraud_decisions.labels(action=verdict.action).inc()
    blocked_by: int | None = None
    try:
        with service_transaction():  # its events: one outbox INSERT
            locked = buyer_lock(user_id=user.pk)
            # The replay check and the answer's balances, in one statement after the lock.
            # (And, on PostgreSQL, the new order's key: the order is then written with its steps and events.)
            look = order_replay_look(user_id=user.pk, idempotency_key=request.idempotency_key)
            replay = _money_replay(request, keyed=look.keyed)
            if replay is not None:
                return replay
            if verdict.action == FraudAction.BLOCK:
                blocked_by = _fraud_decision_store(verdict, user=user, now=now).pk
            else:
                order = _money_order_place(request, verdict=verdict, locked=locked, now=now, key=look.order_key)
                _record_attempt(request)
    except (IdempotencyKeyInUse, IdempotencyConflict):
        raise  # a twin of an answered request, not a buy refused: its decision is the first request's
    except ApplicationError:
        _fraud_decision_store(verdict, user=user, now=now)  # refused all the same: the decision stays
        raise
    if blocked_by is not None:
        _record_attempt(request)  # blocked attempts still count, for the IP and device windows of everyone
        raise PaymentBlocked(decision_id=blocked_by)
    if order.status == OrderStatus.PENDING:
        order_payment_open(order=order)
    return PurchaseResult(order=order, replayed=False, balances=look.balances)


def _money_order_place(
    request: PurchaseRequest, *, verdict: fraud.FraudVerdict, locked: User, now: datetime, key: int | None
) -> Order:
    """The money order, pending (or pending review), with its stock, promo and
    fraud decision; inside the buyer's transaction, under its lock. ``key``: the
    order's key drawn in advance (the order row is then queued with the
    transaction's other rows), or None (inserted at once)."""
    user, product, package, quantity = request.user, request.product, request.package, request.quantity
    purchase_limits_check(product=product, package=package, user_id=user.pk, quantity=quantity, now=now)
    promo = promo_load(code=request.promo_code, product=product, user_id=user.pk, now=now)
    order = _new_order(request, promo=promo, now=now)
    order.pk = key
    spend_limit_check(user=locked, currency=order.currency, total=order.total, now=now)
    if package is not None:
        stock_hold(package=package, quantity=quantity, now=now)
        order.stock_held = True
    if promo is not None:
        promo_use(promo=promo)
    order.provider = get_provider().name
    review = verdict.action == FraudAction.REVIEW
    order_transition(
        order=order,
        to_status=OrderStatus.PENDING_REVIEW if review else OrderStatus.PENDING,
        reason="fraud review" if review else "awaiting payment",
        now=now,
    )
    if promo is not None:
        PromoRedemption.objects.create(promo=promo, user=user, order=order, created_at=now)
    _fraud_decision_store(verdict, user=user, now=now, order=order, later=True)
    return order


def _money_replay(request: PurchaseRequest, *, keyed: bool | None) -> PurchaseResult | None:
    """The money order placed earlier under this key, if any. One still waiting
    for its payment to be opened (the first request is talking to the provider)
    is ``idempotency_key_in_use`` for ``IDEMPOTENCY_LOCK_TIMEOUT``: the retry
    comes back for the checkout URL. After that (the first request died there)
    the order is answered as it stands; the expiry sweep closes it. ``keyed``:
    whether there is one, when the caller read that already."""
    replay = _replay(request.user, request.idempotency_key, request.fingerprint, keyed=keyed)
    if replay is None:
        return None
    order = replay.order
    opening = order.status == OrderStatus.PENDING and not order.checkout_url
    if opening and timezone.now() < order.created_at + settings.IDEMPOTENCY_LOCK_TIMEOUT:
        raise IdempotencyKeyInUse()
    return replay


def _fraud_decision_store(
    verdict: fraud.FraudVerdict, *, user: User, now: datetime, order: Order | None = None, later: bool = False
) -> FraudDecision:
    """Store the verdict. ``later``: with the transaction's outbox rows (its key is
    set then); else at once (a block answers with the decision's id)."""
    decision = FraudDecision(
        user=user,
        order=order,
        action=verdict.action,
        score=verdict.score,
        matched_rules=verdict.matched_rules,
        features=verdict.features,
        rules_version=verdict.rules_version,
        created_at=now,
    )
    (rows_insert_later if later else rows_insert)([decision])
    return decision


def order_payment_open(*, order: Order) -> None:
    """Ask the provider for a payment of a committed pending order (outside
    any transaction: a slow provider must not hold row locks). If it cannot,
    the order fails and returns its stock."""
    provider = get_provider(order.provider)
    try:
        intent = provider.create_payment(
            merchant_reference=order.receipt_code,
            amount=order.total,
            currency=order.currency,
            description=f"{order.quantity} x {order.product.name}",
        )
        order.provider_reference, order.checkout_url = intent.reference, intent.checkout_url
        # A reference the provider already gave another order is refused by the database
        # (order_unique_provider_reference): its webhooks could not tell the two apart.
        row_update(order, ["provider_reference", "checkout_url"])
    except Exception:
        logger.exception("payment provider failed for order %s", order.receipt_code)
        with transaction.atomic(durable=True):
            locked = order_lock(order_id=order.pk)
            if locked.status == OrderStatus.PENDING:
                stock_release(order=locked)
                locked.failure_reason = OrderFailureReason.PAYMENT_PROVIDER_UNAVAILABLE
                order_transition(order=locked, to_status=OrderStatus.FAILED, reason="payment provider unavailable")
        order.refresh_from_db()
        return
