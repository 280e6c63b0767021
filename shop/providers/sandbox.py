"""The sandbox payment provider: a stand-in for an external provider, kept in
the ``SandboxPayment`` table.

It behaves like the outside world: it knows our receipt code only as a
``merchant_reference``, never reads or writes orders, and tells us about a
payment the way a real provider would — by a signed webhook (Standard
Webhooks, see ``shop.webhooks``) to ``/api/shop/webhook/payment`` and by
``fetch_status``. The player pays on its checkout page (``shop.sandbox_views``),
which calls :func:`sandbox_decide`.

Life of a payment::

    created --approve--> approved --refund--> refunded
            --decline--> declined
            --cancel---> canceled      (we gave up on the order: it expired)

Every change is one conditional ``UPDATE ... WHERE status = <expected>``, so a
double click, two tabs or a retried request decide a payment once.
"""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework import status

from casino.db import rows_insert
from casino.errors import ConflictError
from shop.exceptions import PaymentProviderError
from shop.models import SandboxPayment, SandboxPaymentStatus
from shop.providers.base import PaymentIntent, PaymentState, PaymentStatus
from shop.providers.sandbox_tasks import deliver_webhook

DEFAULT_PAYMENT_INSTRUMENT = "card_sandbox_4242"
CHECKOUT_PATH = "/sandbox/checkout/"


class WebhookEventType:
    SUCCEEDED = "payment.succeeded"
    FAILED = "payment.failed"
    REFUNDED = "payment.refunded"


STATE_BY_STATUS = {
    SandboxPaymentStatus.CREATED: PaymentState.PENDING,
    SandboxPaymentStatus.APPROVED: PaymentState.SUCCEEDED,
    SandboxPaymentStatus.DECLINED: PaymentState.FAILED,
    SandboxPaymentStatus.REFUNDED: PaymentState.REFUNDED,
    SandboxPaymentStatus.CANCELED: PaymentState.CANCELED,
}


class SandboxPaymentNotFound(PaymentProviderError):
    code = "payment_not_found"
    message = "The payment provider knows no such payment."
    status = status.HTTP_404_NOT_FOUND


class SandboxRefundRefused(PaymentProviderError):
    code = "payment_refund_refused"
    message = "The payment provider refused the refund."
    status = status.HTTP_409_CONFLICT


class SandboxPaymentAlreadyDecided(ConflictError):
    code = "sandbox_payment_already_decided"
    message = "This payment has already been decided."


def sandbox_payment_get(*, reference: str) -> SandboxPayment:
    try:
        return SandboxPayment.objects.get(reference=reference)
    except SandboxPayment.DoesNotExist:
        raise SandboxPaymentNotFound(reference=reference) from None


