"""Shop refusals: each its own code, none with an effect."""

from __future__ import annotations

from rest_framework import status

from casino.errors import ApplicationError


class ShopError(ApplicationError):
    status = status.HTTP_409_CONFLICT


class ProductNotFound(ApplicationError):
    code = "product_not_found"
    message = "No such product."
    status = status.HTTP_404_NOT_FOUND


class ProductUnavailable(ShopError):
    code = "product_unavailable"
    message = "This product is not on sale."


class OutOfWindow(ShopError):
    code = "sale_not_open"
    message = "This package is not on sale right now."


class SoldOut(ShopError):
    code = "sold_out"
    message = "Sold out."


class PurchaseLimitReached(ShopError):
    code = "purchase_limit_reached"
    message = "You have reached the purchase limit for this item."


class VipTierTooLow(ShopError):
    code = "vip_tier_too_low"
    message = "Your VIP tier is too low for this item."
    status = status.HTTP_403_FORBIDDEN


class InvalidPromoCode(ApplicationError):
    code = "invalid_promo_code"
    message = "The promo code is not valid."
    status = status.HTTP_400_BAD_REQUEST


class PlayerSelfExcluded(ShopError):
    code = "self_excluded"
    message = "You have excluded yourself from play."
    status = status.HTTP_403_FORBIDDEN


class DailySpendLimitReached(ShopError):
    code = "daily_spend_limit_reached"
    message = "This purchase would exceed your daily spend limit."


class PaymentBlocked(ShopError):
    code = "payment_blocked"
    message = "This payment cannot be accepted."
    status = status.HTTP_403_FORBIDDEN


class WrongPaymentFlow(ApplicationError):
    code = "wrong_purchase_endpoint"
    status = status.HTTP_400_BAD_REQUEST


class OrderNotFound(ApplicationError):
    code = "order_not_found"
    message = "No such order."
    status = status.HTTP_404_NOT_FOUND


class OrderStateConflict(ShopError):
    code = "order_state_conflict"
    message = "The order is not in a state that allows this."


class PaymentProviderError(ApplicationError):
    code = "payment_provider_unavailable"
    message = "The payment provider could not be reached; try again."
    status = status.HTTP_502_BAD_GATEWAY


class WebhookRejected(ApplicationError):
    """A delivery we refuse: bad signature, stale timestamp, unknown order, mismatch."""

    status = status.HTTP_400_BAD_REQUEST


class StockChangedMeanwhile(ShopError):
    code = "stock_changed_meanwhile"
    message = "The stock was changed by someone else at the same moment; check it and try again."
