"""Shop refusals: one class per error code, none with an effect.

Raise the class, never a parent with ``code=...``: the class is what callers
catch and what the code, status and default message are read from.
"""

from __future__ import annotations

from rest_framework import status

from casino.errors import ApplicationError


class ShopError(ApplicationError):
    status: int = status.HTTP_409_CONFLICT


class ProductNotFound(ApplicationError):
    code = "product_not_found"
    message = "No such product."
    status = status.HTTP_404_NOT_FOUND


class PackageNotFound(ProductNotFound):
    code = "package_not_found"
    message = "No such package."


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


class InvalidQuantity(PurchaseLimitReached):
    """A quantity outside 1..MAX_QUANTITY (the API's input serializer refuses it first)."""

    code = "invalid_quantity"
    message = "The quantity is out of range."


class VipTierTooLow(ShopError):
    code = "vip_tier_too_low"
    message = "Your VIP tier is too low for this item."
    status = status.HTTP_403_FORBIDDEN


class InvalidPromoCode(ApplicationError):
    code = "invalid_promo_code"
    message = "The promo code is not valid."
    status = status.HTTP_400_BAD_REQUEST


class DailySpendLimitReached(ShopError):
    code = "daily_spend_limit_reached"
    message = "This purchase would exceed your daily spend limit."


class PaymentBlocked(ShopError):
    code = "payment_blocked"
    message = "This payment cannot be accepted."
    status = status.HTTP_403_FORBIDDEN


class WrongPaymentFlow(ApplicationError):
    code = "wrong_purchase_endpoint"
    message = "This product is sold as a limited package: use buy-limited."
    status = status.HTTP_400_BAD_REQUEST


class OrderNotFound(ApplicationError):
    code = "order_not_found"
    message = "No such order."
    status = status.HTTP_404_NOT_FOUND


class OrderStateConflict(ShopError):
    code = "order_state_conflict"
    message = "The order is not in a state that allows this."


class StockCanOnlyGrow(OrderStateConflict):
    code = "stock_can_only_grow"
    message = "Stock can only be raised."


class PaymentProviderError(ApplicationError):
    code = "payment_provider_unavailable"
    message = "The payment provider could not be reached; try again."
    status: int = status.HTTP_502_BAD_GATEWAY


class WebhookRejected(ApplicationError):
    """A delivery we refuse: bad signature, stale timestamp, unknown order,
    mismatch. Raise one of the subclasses below; catch this one."""

    code = "webhook_rejected"
    status: int = status.HTTP_400_BAD_REQUEST


class WebhookHeadersMissing(WebhookRejected):
    code = "webhook_headers_missing"
    message = "The webhook-id, webhook-timestamp and webhook-signature headers are required."


class WebhookTimestampInvalid(WebhookRejected):
    code = "webhook_timestamp_invalid"
    message = "webhook-timestamp must be unix seconds."


class WebhookTimestampOutOfTolerance(WebhookRejected):
    code = "webhook_timestamp_out_of_tolerance"
    message = "webhook-timestamp is too far away from the server's clock."


class WebhookSignatureInvalid(WebhookRejected):
    code = "webhook_signature_invalid"
    message = "No webhook signature matches."


class WebhookPayloadInvalid(WebhookRejected):
    code = "webhook_payload_invalid"
    message = "The webhook body is not a payment event."


class WebhookUnknownOrder(WebhookRejected):
    code = "webhook_unknown_order"
    message = "No order has this payment reference."


class WebhookAmountMismatch(WebhookRejected):
    code = "webhook_amount_mismatch"
    message = "The payment does not match the order."


class WebhookCurrencyMismatch(WebhookRejected):
    code = "webhook_currency_mismatch"
    message = "The payment does not match the order."


class WebhookMerchantReferenceMismatch(WebhookRejected):
    code = "webhook_merchant_reference_mismatch"
    message = "The payment's merchant reference is not the receipt code of the order it names."


class WebhookRateLimited(WebhookRejected):
    """Too many refused deliveries from one source address: refused without being stored."""

    code = "webhook_rate_limited"
    message = "Too many refused webhook deliveries from this address; try again later."
    status = status.HTTP_429_TOO_MANY_REQUESTS


class StockChangedMeanwhile(ShopError):
    code = "stock_changed_meanwhile"
    message = "The stock was changed by someone else at the same moment; check it and try again."
