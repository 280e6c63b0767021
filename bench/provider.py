"""The sandbox payment provider, played by the bench. Import it after
``django.setup()`` (bench.settings): it signs with the run's webhook secret and
builds payloads with the provider's own helpers."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace
from typing import Any

import gevent.lock
from django.conf import settings

from shop.providers.sandbox import WebhookEventType, webhook_payload
from shop.webhooks import signature_headers

PROVIDER_IP = "192.0.2.10"  # TEST-NET-1: the payment provider's address as the balancer sees it


class Provider:
    """Approves a sandbox payment in the provider's own book (the conditional
    UPDATE of ``sandbox_decide``, without its Celery delivery) and builds the
    signed ``payment.succeeded`` webhook with the project's own helpers. One
    connection for the whole process, used by one greenlet at a time."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: Any = None
        self.lock = gevent.lock.BoundedSemaphore()

    def approve(self, reference: str, instrument: str) -> SimpleNamespace | None:
        import psycopg

        with self.lock:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.dsn, autocommit=True)
            row = self.conn.execute(
                "UPDATE shop_sandboxpayment SET status = 'approved', payment_instrument = %s, updated_at = now() "
                "WHERE reference = %s AND status = 'created' "
                "RETURNING reference, merchant_reference, amount, currency, payment_instrument, refunded_amount, "
                "updated_at",
                [instrument, reference],
            ).fetchone()
        if row is None:
            return None
        keys = ("reference", "merchant_reference", "amount", "currency", "payment_instrument", "refunded_amount")
        return SimpleNamespace(**dict(zip(keys, row[:6], strict=True)), updated_at=row[6])

    @staticmethod
    def delivery(payment: SimpleNamespace, msg_id: str | None = None) -> tuple[str, bytes, dict[str, str]]:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        payload = webhook_payload(event_type=WebhookEventType.SUCCEEDED, payment=payment)  # type: ignore[arg-type]
        body = json.dumps(payload, separators=(",", ":")).encode()
        return msg_id, body, Provider.sign(msg_id, body)

    @staticmethod
    def sign(msg_id: str, body: bytes) -> dict[str, str]:
        headers = signature_headers(
            secrets=list(settings.SHOP_WEBHOOK_SECRETS[:1]), msg_id=msg_id, timestamp=int(time.time()), body=body
        )
        headers.update({"Content-Type": "application/json", "X-Forwarded-For": PROVIDER_IP})
        return headers