def checkout_url(reference: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{CHECKOUT_PATH}{reference}"


def webhook_payload(*, event_type: str, payment: SandboxPayment) -> dict[str, Any]:
    """The event body: ``{"type", "timestamp", "data": {...}}`` (Standard Webhooks'
    recommended shape). ``amount`` is always the payment's amount; a refund adds
    ``refunded_amount``."""
    data: dict[str, Any] = {
        "reference": payment.reference,
        "merchant_reference": payment.merchant_reference,
        "amount": payment.amount,
        "currency": payment.currency,
        "payment_instrument": payment.payment_instrument,
    }
    if event_type == WebhookEventType.REFUNDED:
        data["refunded_amount"] = payment.refunded_amount
    return {"type": event_type, "timestamp": payment.updated_at.isoformat(), "data": data}


def _schedule_webhook(*, event_type: str, payment: SandboxPayment) -> str:
    """Deliver the event once the change is committed (never for a rolled-back
    change, and never while the change holds its row or SQLite's write lock).
    Returns the event's webhook id. ``robust``: the change is committed either
    way, so a broker outage is logged rather than turned into an error page."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps(webhook_payload(event_type=event_type, payment=payment), separators=(",", ":"))
    transaction.on_commit(lambda: deliver_webhook.delay(msg_id=msg_id, body=body), robust=True)
    return msg_id


def sandbox_decide(
    *, reference: str, approve: bool, payment_instrument: str = DEFAULT_PAYMENT_INSTRUMENT
) -> SandboxPayment:
    """The payer approves or declines on the checkout page: ``created`` becomes
    ``approved`` or ``declined`` exactly once, and a ``payment.succeeded`` or
    ``payment.failed`` webhook goes out after commit. A second decision raises
    :class:`SandboxPaymentAlreadyDecided` and sends nothing."""
    new_status = SandboxPaymentStatus.APPROVED if approve else SandboxPaymentStatus.DECLINED
    with transaction.atomic():
        decided = SandboxPayment.objects.filter(reference=reference, status=SandboxPaymentStatus.CREATED).update(
            status=new_status, payment_instrument=payment_instrument, updated_at=timezone.now()
        )
        payment = sandbox_payment_get(reference=reference)
        if not decided:
            raise SandboxPaymentAlreadyDecided(
                f"This payment was already {payment.status}.", reference=reference, payment_status=payment.status
            )
        _schedule_webhook(
            event_type=WebhookEventType.SUCCEEDED if approve else WebhookEventType.FAILED, payment=payment
        )
    return payment


def _status_of(payment: SandboxPayment) -> PaymentStatus:
    return PaymentStatus(
        reference=payment.reference,
        state=STATE_BY_STATUS[SandboxPaymentStatus(payment.status)],
        amount=payment.amount,
        currency=payment.currency,
        merchant_reference=payment.merchant_reference,
    )


class SandboxProvider:
    """:class:`shop.providers.base.PaymentProvider` over the sandbox's own table."""

    name = "sandbox"

    def create_payment(self, *, merchant_reference: str, amount: int, currency: str, description: str) -> PaymentIntent:
        # The sandbox keeps no description; a real provider would show it at checkout.
        if amount <= 0:
            raise ValueError("a payment amount must be positive (minor units)")
        if len(currency) != 3 or not currency.isalpha():
            raise ValueError("currency must be an ISO 4217 code")
        now = timezone.now()
        payment = SandboxPayment(
            reference=f"sbx_{secrets.token_hex(12)}",
            merchant_reference=merchant_reference,
            amount=amount,
            currency=currency.upper(),
            created_at=now,
            updated_at=now,
        )
        rows_insert([payment])  # on every money buy: written out, not compiled each time
        return PaymentIntent(reference=payment.reference, checkout_url=checkout_url(payment.reference))

    def fetch_status(self, *, reference: str) -> PaymentStatus:
        return _status_of(sandbox_payment_get(reference=reference))

    def refund(self, *, reference: str, amount: int) -> PaymentStatus:
        """Refund ``amount`` (at most the payment's amount) of an approved
        payment, once; the payment becomes ``refunded`` and a
        ``payment.refunded`` webhook goes out after commit."""
        with transaction.atomic():
            payment = sandbox_payment_get(reference=reference)
            if not 0 < amount <= payment.amount:
                raise SandboxRefundRefused(
                    f"A refund must be between 1 and {payment.amount}.", reference=reference, amount=amount
                )
            refunded = SandboxPayment.objects.filter(reference=reference, status=SandboxPaymentStatus.APPROVED).update(
                status=SandboxPaymentStatus.REFUNDED, refunded_amount=amount, updated_at=timezone.now()
            )
            payment.refresh_from_db()
            if not refunded:
                raise SandboxRefundRefused(
                    f"Only an approved payment can be refunded; this one is {payment.status}.",
                    reference=reference,
                    payment_status=payment.status,
                )
            _schedule_webhook(event_type=WebhookEventType.REFUNDED, payment=payment)
        return _status_of(payment)

    def cancel(self, *, reference: str) -> PaymentStatus:
        """Cancel a payment still waiting for the payer (``created`` becomes
        ``canceled`` in one conditional UPDATE, so a payer approving at the same
        moment either wins or finds it canceled). Sends no webhook: the merchant
        asked. Any other payment is left as it is and its status returned."""
        SandboxPayment.objects.filter(reference=reference, status=SandboxPaymentStatus.CREATED).update(
            status=SandboxPaymentStatus.CANCELED, updated_at=timezone.now()
        )
        return _status_of(sandbox_payment_get(reference=reference))

    def webhook_secrets(self) -> list[str]:
        return list(settings.SHOP_WEBHOOK_SECRETS)
