"""Shop writes: buying (game currency and real money), payment webhooks,
settlement, expiry and refunds.

Locking order (never reversed anywhere): the player's user row (the purchase
lock: serialises one player's buys, so per-player limits and the daily spend
limit are checked against a stable count) -> the package row (one conditional
UPDATE, never oversells) -> the promo code row (conditional UPDATE) -> the
wallet row (inside wallet_exchange / wallet_grant). Payment events lock the order
row first, then the wallet.

Every price comes from the catalog; nothing price-like from the client is
used. Every order change emits ``purchase_update``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

import realtime
from accounts.models import User
from casino.db import insert_or_raise, one_or_none
from casino.services import audit_record
from economy.enums import LedgerReason
from economy.exceptions import IdempotencyConflict
from economy.models import Wallet
from economy.services import LedgerResult, wallet_claw_back, wallet_exchange, wallet_grant, wallet_spend
from economy.vip import tier_at_least
from shop import metrics
from shop.exceptions import (
    DailySpendLimitReached,
    InvalidPromoCode,
    OrderStateConflict,
    OutOfWindow,
    PaymentBlocked,
    PlayerSelfExcluded,
    ProductNotFound,
    ProductUnavailable,
    PurchaseLimitReached,
    SoldOut,
    StockChangedMeanwhile,
    VipTierTooLow,
    WebhookRejected,
    WrongPaymentFlow,
)
from shop.models import (
    OPEN_STATUSES,
    DiscountType,
    FraudAction,
    FraudDecision,
    LimitedPackage,
    Order,
    OrderStatus,
    OrderTransition,
    OwnedItem,
    PriceType,
    Product,
    PromoCode,
    PromoRedemption,
    WebhookEvent,
    WebhookStatus,
)
from shop.providers import get_provider
from shop.providers.base import PaymentState
from shop.selectors import package_limit_left, product_limit_left, spent_today

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

    @property
    def success(self) -> bool:
        return self.order.status not in (OrderStatus.FAILED, OrderStatus.EXPIRED)


# --- helpers ----------------------------------------------------------------------------


def _new_receipt_code() -> str:
    return "R" + timezone.now().strftime("%y%m%d") + secrets.token_hex(5).upper()


def _fingerprint(**params: Any) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _transition(
    order: Order, to_status: str, *, reason: str = "", actor: Any = None, now: datetime | None = None
) -> None:
    """Move ``order`` to ``to_status`` (saved), record it and tell the player."""
    now = now or timezone.now()
    from_status = order.status if order.pk else ""
    order.status = to_status
    order.updated_at = now
    if order.pk:
        order.save()
    else:
        order.save(force_insert=True)
    _record_steps(order, [(from_status, to_status, reason)], actor=actor, now=now)


def _record_steps(order: Order, steps: list[tuple[str, str, str]], *, actor: Any = None, now: datetime) -> None:
    """Record ``(from, to, reason)`` steps of a saved order (one INSERT) and
    tell the player of each (one outbox INSERT)."""
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


def _release_stock(order: Order) -> None:
    if order.stock_held and order.package_id:
        LimitedPackage.objects.filter(pk=order.package_id).update(remaining_stock=F("remaining_stock") + order.quantity)
        order.stock_held = False


def _hold_stock(package: LimitedPackage, quantity: int, now: datetime) -> None:
    """One conditional UPDATE: succeeds only while enough stock is left and the
    window is open, so concurrent buyers can never oversell."""
    taken = LimitedPackage.objects.filter(
        pk=package.pk, is_active=True, starts_at__lte=now, ends_at__gt=now, remaining_stock__gte=quantity
    ).update(remaining_stock=F("remaining_stock") - quantity)
    if not taken:
        package.refresh_from_db()
        if not package.is_active or not (package.starts_at <= now < package.ends_at):
            raise OutOfWindow()
        raise SoldOut(remaining_stock=package.remaining_stock)


def _load_promo(code: str | None, product: Product, user_id: int, now: datetime) -> PromoCode | None:
    if not code:
        return None
    promo = PromoCode.objects.filter(code=code.strip().upper()).first()
    reason = None
    if promo is None:
        reason = "unknown"
    elif not promo.is_active:
        reason = "inactive"
    elif (promo.starts_at and promo.starts_at > now) or (promo.ends_at and promo.ends_at <= now):
        reason = "expired"
    elif promo.product_id and promo.product_id != product.pk:
        reason = "not_for_this_product"
    elif promo.max_total_uses is not None and promo.uses >= promo.max_total_uses:
        reason = "used_up"
    elif PromoRedemption.objects.filter(promo=promo, user_id=user_id).count() >= promo.max_uses_per_player:
        reason = "already_used"
    if reason:
        raise InvalidPromoCode(reason=reason)
    return promo


def _use_promo(promo: PromoCode) -> None:
    used = PromoCode.objects.filter(
        Q(max_total_uses__isnull=True) | Q(uses__lt=F("max_total_uses")), pk=promo.pk, is_active=True
    ).update(uses=F("uses") + 1)
    if not used:
        raise InvalidPromoCode(reason="used_up")


def price_for(product: Product, quantity: int, promo: PromoCode | None) -> tuple[int, int, int]:
    """(subtotal, discount, total) in the price's units. A percentage is
    rounded down in the player's favour... of the house: discount =
    floor(subtotal * percent / 100); a fixed discount applies once per order.
    The total never goes below 1 unit."""
    subtotal = product.price_amount * quantity
    discount = 0
    if promo is not None:
        if promo.discount_type == DiscountType.PERCENT:
            discount = subtotal * promo.discount_value // 100
        else:
            discount = promo.discount_value
        discount = min(discount, subtotal - 1)
    return subtotal, discount, subtotal - discount


def _check_product(product: Product, user: User) -> None:
    if not product.is_active:
        raise ProductUnavailable()
    if product.min_vip_tier:
        tier = one_or_none(Wallet.objects.filter(pk=user.pk).values_list("vip_tier", flat=True)) or "STANDARD"
        if not tier_at_least(tier, product.min_vip_tier):
            raise VipTierTooLow(required_tier=product.min_vip_tier, your_tier=tier)


def _check_limits(product: Product, package: LimitedPackage | None, user_id: int, quantity: int, now: datetime) -> None:
    left = product_limit_left(product, user_id, now=now)
    if left.remaining is not None and quantity > left.remaining:
        raise PurchaseLimitReached(period=left.period, remaining=left.remaining)
    if package is not None:
        package_left = package_limit_left(package, user_id)
        if quantity > package_left:
            raise PurchaseLimitReached(period="package", remaining=package_left)


def _replay(user: User, idempotency_key: str, fingerprint: str) -> PurchaseResult | None:
    existing = one_or_none(Order.objects.filter(user=user, idempotency_key=idempotency_key).select_related("product"))
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(idempotency_key=idempotency_key)
    return PurchaseResult(order=existing, replayed=True)


# --- buying -------------------------------------------------------------------------------


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
    limited: bool = False,
) -> PurchaseResult:
    """Buy a product (``product_sku``) or a limited package (``package_code``).

    Game-currency products are paid and granted in one transaction; money
    products create a ``pending`` order paid at the provider (or
    ``pending_review`` when the fraud rules ask for it). The same key with the
    same request returns the same order; with another request it is a
    conflict.
    """
    if not 1 <= quantity <= MAX_QUANTITY:
        raise PurchaseLimitReached(f"Quantity must be 1-{MAX_QUANTITY}.", code="invalid_quantity")
    fingerprint = _fingerprint(
        sku=product_sku, package=package_code, quantity=quantity, promo=(promo_code or "").upper()
    )
    package: LimitedPackage | None = None
    if package_code:
        package = one_or_none(LimitedPackage.objects.select_related("product").filter(code=package_code))
        if package is None:
            raise ProductNotFound("No such package.", code="package_not_found")
        product = package.product
    else:
        product = (
            one_or_none(
                Product.objects.annotate(
                    sold_as_package=Exists(LimitedPackage.objects.filter(product=OuterRef("pk")))
                ).filter(sku=product_sku)
            )
            if product_sku
            else None
        )
        if product is None:
            raise ProductNotFound()
        if not limited and product.sold_as_package:
            raise WrongPaymentFlow("This product is sold as a limited package: use buy-limited.", package_required=True)
    if user.is_self_excluded:
        raise PlayerSelfExcluded()
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
        result = _buy_with_money(request) if product.is_money else _buy_with_currency(request)
    except Exception as exc:
        metrics.purchase_attempts.labels(flow=flow, result="refused", reason=getattr(exc, "code", "error")).inc()
        raise
    metrics.purchase_attempts.labels(
        flow=flow, result=result.order.status, reason=result.order.failure_reason or ""
    ).inc()
    return result


def _new_order(request: PurchaseRequest, *, promo: PromoCode | None, now: datetime) -> Order:
    product, quantity = request.product, request.quantity
    subtotal, discount, total = price_for(product, quantity, promo)
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


def _lock_buyer(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def _buy_with_currency(request: PurchaseRequest) -> PurchaseResult:
    """Paid and granted in one transaction: the order is written once, as
    fulfilled, with both steps (paid, fulfilled) recorded."""
    user, product, package, quantity = request.user, request.product, request.package, request.quantity
    with transaction.atomic():
        _lock_buyer(user)
        replay = _replay(user, request.idempotency_key, request.fingerprint)
        if replay is not None:
            return replay
        now = timezone.now()
        _check_limits(product, package, user.pk, quantity, now)
        promo = _load_promo(request.promo_code, product, user.pk, now)
        if package is not None:
            _hold_stock(package, quantity, now)
        if promo is not None:
            _use_promo(promo)
        order = _new_order(request, promo=promo, now=now)
        order.provider = "wallet"
        order.paid_at = order.fulfilled_at = now
        order.status = OrderStatus.FULFILLED
        ledger_args = {
            "user": user,
            "reason": LedgerReason.PURCHASE,
            "reference": f"order:{order.receipt_code}",
            "metadata": {"product": product.sku, "quantity": quantity},
        }
        pay = {product.price_type: order.total}
        if order.grants:
            ledger = wallet_exchange(
                spend=pay,
                grant=order.grants,
                spend_key=f"order:{order.receipt_code}:pay",
                grant_key=f"order:{order.receipt_code}:grant",
                **ledger_args,
            )
        else:
            ledger = wallet_spend(bundle=pay, idempotency_key=f"order:{order.receipt_code}:pay", **ledger_args)
        order.save(force_insert=True)
        _grant_items(order, now)
        _record_steps(
            order,
            [
                ("", OrderStatus.PAID, f"paid with {product.price_type}"),
                (OrderStatus.PAID, OrderStatus.FULFILLED, "granted"),
            ],
            now=now,
        )
        if promo is not None:
            PromoRedemption.objects.create(promo=promo, user=user, order=order, created_at=now)
    return PurchaseResult(order=order, replayed=False, ledger=ledger)


def _buy_with_money(request: PurchaseRequest) -> PurchaseResult:
    user, product, package, quantity = request.user, request.product, request.package, request.quantity
    ip, device_id, payment_instrument = request.ip, request.device_id, request.payment_instrument
    from shop import fraud

    replay = _replay(user, request.idempotency_key, request.fingerprint)
    if replay is not None:  # before recording a fraud decision for a request already answered
        return replay
    now = timezone.now()
    promo = _load_promo(request.promo_code, product, user.pk, now)
    _, _, total = price_for(product, quantity, promo)
    try:
        features = fraud.fraud_features(
            user=user,
            ip=ip,
            device_id=device_id,
            payment_instrument=payment_instrument,
            amount=total,
            currency=product.price_currency,
        )
        verdict = fraud.fraud_evaluate(features=features)
    except Exception:
        logger.exception("fraud features unavailable; sending the order to review")
        verdict = fraud.FraudVerdict(
            action=FraudAction.REVIEW,
            score=0,
            matched_rules=[{"name": "features_unavailable", "points": 0}],
            features={},
            rules_version="",
        )
    metrics.fraud_decisions.labels(action=verdict.action).inc()
    decision = FraudDecision.objects.create(
        user=user,
        action=verdict.action,
        score=verdict.score,
        matched_rules=verdict.matched_rules,
        features=verdict.features,
        rules_version=verdict.rules_version,
        created_at=now,
    )
    if verdict.action == FraudAction.BLOCK:
        # Blocked attempts still count, for the IP and device windows of everyone.
        fraud.fraud_record_attempt(user_id=user.pk, ip=ip, device_id=device_id, payment_instrument=payment_instrument)
        raise PaymentBlocked(decision_id=decision.pk)
    with transaction.atomic():
        locked = _lock_buyer(user)
        replay = _replay(user, request.idempotency_key, request.fingerprint)
        if replay is not None:
            return replay
        now = timezone.now()
        _check_limits(product, package, user.pk, quantity, now)
        promo = _load_promo(request.promo_code, product, user.pk, now)
        order = _new_order(request, promo=promo, now=now)
        from accounts.services import daily_spend_limit_effective

        limit = daily_spend_limit_effective(user=locked, now=now)
        if limit is not None and order.currency == settings.SHOP_CURRENCY:
            already = spent_today(user.pk, currency=order.currency, now=now)
            if already + order.total > limit:
                raise DailySpendLimitReached(limit=limit, spent_today=already, remaining=max(0, limit - already))
        if package is not None:
            _hold_stock(package, quantity, now)
            order.stock_held = True
        if promo is not None:
            _use_promo(promo)
        provider = get_provider()
        order.provider = provider.name
        review = verdict.action == FraudAction.REVIEW
        _transition(
            order,
            OrderStatus.PENDING_REVIEW if review else OrderStatus.PENDING,
            reason="fraud review" if review else "awaiting payment",
            now=now,
        )
        if promo is not None:
            PromoRedemption.objects.create(promo=promo, user=user, order=order, created_at=now)
        FraudDecision.objects.filter(pk=decision.pk).update(order=order)
        fraud.fraud_record_attempt(user_id=user.pk, ip=ip, device_id=device_id, payment_instrument=payment_instrument)
    if order.status == OrderStatus.PENDING:
        _open_payment(order)
    return PurchaseResult(order=order, replayed=False)


def _open_payment(order: Order) -> None:
    """Ask the provider for a payment (outside our transaction: a slow provider
    must not hold row locks). If it cannot, the order fails and returns its stock."""
    provider = get_provider(order.provider)
    try:
        intent = provider.create_payment(
            merchant_reference=order.receipt_code,
            amount=order.total,
            currency=order.currency,
            description=f"{order.quantity} x {order.product.name}",
        )
    except Exception:
        logger.exception("payment provider failed for order %s", order.receipt_code)
        with transaction.atomic():
            locked = Order.objects.select_for_update().select_related("product").get(pk=order.pk)
            if locked.status == OrderStatus.PENDING:
                _release_stock(locked)
                locked.failure_reason = "payment_provider_unavailable"
                _transition(locked, OrderStatus.FAILED, reason="payment provider unavailable")
        order.refresh_from_db()
        return
    Order.objects.filter(pk=order.pk).update(provider_reference=intent.reference, checkout_url=intent.checkout_url)
    order.provider_reference, order.checkout_url = intent.reference, intent.checkout_url


def _fulfil(order: Order, *, now: datetime, paid_reason: str) -> None:
    """(open ->) paid -> fulfilled: grant what was bought, exactly once (the
    grant's key is the order's), in the caller's transaction with the order
    row locked. The order is written once; both steps are recorded."""
    if order.grants:
        wallet_grant(
            user=order.user_id,
            bundle=order.grants,
            reason=LedgerReason.PURCHASE,
            idempotency_key=f"order:{order.receipt_code}:grant",
            reference=f"order:{order.receipt_code}",
            metadata={"product": order.product.sku, "quantity": order.quantity},
        )
    _grant_items(order, now)
    steps = [(order.status, OrderStatus.PAID, paid_reason), (OrderStatus.PAID, OrderStatus.FULFILLED, "granted")]
    order.paid_at = order.fulfilled_at = order.updated_at = now
    order.failure_reason = ""
    order.stock_held = False  # the unit is sold now, not held
    order.status = OrderStatus.FULFILLED
    order.save()
    _record_steps(order, steps, now=now)


def _grant_items(order: Order, now: datetime) -> None:
    for item in order.grant_items:
        owned, _ = OwnedItem.objects.select_for_update().get_or_create(
            user_id=order.user_id, item_code=item, defaults={"updated_at": now}
        )
        OwnedItem.objects.filter(pk=owned.pk).update(quantity=F("quantity") + 1, updated_at=now)


# --- payment events (webhook and settlement share these) ------------------------------------


def _apply_payment_state(order: Order, *, state: str, amount: int, currency: str, source: str) -> str:
    """Apply what the provider says about the order's payment. The caller
    holds the order row lock. Returns what happened (for the webhook record)."""
    if state in (PaymentState.SUCCEEDED, PaymentState.REFUNDED) and (
        amount != order.total or currency != order.currency
    ):
        code = "webhook_amount_mismatch" if amount != order.total else "webhook_currency_mismatch"
        raise WebhookRejected(
            "The payment does not match the order.",
            code=code,
            expected={"amount": order.total, "currency": order.currency},
            received={"amount": amount, "currency": currency},
        )
    now = timezone.now()
    if state == PaymentState.SUCCEEDED:
        if order.status in (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.REFUNDED):
            return "already_settled"
        if order.status in (OrderStatus.EXPIRED, OrderStatus.FAILED) and order.package_id and not order.stock_held:
            # Paid after we gave up on it: take the stock again if any is left.
            taken = LimitedPackage.objects.filter(pk=order.package_id, remaining_stock__gte=order.quantity).update(
                remaining_stock=F("remaining_stock") - order.quantity
            )
            if not taken:
                order.paid_at = now
                order.failure_reason = "paid_after_sold_out"
                _transition(
                    order, OrderStatus.PAID, reason=f"{source}: paid late, sold out meanwhile: refund it", now=now
                )
                return "paid_needs_refund"
            order.stock_held = True
        _fulfil(order, now=now, paid_reason=f"{source}: payment succeeded")
        return "fulfilled"
    if state == PaymentState.FAILED:
        if order.status not in OPEN_STATUSES:
            return "ignored"
        _release_stock(order)
        order.failure_reason = "payment_declined"
        _transition(order, OrderStatus.FAILED, reason=f"{source}: payment failed", now=now)
        return "failed"
    if state == PaymentState.REFUNDED:
        if order.status != OrderStatus.FULFILLED:
            return "ignored"
        _take_back(order, now=now)
        _transition(order, OrderStatus.REFUNDED, reason=f"{source}: refunded", now=now)
        return "refunded"
    return "pending"


def _take_back(order: Order, *, now: datetime) -> None:
    """Compensate a fulfilled order: claw back its grants (debt for what was
    already spent) and, for a game-currency order, return the price."""
    if order.grants:
        wallet_claw_back(
            user=order.user_id,
            bundle=order.grants,
            reason=LedgerReason.PURCHASE_REFUND,
            idempotency_key=f"order:{order.receipt_code}:refund",
            reference=f"order:{order.receipt_code}",
        )
    if order.price_type != PriceType.MONEY:
        wallet_grant(
            user=order.user_id,
            bundle={order.price_type: order.total},
            reason=LedgerReason.PURCHASE_REFUND,
            idempotency_key=f"order:{order.receipt_code}:repay",
            reference=f"order:{order.receipt_code}",
        )
    for item in order.grant_items:
        OwnedItem.objects.filter(user_id=order.user_id, item_code=item, quantity__gt=0).update(
            quantity=F("quantity") - 1, updated_at=now
        )
    order.refunded_at = now


@dataclass(frozen=True)
class WebhookOutcome:
    event: WebhookEvent
    duplicate: bool
    result: str


def payment_webhook_receive(*, headers: Any, body: bytes, provider_name: str | None = None) -> WebhookOutcome:
    """Verify, record and apply one delivery of the provider's webhook.

    Every delivery is stored. A bad signature, a stale timestamp, an unknown
    order or a mismatched amount is refused with its own code, recorded, and
    changes nothing. A webhook id seen before (verified) is acknowledged
    without effect: the verified-id unique index decides among parallel
    duplicates.
    """
    from shop.webhooks import verify

    provider = get_provider(provider_name)
    now = timezone.now()
    external_id = str(headers.get("webhook-id", ""))[:128]
    raw = body.decode("utf-8", errors="replace")
    try:
        verify(
            secrets=provider.webhook_secrets(),
            headers=headers,
            body=body,
            tolerance_seconds=settings.SHOP_WEBHOOK_TOLERANCE_SECONDS,
        )
        payload = json.loads(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise WebhookRejected("The webhook body is not a payment event.", code="webhook_payload_invalid")
    except (WebhookRejected, ValueError) as exc:
        error = (
            exc if isinstance(exc, WebhookRejected) else WebhookRejected("Not JSON.", code="webhook_payload_invalid")
        )
        metrics.webhook_verification_failures.labels(reason=error.code).inc()
        WebhookEvent.objects.create(
            provider=provider.name,
            external_id=external_id,
            status=WebhookStatus.FAILED,
            error_code=error.code,
            last_error=error.message,
            raw_body=raw[:20_000],
            signature_valid=error.code == "webhook_payload_invalid",
            received_at=now,
        )
        raise error from None
    event = WebhookEvent(
        provider=provider.name,
        external_id=external_id,
        event_type=str(payload.get("type", ""))[:64],
        status=WebhookStatus.RECEIVED,
        payload=payload,
        raw_body=raw[:20_000],
        signature_valid=True,
        received_at=now,
    )
    try:
        insert_or_raise(event)
    except IntegrityError:
        first = WebhookEvent.objects.get(provider=provider.name, external_id=external_id, signature_valid=True)
        WebhookEvent.objects.filter(pk=first.pk).update(attempts=F("attempts") + 1)
        return WebhookOutcome(event=first, duplicate=True, result="duplicate")
    return WebhookOutcome(event=event, duplicate=False, result=webhook_process(event=event))


_EVENT_STATES = {
    "payment.succeeded": PaymentState.SUCCEEDED,
    "payment.failed": PaymentState.FAILED,
    "payment.refunded": PaymentState.REFUNDED,
}


def webhook_process(*, event: WebhookEvent, actor: Any = None) -> str:
    """Apply a stored, verified webhook (also the admin's "re-process")."""
    data = event.payload.get("data", {})
    state = _EVENT_STATES.get(event.event_type)
    try:
        with transaction.atomic():
            if state is None:
                result = "ignored"
                order = None
            else:
                order = (
                    Order.objects.select_for_update()
                    .select_related("product")
                    .filter(provider=event.provider, provider_reference=str(data.get("reference", "")))
                    .exclude(provider_reference="")
                    .first()
                )
                if order is None:
                    raise WebhookRejected("No order has this payment reference.", code="webhook_unknown_order")
                amount, currency = data.get("amount"), data.get("currency")
                if not isinstance(amount, int) or not isinstance(currency, str):
                    raise WebhookRejected("Amount or currency missing.", code="webhook_payload_invalid")
                result = _apply_payment_state(order, state=state, amount=amount, currency=currency, source="webhook")
            outcome = {
                "status": WebhookStatus.IGNORED
                if result in ("ignored", "already_settled")
                else WebhookStatus.PROCESSED,
                "order": order,
                "processed_at": timezone.now(),
                "error_code": "",
                "last_error": "",
            }
            WebhookEvent.objects.filter(pk=event.pk).update(**outcome)
            if actor is not None:
                audit_record(
                    actor=actor,
                    action="webhook_reprocess",
                    target=event,
                    reason="re-processed from the admin",
                    data={"result": result},
                )
    except WebhookRejected as exc:
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookStatus.FAILED, error_code=exc.code, last_error=exc.message, processed_at=timezone.now()
        )
        raise
    for name, value in outcome.items():
        setattr(event, name, value)
    return result


