"""The payment provider's webhook: verify, record, apply.

Exactly once: every delivery is stored first; a verified delivery claims its
webhook id through a partial unique index (verified rows only, so a forged
request cannot burn a real id), and the loser of a race between duplicates
only counts an attempt. The winner applies the event in one transaction with
the buyer's and the order's rows locked, so a webhook and a settlement of the
same order apply one after the other, the second seeing the first's result.
The event's ``merchant_reference`` (the receipt code we gave the provider)
must be that of the order its payment reference finds.

Refused deliveries (no or a wrong signature, a stale timestamp) are counted
(``webhook_verification_failures``), logged, and stored for staff with at most
``SHOP_WEBHOOK_STORED_BODY_MAX_BYTES`` of their body. Beyond
``SHOP_WEBHOOK_REFUSED_PER_IP_PER_MINUTE`` refused deliveries from one source
address (``casino.http.client_ip``) a refused delivery is answered 429
``webhook_rate_limited`` and not stored at all. Only refusals count, and a
correctly signed delivery is never limited, so a forger sharing the provider's
address cannot lock the provider out. When the counters' store (Redis) does not
answer, the limit fails open: the refusal is stored as usual.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from casino.db import insert_or_raise, row_update_later, service_transaction
from casino.permissions import staff_permission_require
from casino.ratelimit import SlidingWindowLimit
from casino.services import audit_record
from shop import metrics
from shop.enums import PaymentOutcome
from shop.exceptions import WebhookPayloadInvalid, WebhookRateLimited, WebhookRejected, WebhookUnknownOrder
from shop.locks import order_and_buyer_lock_by_reference
from shop.models import Order, WebhookEvent, WebhookStatus
from shop.providers import get_provider
from shop.providers.base import PaymentState
from shop.services.order_state import order_apply_payment
from shop.services.payment import order_payment_refund
from shop.webhooks import verify

logger = logging.getLogger(__name__)

_EVENT_STATES = {
    "payment.succeeded": PaymentState.SUCCEEDED,
    "payment.failed": PaymentState.FAILED,
    "payment.refunded": PaymentState.REFUNDED,
}
# Outcomes that changed nothing: the webhook record says "ignored" for them.
_NO_EFFECT = (PaymentOutcome.IGNORED, PaymentOutcome.ALREADY_SETTLED)


@dataclass(frozen=True)
class WebhookOutcome:
    event: WebhookEvent
    duplicate: bool
    result: PaymentOutcome


def _verified_payload(*, secrets: list[str], headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    verify(secrets=secrets, headers=headers, body=body, tolerance_seconds=settings.SHOP_WEBHOOK_TOLERANCE_SECONDS)
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookPayloadInvalid("Not JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise WebhookPayloadInvalid()
    return payload


def _stored_body(body: bytes) -> str:
    """What staff see of a delivery's body: its first ``SHOP_WEBHOOK_STORED_BODY_MAX_BYTES``."""
    return body[: settings.SHOP_WEBHOOK_STORED_BODY_MAX_BYTES].decode("utf-8", errors="replace")


def _refusals_over_limit(ip: str) -> float | None:
    """Count one refused delivery from ``ip``; seconds to wait when the address
    is over its limit, else None. Fails open when Redis does not answer."""
    limit = SlidingWindowLimit(
        f"shop-webhook-refused:{ip}", limit=settings.SHOP_WEBHOOK_REFUSED_PER_IP_PER_MINUTE, window=timedelta(minutes=1)
    )
    try:
        if limit.hit() <= limit.limit:
            return None
        return limit.retry_after_seconds()
    except Exception:  # noqa: BLE001 - the counters' store is down: fail open, the refusal is stored
        logger.warning("webhook refusal counter unavailable; not rate limiting %s", ip, exc_info=True)
        return None


def _record_refusal(
    *, provider_name: str, external_id: str, error: WebhookRejected, body: bytes, ip: str, now: datetime
) -> None:
    """Count, log and store a refused delivery (its body capped), or, past the
    address's limit, refuse it with 429 and store nothing."""
    metrics.webhook_verification_failures.labels(reason=error.code).inc()
    signed = isinstance(error, WebhookPayloadInvalid)  # signed by the provider, but not an event
    if not signed:
        retry_after = _refusals_over_limit(ip)
        if retry_after is not None:
            metrics.webhook_refusals_not_stored.inc()
            raise WebhookRateLimited(retry_after_seconds=max(1, int(retry_after + 0.999))) from error
    logger.warning(
        "payment webhook refused (%s) from %s: %d bytes, webhook-id %r", error.code, ip, len(body), external_id
    )
    kept = min(len(body), settings.SHOP_WEBHOOK_STORED_BODY_MAX_BYTES)
    WebhookEvent.objects.create(
        provider=provider_name,
        external_id=external_id,
        status=WebhookStatus.FAILED,
        error_code=error.code,
        last_error=f"{error.message} (from {ip}; {len(body)} bytes, first {kept} kept)",
        raw_body=_stored_body(body),
        signature_valid=signed,
        received_at=now,
    )


