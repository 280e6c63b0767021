"""Shop values that are not model fields: what a payment event did, which
ledger posting of an order a key names, why an order failed."""

from __future__ import annotations

from django.db import models


class PaymentOutcome(models.TextChoices):
    """What applying a payment event (webhook, settlement) did. The value is
    what the API answers and the webhook record and audit log keep; the label is
    what staff read."""

    FULFILLED = "fulfilled", "fulfilled"
    ALREADY_SETTLED = "already_settled", "already settled"
    PAID_NEEDS_REFUND = "paid_needs_refund", "paid but cannot be fulfilled: refund pending at the provider"
    REFUNDED_UNFULFILLED = "refunded_unfulfilled", "paid but cannot be fulfilled: refunded at the provider"
    FAILED = "failed", "failed"
    REFUNDED = "refunded", "refunded"
    IGNORED = "ignored", "ignored"
    PENDING = "pending", "still pending"
    DUPLICATE = "duplicate", "duplicate delivery"
    NOTHING_TO_SETTLE = "nothing_to_settle", "nothing to settle"


class OrderLedgerStep(models.TextChoices):
    """The ledger postings an order can make, each under its own idempotency key."""

    PAY = "pay", "Price paid from the wallet"
    GRANT = "grant", "What was bought, granted"
    REFUND = "refund", "Grants clawed back"
    REPAY = "repay", "Price given back"


class OrderFailureReason(models.TextChoices):
    """``Order.failure_reason`` (the API's ``reason_code``)."""

    PAYMENT_DECLINED = "payment_declined", "The payment was declined"
    PAYMENT_TIMEOUT = "payment_timeout", "Not paid in time"
    PAYMENT_PROVIDER_UNAVAILABLE = "payment_provider_unavailable", "The payment provider could not be reached"
    PAID_AFTER_SOLD_OUT = "paid_after_sold_out", "Paid after the package sold out"
    FRAUD_REVIEW_REJECTED = "fraud_review_rejected", "Rejected in fraud review"
    REVIEW_TIMEOUT = "review_timeout", "Not reviewed in time"
    # Paid, then found not to fit any more: never fulfilled, refunded at the provider.
    DAILY_SPEND_LIMIT_REACHED = "daily_spend_limit_reached", "Paid beyond the daily spend limit"
    PURCHASE_LIMIT_REACHED = "purchase_limit_reached", "Paid beyond the per-player purchase limit"
    PAID_AFTER_FAILURE = "paid_after_failure", "Paid after the payment was reported failed"
    PAYMENT_REFUNDED = "payment_refunded", "The payment was refunded before it was fulfilled"


class ClientPurchaseStatus(models.TextChoices):
    """The four words the players' web client knows for a purchase
    (``purchase_update.data.status``, the buy answer's and a transaction's
    ``status``). Any other value crashes its shop screen, so the order's own
    state travels next to it, as ``state``."""

    PENDING = "pending", "Waiting: for the payment, a review or the fulfilment"
    SUCCESS = "success", "Fulfilled: the player holds what was bought"
    FAILED = "failed", "Not fulfilled, or taken back"
    IDEMPOTENT_REUSE = "idempotent_reuse", "The answer to a buy already made with this idempotency key"


# Order state (``shop.models.OrderStatus``) -> the client's word. Every state
# has one (``shop/tests/test_client_purchase_status.py`` checks it):
#
#   pending, pending_review, paid  -> pending   (paid: granted in the same step, or
#                                                 being refunded, which ends in refunded)
#   fulfilled                      -> success
#   failed, expired, refunded      -> failed
#
# ``idempotent_reuse`` is never an order state: it is the buy answer's status
# when the request replays a buy already made (no new event is emitted then:
# nothing changed, and the first buy's events already went out).
CLIENT_PURCHASE_STATUS: dict[str, ClientPurchaseStatus] = {
    "pending": ClientPurchaseStatus.PENDING,
    "pending_review": ClientPurchaseStatus.PENDING,
    "paid": ClientPurchaseStatus.PENDING,
    "fulfilled": ClientPurchaseStatus.SUCCESS,
    "failed": ClientPurchaseStatus.FAILED,
    "expired": ClientPurchaseStatus.FAILED,
    "refunded": ClientPurchaseStatus.FAILED,
}


def client_purchase_status(state: str) -> ClientPurchaseStatus:
    """The client's word for an order state (KeyError for a state with none:
    a new state must be given one here, never passed through)."""
    return CLIENT_PURCHASE_STATUS[state]