# --- settlement, expiry, refunds, review ---------------------------------------------------


def order_settle(*, order: Order, actor: Any = None, reason: str = "settled from the back office") -> str:
    """Ask the provider for the payment's state (by its own reference) and settle."""
    if order.price_type != PriceType.MONEY or not order.provider_reference:
        return "nothing_to_settle"
    status = get_provider(order.provider).fetch_status(reference=order.provider_reference)
    with transaction.atomic():
        locked = Order.objects.select_for_update().select_related("product").get(pk=order.pk)
        result = _apply_payment_state(
            locked, state=status.state, amount=status.amount, currency=status.currency, source="settlement"
        )
        if actor is not None and actor.is_staff:
            audit_record(actor=actor, action="order_settle", target=locked, reason=reason, data={"result": result})
    order.refresh_from_db()
    return result


def orders_expire_stale() -> int:
    """Expire unpaid orders older than SHOP_PENDING_ORDER_TTL and return their stock."""
    cutoff = timezone.now() - settings.SHOP_PENDING_ORDER_TTL
    expired = 0
    for order_id in Order.objects.filter(status=OrderStatus.PENDING, created_at__lt=cutoff).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            order = (
                Order.objects.select_for_update(skip_locked=True)
                .select_related("product")
                .filter(pk=order_id, status=OrderStatus.PENDING)
                .first()
            )
            if order is None:
                continue
            _release_stock(order)
            order.failure_reason = "payment_timeout"
            _transition(order, OrderStatus.EXPIRED, reason="not paid in time")
            expired += 1
    return expired


