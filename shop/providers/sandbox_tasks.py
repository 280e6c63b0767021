"""The sandbox provider's webhook sender, run by Celery.

Each event keeps its ``webhook-id`` and body on every attempt; the timestamp
and signature are made fresh per attempt, as Standard Webhooks senders do, so
an attempt made minutes after the event still falls inside the receiver's
tolerance window. Failed attempts (connection errors, timeouts, any non-2xx
answer) are retried with exponential backoff; after the last retry the event
is logged as undelivered and dropped (the order flow's reconciliation polls
``fetch_status`` for payments whose webhook never arrived).

Embedded mode runs Celery eagerly: the delivery then happens inline, inside the
request that decided the payment, as an HTTP call back to this same server.
That works because (1) the decision schedules the delivery with
``transaction.on_commit`` — the SQLite write lock is released before the call —
and (2) the development server (``manage.py runserver`` with daphne installed)
is ASGI and serves every request in its own thread, so the webhook request is
handled while the decision request waits for it. Eager retries run back to
back (see :func:`_deliver_inline`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from shop.webhooks import signature_headers

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/shop/webhook/payment"
DELIVERY_TIMEOUT_SECONDS = 10.0
MAX_RETRIES = 8
MAX_BACKOFF_SECONDS = 300


class WebhookDeliveryFailed(Exception):
    """One attempt failed; carried by Celery's Retry."""


def retry_countdown(retries: int) -> int:
    """Seconds before the next attempt after ``retries`` earlier retries:
    ``min(300, 2 ** retries)`` — 1, 2, 4, ... 128, 256 s; about 8.5 minutes in all."""
    return int(min(MAX_BACKOFF_SECONDS, 2**retries))


def webhook_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + WEBHOOK_PATH


def _client() -> httpx.Client:
    # Redirects are not followed: a 3xx is not a delivery (Standard Webhooks senders treat it as a failure).
    return httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS, follow_redirects=False)


@dataclass(frozen=True)
class DeliveryAttempt:
    delivered: bool
    status_code: int | None = None
    failure: str = ""


def _attempt_delivery(client: httpx.Client, *, msg_id: str, body: str) -> DeliveryAttempt:
    """One POST, stamped and signed now. Signed with the newest secret only
    (the first of ``SHOP_WEBHOOK_SECRETS``): during a rotation the receiver
    accepts either secret, so one signature is enough."""
    payload = body.encode()
    headers = signature_headers(
        secrets=list(settings.SHOP_WEBHOOK_SECRETS[:1]),
        msg_id=msg_id,
        timestamp=int(timezone.now().timestamp()),
        body=payload,
    )
    headers["content-type"] = "application/json"
    headers["user-agent"] = "casino-sandbox-provider/1"
    try:
        response = client.post(webhook_url(), content=payload, headers=headers)
    except httpx.TransportError as exc:  # connection refused, timeouts, protocol errors
        return DeliveryAttempt(delivered=False, failure=f"{type(exc).__name__}: {exc}")
    if response.is_success:
        return DeliveryAttempt(delivered=True, status_code=response.status_code)
    return DeliveryAttempt(delivered=False, status_code=response.status_code, failure=f"HTTP {response.status_code}")


def _outcome(msg_id: str, attempt: int, result: DeliveryAttempt) -> dict[str, Any]:
    if result.delivered:
        logger.info("sandbox webhook %s delivered on attempt %s (HTTP %s)", msg_id, attempt, result.status_code)
    else:
        logger.error(
            "sandbox webhook %s to %s given up after %s attempts: %s", msg_id, webhook_url(), attempt, result.failure
        )
    return {
        "msg_id": msg_id,
        "delivered": result.delivered,
        "attempts": attempt,
        "status_code": result.status_code,
        "error": result.failure,
    }


@shared_task(bind=True, name="shop.sandbox.deliver_webhook", max_retries=MAX_RETRIES, ignore_result=True)
def deliver_webhook(self: Any, *, msg_id: str, body: str) -> dict[str, Any]:
    """POST one event (``body`` is the exact JSON text) to our payment webhook,
    retrying failures; returns the outcome (also logged)."""
    if self.request.is_eager:
        return _deliver_inline(msg_id=msg_id, body=body, max_attempts=1 + self.max_retries)

    attempt = self.request.retries + 1
    with _client() as client:
        result = _attempt_delivery(client, msg_id=msg_id, body=body)
    if result.delivered or self.request.retries >= self.max_retries:
        return _outcome(msg_id, attempt, result)
    countdown = retry_countdown(self.request.retries)
    logger.warning(
        "sandbox webhook %s failed on attempt %s (%s); retrying in %s s", msg_id, attempt, result.failure, countdown
    )
    raise self.retry(countdown=countdown, exc=WebhookDeliveryFailed(result.failure))


def _deliver_inline(*, msg_id: str, body: str, max_attempts: int) -> dict[str, Any]:
    """Eager mode (embedded, no worker): retry at once, in this process.

    ``self.retry()`` cannot be used here. In Celery 5.5 an eager retry raises
    ``Retry`` out of ``.delay()`` when ``task_eager_propagates`` is on (our
    setting), so nothing would be retried; with it off, Celery re-runs inline
    once, ignoring the countdown, and the re-run propagates again. There is no
    worker to wait for anyway, so the attempts run back to back."""
    with _client() as client:
        attempt, result = 1, _attempt_delivery(client, msg_id=msg_id, body=body)
        while not result.delivered and attempt < max_attempts:
            logger.warning(
                "sandbox webhook %s failed on attempt %s (%s); retrying now", msg_id, attempt, result.failure
            )
            attempt, result = attempt + 1, _attempt_delivery(client, msg_id=msg_id, body=body)
    return _outcome(msg_id, attempt, result)
