"""The payment provider's webhook: verify, record, apply.

Exactly once: every delivery is stored first; a verified delivery claims its
webhook id through a partial unique index (verified rows only, so a forged
request cannot burn a real id), and the loser of a race between duplicates
only counts an attempt. The winner applies the event in one transaction with
the order row locked, so a webhook and a settlement of the same order apply
one after the other, the second seeing the first's result.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from casino.db import insert_or_raise
from casino.services import audit_record
from shop import metrics
from shop.enums import PaymentOutcome
from shop.exceptions import WebhookPayloadInvalid, WebhookRejected, WebhookUnknownOrder
from shop.locks import orders_qs_select_for_update
from shop.models import Order, WebhookEvent, WebhookStatus
from shop.providers import get_provider
from shop.providers.base import PaymentState
from shop.services.order_state import order_apply_payment
from shop.webhooks import verify

RAW_BODY_KEPT = 20_000  # characters of a delivery's body stored for staff

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


def payment_webhook_receive(
    *, headers: Mapping[str, str], body: bytes, provider_name: str | None = None
) -> WebhookOutcome:
    """Verify, record and apply one delivery of the provider's webhook.

    Every delivery is stored. A bad signature, a stale timestamp, an unknown
    order or a mismatched amount is refused with its own code, recorded, and
    changes nothing. A webhook id seen before (verified) is acknowledged
    without effect.
    """
    provider = get_provider(provider_name)
    now = timezone.now()
    external_id = str(headers.get("webhook-id", ""))[:128]
    raw = body.decode("utf-8", errors="replace")
    try:
        payload = _verified_payload(secrets=provider.webhook_secrets(), headers=headers, body=body)
    except WebhookRejected as error:
        metrics.webhook_verification_failures.labels(reason=error.code).inc()
        WebhookEvent.objects.create(
            provider=provider.name,
            external_id=external_id,
            status=WebhookStatus.FAILED,
            error_code=error.code,
            last_error=error.message,
            raw_body=raw[:RAW_BODY_KEPT],
            signature_valid=isinstance(error, WebhookPayloadInvalid),
            received_at=now,
        )
        raise
    event = WebhookEvent(
        provider=provider.name,
        external_id=external_id,
        event_type=str(payload.get("type", ""))[:64],
        status=WebhookStatus.RECEIVED,
        payload=payload,
        raw_body=raw[:RAW_BODY_KEPT],
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
    """Apply a verified event to its order (locked); in the caller's transaction."""
    state = _EVENT_STATES.get(event.event_type)
    if state is None:
        return PaymentOutcome.IGNORED, None
    data = event.payload.get("data", {})
    order = (
        orders_qs_select_for_update()
        .filter(provider=event.provider, provider_reference=str(data.get("reference", "")))
        .exclude(provider_reference="")
        .first()
    )
    if order is None:
        raise WebhookUnknownOrder()
    amount, currency = data.get("amount"), data.get("currency")
    if not isinstance(amount, int) or not isinstance(currency, str):
        raise WebhookPayloadInvalid("Amount or currency missing.")
    return order_apply_payment(order=order, state=state, amount=amount, currency=currency, source="webhook"), order


def webhook_process(*, event: WebhookEvent, actor: User | None = None) -> PaymentOutcome:
    """Apply a stored, verified webhook (also the admin's "re-process", audited
    with ``actor``). A refusal is recorded on the event and raised."""
    try:
        with transaction.atomic(durable=True):
            result, order = _apply(event)
            outcome = {
                "status": WebhookStatus.IGNORED if result in _NO_EFFECT else WebhookStatus.PROCESSED,
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
                    data={"result": result.value},
                )
    except WebhookRejected as exc:
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=WebhookStatus.FAILED, error_code=exc.code, last_error=exc.message, processed_at=timezone.now()
        )
        raise
    for name, value in outcome.items():
        setattr(event, name, value)
    return result