def payment_webhook_receive(
    *, headers: Mapping[str, str], body: bytes, ip: str = "unknown", provider_name: str | None = None
) -> WebhookOutcome:
    """Verify, record and apply one delivery of the provider's webhook
    (``ip``: where it came from, ``casino.http.client_ip``).

    Every delivery is stored (a refused one with its body capped, and none
    past the refusals limit of its address: 429). A bad signature, a stale
    timestamp, an unknown order or a mismatched amount or merchant reference
    is refused with its own code, recorded, and changes nothing. A webhook id
    seen before (verified) is acknowledged without effect.
    """
    provider = get_provider(provider_name)
    now = timezone.now()
    external_id = str(headers.get("webhook-id", ""))[:128]
    try:
        payload = _verified_payload(secrets=provider.webhook_secrets(), headers=headers, body=body)
    except WebhookRejected as error:
        _record_refusal(provider_name=provider.name, external_id=external_id, error=error, body=body, ip=ip, now=now)
        raise
    event = WebhookEvent(
        provider=provider.name,
        external_id=external_id,
        event_type=str(payload.get("type", ""))[:64],
        status=WebhookStatus.RECEIVED,
        payload=payload,
        raw_body=_stored_body(body),
        signature_valid=True,
        received_at=now,
    )
    try:
        insert_or_raise(event)
    except IntegrityError:
        first = WebhookEvent.objects.get(provider=provider.name, external_id=external_id, signature_valid=True)
        WebhookEvent.objects.filter(pk=first.pk).update(attempts=F("attempts") + 1)
        return WebhookOutcome(event=first, duplicate=True, result=PaymentOutcome.DUPLICATE)
    return WebhookOutcome(event=event, duplicate=False, result=webhook_process(event=event))


def _apply(event: WebhookEvent) -> tuple[PaymentOutcome, Order | None]:
    """Apply a verified event to its order (the buyer's and the order's rows
    locked, in that order); in the caller's transaction."""
    state = _EVENT_STATES.get(event.event_type)
    if state is None:
        return PaymentOutcome.IGNORED, None
    data = event.payload.get("data", {})
    reference = str(data.get("reference", ""))
    order = order_and_buyer_lock_by_reference(provider=event.provider, reference=reference) if reference else None
    if order is None:
        raise WebhookUnknownOrder()
    amount, currency = data.get("amount"), data.get("currency")
    if not isinstance(amount, int) or not isinstance(currency, str):
        raise WebhookPayloadInvalid("Amount or currency missing.")
    merchant_reference = data.get("merchant_reference")
    result = order_apply_payment(
        order=order,
        state=state,
        amount=amount,
        currency=currency,
        merchant_reference=merchant_reference if isinstance(merchant_reference, str) else "",
        source="webhook",
    )
    return result, order


def webhook_process(*, event: WebhookEvent, actor: User | None = None) -> PaymentOutcome:
    """Apply a stored, verified webhook (also the admin's "re-process", audited
    with ``actor``, who needs ``shop.reprocess_webhook``). A refusal is
    recorded on the event and raised."""
    if actor is not None:
        staff_permission_require(actor=actor, permission="shop.reprocess_webhook")
    try:
        with service_transaction():
            result, order = _apply(event)
            outcome = {
                "status": WebhookStatus.IGNORED if result in _NO_EFFECT else WebhookStatus.PROCESSED,
                "order": order,
                "processed_at": timezone.now(),
                "error_code": "",
                "last_error": "",
            }
            # Only these columns, with the transaction's last statement (nothing here reads the event again).
            row_update_later(WebhookEvent(pk=event.pk, **outcome), list(outcome))
            if actor is not None:
                audit_record(
                    actor=actor,
                    action="webhook_reprocess",
                    target=event,
                    reason="re-processed from the admin",
                    data={"result": result.value},
                )
    except WebhookRejected as exc:
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookStatus.FAILED, error_code=exc.code, last_error=exc.message, processed_at=timezone.now()
        )
        raise
    for name, value in outcome.items():
        setattr(event, name, value)
    if result == PaymentOutcome.PAID_NEEDS_REFUND and order is not None:
        # Paid, but not to be fulfilled: give the money back, now that the order says so.
        result = order_payment_refund(order=order)
    return result
