"""Helpers of the shop's thread tests: a step run in the background, waiting
until a step queues behind a row lock, a signed payment webhook ready to send."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from shop import services
from shop.models import Order, SandboxPayment, SandboxPaymentStatus
from shop.providers.sandbox import WebhookEventType, webhook_payload
from shop.webhooks import signature_headers

WAIT_SECONDS = 10


class Background:
    """``call()`` in a thread that closes its database connection; its result or exception kept."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = call()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                self.error = exc
            finally:
                connection.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def finished_within(self, seconds: float = WAIT_SECONDS) -> bool:
        self.thread.join(timeout=seconds)
        return not self.thread.is_alive()


def wait_until_someone_waits_for_a_row_lock() -> None:
    """Return once another session of this database waits for a lock: the
    competing step really is queued behind the one holding the row."""
    deadline = time.monotonic() + WAIT_SECONDS
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction PostgreSQL answers from a snapshot of the activity: drop it first.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    pytest.fail("the competing step never waited for the row")


def paid_webhook(order: Order) -> Callable[[], services.WebhookOutcome]:
    """Approve ``order``'s payment at the sandbox; the returned call delivers
    its signed ``payment.succeeded`` webhook."""
    SandboxPayment.objects.filter(reference=order.provider_reference).update(status=SandboxPaymentStatus.APPROVED)
    payment = SandboxPayment.objects.get(reference=order.provider_reference)
    body = json.dumps(webhook_payload(event_type=WebhookEventType.SUCCEEDED, payment=payment)).encode()
    headers = signature_headers(
        secrets=settings.SHOP_WEBHOOK_SECRETS[:1],
        msg_id=f"msg_{uuid.uuid4().hex}",
        timestamp=int(timezone.now().timestamp()),
        body=body,
    )
    return lambda: services.payment_webhook_receive(headers=headers, body=body)
