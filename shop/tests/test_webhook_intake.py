"""What the payment webhook does with deliveries it refuses (counted, logged,
stored capped, rate-limited per source address) and with a merchant reference
that is not the order's."""

from __future__ import annotations

import json
import uuid
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from casino.ratelimit import SlidingWindowLimit
from economy.models import Wallet
from economy.tests.factories import player_with_wallet
from shop import services
from shop.exceptions import WebhookMerchantReferenceMismatch
from shop.models import Order, OrderStatus, SandboxPayment, SandboxPaymentStatus, WebhookEvent, WebhookStatus
from shop.providers.sandbox import WebhookEventType, webhook_payload
from shop.tests.factories import MoneyProductFactory
from shop.webhooks import signature_headers

pytestmark = pytest.mark.django_db
WEBHOOK = "/api/shop/webhook/payment"


def paid_order(player: Any = None) -> Order:
    order = services.shop_buy(
        user=player or player_with_wallet(),
        idempotency_key=str(uuid.uuid4()),
        product_sku=MoneyProductFactory(grants={"gems": 100}).sku,
    ).order
    SandboxPayment.objects.filter(reference=order.provider_reference).update(status=SandboxPaymentStatus.APPROVED)
    return order


def signed(order: Order, **data: Any) -> tuple[bytes, dict[str, str]]:
    payload = webhook_payload(
        event_type=WebhookEventType.SUCCEEDED, payment=SandboxPayment.objects.get(reference=order.provider_reference)
    )
    payload["data"].update(data)
    body = json.dumps(payload).encode()
    headers = signature_headers(
        secrets=list(settings.SHOP_WEBHOOK_SECRETS[:1]),
        msg_id=f"msg_{uuid.uuid4().hex}",
        timestamp=int(timezone.now().timestamp()),
        body=body,
    )
    return body, headers


def post(body: bytes, headers: dict[str, str], *, ip: str) -> Any:
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    return APIClient().post(WEBHOOK, data=body, content_type="application/json", REMOTE_ADDR=ip, **extra)


def forged(size: int = 100) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": "payment.succeeded", "data": {"pad": "x" * size}}).encode()
    headers = {"webhook-id": f"msg_{uuid.uuid4().hex}", "webhook-timestamp": str(int(timezone.now().timestamp()))}
    headers["webhook-signature"] = "v1,Zm9yZ2VkLXNpZ25hdHVyZS1ub3QtYS1yZWFsLW9uZQ=="
    return body, headers


@pytest.fixture
def source_ip() -> Any:
    """A fresh source address, its refusal counter empty."""
    ip = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    SlidingWindowLimit(f"shop-webhook-refused:{ip}", limit=1, window=timezone.timedelta(minutes=1)).reset()
    yield ip
    SlidingWindowLimit(f"shop-webhook-refused:{ip}", limit=1, window=timezone.timedelta(minutes=1)).reset()


def refusals_counted(reason: str) -> float:
    return REGISTRY.get_sample_value("webhook_verification_failures_total", {"reason": reason}) or 0.0


# --- refused deliveries: counted, logged, stored capped ----------------------------------------


def test_a_wrongly_signed_delivery_is_counted_logged_and_stored_only_up_to_the_cap(
    settings: Any, source_ip: str, caplog: Any
) -> None:
    # Given a cap of 1 KiB on what is kept of a refused body
    settings.SHOP_WEBHOOK_STORED_BODY_MAX_BYTES = 1024
    body, headers = forged(size=50_000)
    before = refusals_counted("webhook_signature_invalid")

    # When a 50 KB body arrives with a signature that matches no secret
    response = post(body, headers, ip=source_ip)

    # Then it is refused, counted and logged with its source and size
    assert (response.status_code, response.json()["error"]) == (400, "webhook_signature_invalid")
    assert refusals_counted("webhook_signature_invalid") == before + 1
    assert any(
        source_ip in record.getMessage() and "webhook_signature_invalid" in record.getMessage()
        for record in caplog.records
    )
    # And only the first KiB of its body is stored, with what was left out said
    event = WebhookEvent.objects.get()
    assert (event.status, event.signature_valid) == (WebhookStatus.FAILED, False)
    assert len(event.raw_body.encode()) <= 1024
    assert f"{len(body)} bytes, first 1024 kept" in event.last_error
    assert source_ip in event.last_error


