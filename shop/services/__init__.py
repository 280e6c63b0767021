"""Shop writes. Import from here: ``from shop.services import shop_buy``.

- ``purchase``: buying with game currency or real money;
- ``order_state``: the order state machine (transitions, fulfilment, take-back,
  applying a payment's state);
- ``webhooks``: the payment provider's webhook;
- ``back_office``: settlement, expiry, refunds, fraud reviews, limited packages;
- ``payment``: refunding at the provider a payment we will not fulfil;
- ``limits``: the per-player and daily spend limits, checked at purchase and at payment;
- ``catalog``: the rules of products and promo codes;
- ``pricing``, ``stock``: prices and promo codes, limited-package stock.

Locking order (never reversed anywhere): the player's user row (the purchase
lock: serialises one player's buys, so per-player limits and the daily spend
limit are checked against a stable count) -> the package row (one conditional
UPDATE, never oversells) -> the promo code row (conditional UPDATE) -> the
wallet row (inside wallet_exchange / wallet_grant) -> the player's owned-item
rows. Payment events (webhook, settlement) lock the player's user row, then the
order row (so the limits are checked again against a stable count), then the
package, the wallet and the owned items; a refund that reverses the player's
later game-currency purchases locks those order rows after the refunded one,
in primary-key order. Staff refunds, reviews and the expiry sweep lock the
order row alone. Every lock goes through ``shop.locks``: it locks only the
rows named, in primary-key order.

Every order change emits ``purchase_update``. Entry points open their own
transaction with ``durable=True``; the helpers they compose open none.
"""

from shop.enums import OrderLedgerStep, PaymentOutcome
from shop.ledger_keys import order_ledger_key, order_ledger_reference
from shop.services.back_office import (
    order_refund,
    order_review,
    order_settle,
    orders_expire_stale,
    package_create,
    package_stock_raise,
    package_stock_raise_check,
    package_terms_validate,
    package_update,
)
from shop.services.catalog import (
    MAX_GRANT_PER_UNIT,
    ProductTerms,
    product_save,
    product_terms_validate,
    promo_code_normalise,
    promo_code_save,
    promo_code_terms_validate,
)
from shop.services.payment import order_payment_refund
from shop.services.pricing import price_for
from shop.services.purchase import MAX_QUANTITY, PurchaseRequest, PurchaseResult, shop_buy
from shop.services.webhooks import WebhookOutcome, payment_webhook_receive, webhook_process

__all__ = [
    "MAX_GRANT_PER_UNIT",
    "MAX_QUANTITY",
    "OrderLedgerStep",
    "PaymentOutcome",
    "ProductTerms",
    "PurchaseRequest",
    "PurchaseResult",
    "WebhookOutcome",
    "order_ledger_key",
    "order_ledger_reference",
    "order_payment_refund",
    "order_refund",
    "order_review",
    "order_settle",
    "orders_expire_stale",
    "package_create",
    "package_stock_raise",
    "package_stock_raise_check",
    "package_terms_validate",
    "package_update",
    "payment_webhook_receive",
    "price_for",
    "product_save",
    "product_terms_validate",
    "promo_code_normalise",
    "promo_code_save",
    "promo_code_terms_validate",
    "shop_buy",
    "webhook_process",
]