def order_refund(*, actor: Any, order: Order, reason: str) -> Order:
    """Staff: refund a fulfilled order (audited). Money orders are refunded at
    the provider; game-currency orders give the price back."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().select_related("product").get(pk=order.pk)
        if locked.status != OrderStatus.FULFILLED:
            raise OrderStateConflict(status=locked.status)
        if locked.price_type == PriceType.MONEY:
            get_provider(locked.provider).refund(reference=locked.provider_reference, amount=locked.total)
        now = timezone.now()
        _take_back(locked, now=now)
        _transition(locked, OrderStatus.REFUNDED, reason=f"refunded by staff: {reason}", actor=actor, now=now)
        audit_record(
            actor=actor,
            action="order_refund",
            target=locked,
            reason=reason,
            data={"total": locked.total, "currency": locked.currency},
        )
    return locked


def order_review(*, actor: Any, order: Order, approve: bool, reason: str) -> Order:
    """Staff decide an order the fraud rules held for review (audited)."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().select_related("product").get(pk=order.pk)
        if locked.status != OrderStatus.PENDING_REVIEW:
            raise OrderStateConflict(status=locked.status)
        if approve:
            _transition(locked, OrderStatus.PENDING, reason=f"review approved: {reason}", actor=actor)
        else:
            _release_stock(locked)
            locked.failure_reason = "fraud_review_rejected"
            _transition(locked, OrderStatus.FAILED, reason=f"review rejected: {reason}", actor=actor)
        audit_record(
            actor=actor,
            action="order_review_approve" if approve else "order_review_reject",
            target=locked,
            reason=reason,
        )
    if approve:
        _open_payment(locked)
    return locked


def package_stock_raise(*, actor: Any, package: LimitedPackage, previous_total: int, reason: str) -> LimitedPackage:
    """Staff add stock to a package (audited): total and remaining grow by the
    same amount in one UPDATE that applies only if the total is still the one
    the staff member saw; remaining moves relative to its current value, so
    buys committed meanwhile are kept. ``package.total_stock`` is the new total."""
    added = package.total_stock - previous_total
    if added <= 0:
        raise OrderStateConflict("Stock can only be raised.", code="stock_can_only_grow")
    with transaction.atomic():
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