def test_refused_deliveries_from_one_address_beyond_the_limit_get_429_and_are_not_stored(
    settings: Any, source_ip: str
) -> None:
    # Given at most 3 refused deliveries per address per minute
    settings.SHOP_WEBHOOK_REFUSED_PER_IP_PER_MINUTE = 3

    # When one address sends 5 forged deliveries
    responses = [post(*forged(), ip=source_ip) for _ in range(5)]

    # Then the first 3 are refused and stored, the next 2 get 429 in the error envelope and are not stored
    assert [r.status_code for r in responses] == [400, 400, 400, 429, 429]
    limited = responses[-1].json()
    assert limited["error"] == "webhook_rate_limited"
    assert limited["retry_after_seconds"] >= 1
    assert WebhookEvent.objects.count() == 3


def test_the_refusals_limit_never_blocks_a_correctly_signed_delivery_nor_another_address(
    settings: Any, source_ip: str
) -> None:
    # Given an address over its refusals limit
    settings.SHOP_WEBHOOK_REFUSED_PER_IP_PER_MINUTE = 1
    post(*forged(), ip=source_ip)
    assert post(*forged(), ip=source_ip).status_code == 429
    order = paid_order()

    # When the provider's correctly signed delivery comes from the same address, and a forged one from another
    genuine = post(*signed(order), ip=source_ip)
    other_address = post(*forged(), ip="192.0.2.77")

    # Then the genuine one is applied and the other address is only refused (400), not limited
    assert genuine.status_code == 200, genuine.json()
    assert genuine.json()["result"] == "fulfilled"
    assert other_address.status_code == 400
    SlidingWindowLimit("shop-webhook-refused:192.0.2.77", limit=1, window=timezone.timedelta(minutes=1)).reset()


def test_when_the_counters_store_is_down_refusals_are_still_stored(settings: Any, source_ip: str) -> None:
    # Given a limit of 1 and a counters' store that does not answer
    settings.SHOP_WEBHOOK_REFUSED_PER_IP_PER_MINUTE = 1
    with mock.patch.object(SlidingWindowLimit, "hit", side_effect=ConnectionError("redis down")):
        # When two forged deliveries arrive
        responses = [post(*forged(), ip=source_ip) for _ in range(2)]

    # Then the limit fails open: both are refused with their own code and stored
    assert [r.status_code for r in responses] == [400, 400]
    assert WebhookEvent.objects.count() == 2


# --- the merchant reference ------------------------------------------------------------------


@pytest.mark.parametrize(
    "merchant_reference", [pytest.param("R000000OTHER", id="another-receipt"), pytest.param(None, id="missing")]
)
def test_a_payment_whose_merchant_reference_is_not_the_orders_receipt_is_refused_and_recorded(
    merchant_reference: str | None, source_ip: str
) -> None:
    # Given a paid order, and a signed success naming its payment but another (or no) merchant reference
    player = player_with_wallet()
    order = paid_order(player)
    body, headers = signed(order, merchant_reference=merchant_reference)

    # When it is delivered
    response = post(body, headers, ip=source_ip)

    # Then it is refused with its own code, recorded on the delivery, and nothing is granted
    assert (response.status_code, response.json()["error"]) == (400, "webhook_merchant_reference_mismatch")
    assert response.json()["expected"] == order.receipt_code
    event = WebhookEvent.objects.get(signature_valid=True)
    assert (event.status, event.error_code) == (WebhookStatus.FAILED, "webhook_merchant_reference_mismatch")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING
    assert Wallet.objects.get(pk=player.pk).gems == 0


def test_settlement_refuses_a_payment_the_provider_keeps_under_another_merchant_reference() -> None:
    # Given a paid order whose payment the provider files under another receipt code
    order = paid_order()
    SandboxPayment.objects.filter(reference=order.provider_reference).update(merchant_reference="R000000OTHER")

    # When it is settled, then it is refused and changes nothing
    with pytest.raises(WebhookMerchantReferenceMismatch):
        services.order_settle(order=order)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING
