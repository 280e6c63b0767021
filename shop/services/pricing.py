"""Prices and promo codes: what an order costs, computed from the catalog only."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, Q

from shop.exceptions import InvalidPromoCode
from shop.models import DiscountType, Product, PromoCode, PromoRedemption


def price_for(*, product: Product, quantity: int, promo: PromoCode | None) -> tuple[int, int, int]:
    """``(subtotal, discount, total)`` in the price's units::

    subtotal = unit price * quantity
    discount = floor(subtotal * percent / 100)   (a percentage, rounded down: the house's favour)
             | the fixed amount                    (once per order, not per unit)
    discount = min(discount, subtotal - 1)        (the total never goes below 1 unit)
    total    = subtotal - discount
    """
    subtotal = product.price_amount * quantity
    discount = 0
    if promo is not None:
        if promo.discount_type == DiscountType.PERCENT:
            discount = subtotal * promo.discount_value // 100
        else:
            discount = promo.discount_value
        discount = min(discount, subtotal - 1)
    return subtotal, discount, subtotal - discount


def promo_load(*, code: str | None, product: Product, user_id: int, now: datetime) -> PromoCode | None:
    """The promo code the player typed, if it may be used on this product now;
    refused with the reason otherwise. Reads only: :func:`promo_use` counts the use."""
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


def promo_use(*, promo: PromoCode) -> None:
    """Count one use in one conditional UPDATE, so parallel buyers never use a
    code more often than its cap (the check in :func:`promo_load` may be stale)."""
    used = PromoCode.objects.filter(
        Q(max_total_uses__isnull=True) | Q(uses__lt=F("max_total_uses")), pk=promo.pk, is_active=True
    ).update(uses=F("uses") + 1)
    if not used:
        raise InvalidPromoCode(reason="used_up")
