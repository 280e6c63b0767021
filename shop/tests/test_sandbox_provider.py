"""The sandbox payment provider: its checkout pages, its books and its signed
webhook deliveries (received here by a small HTTP server in a thread, standing
in for our webhook endpoint)."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import pytest
import time_machine
from celery.exceptions import Retry
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path
from django.utils import timezone

from casino.celery import app as celery_app
from shop.exceptions import WebhookRejected
from shop.models import SandboxPayment, SandboxPaymentStatus
from shop.providers import PROVIDERS, get_provider
from shop.providers.base import PaymentState
from shop.providers.sandbox import (
    SandboxPaymentAlreadyDecided,
    SandboxPaymentNotFound,
    SandboxProvider,
    SandboxRefundRefused,
    sandbox_decide,
)
from shop.providers.sandbox_tasks import MAX_RETRIES, WEBHOOK_PATH, deliver_webhook, retry_countdown
from shop.webhooks import verify

# The pages are tested through the same include casino/urls.py mounts, so these
# tests do not depend on that wiring.
urlpatterns = [path("sandbox/", include("shop.sandbox_urls"))]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

NEW_SECRET = "whsec_bmV3LXNhbmRib3gta2V5LTAxMjM0NTY3ODlhYmNkZWY="
OLD_SECRET = "whsec_b2xkLXNhbmRib3gta2V5LTAxMjM0NTY3ODlhYmNkZWY="
TOLERANCE = 300


# --- a webhook receiver ------------------------------------------------------------


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (then 200) and keeps what it got."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)
    on_request: Callable[[ReceivedRequest], None] | None = None

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(request.body) for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = ReceivedRequest(
                path=self.path,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=body,
                received_at=timezone.now(),
            )
            state.requests.append(request)
            if state.on_request:
                state.on_request(request)
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def sandbox(settings: Any, receiver: Receiver) -> SandboxProvider:
    """The sandbox provider delivering (eagerly, as in embedded mode) to ``receiver``."""
    settings.PUBLIC_BASE_URL = receiver.url
    settings.SHOP_WEBHOOK_SECRETS = [NEW_SECRET, OLD_SECRET]
    settings.CELERY_TASK_ALWAYS_EAGER = True  # Celery reads it through from Django settings
    assert celery_app.conf.task_always_eager
    return SandboxProvider()


def _open_payment(sandbox: SandboxProvider, *, amount: int = 1999, currency: str = "USD") -> str:
    return sandbox.create_payment(
        merchant_reference="RC-TEST-0001", amount=amount, currency=currency, description="Gold pack"
    ).reference


def _checkout_path(reference: str) -> str:
    return f"/sandbox/checkout/{reference}"


def _assert_verifies(request: ReceivedRequest, *, secrets: list[str] | None = None) -> str:
    verified = verify(
        secrets=secrets or [NEW_SECRET, OLD_SECRET],
        headers=request.headers,
        body=request.body,
        now=request.received_at,
        tolerance_seconds=TOLERANCE,
    )
    return verified.msg_id


# --- provider --------------------------------------------------------------------


def test_get_provider_defaults_to_the_configured_provider(settings: Any) -> None:
    settings.SHOP_PAYMENT_PROVIDER = "sandbox"
    assert isinstance(get_provider(), SandboxProvider)
    assert set(PROVIDERS) == {"sandbox"}
    with pytest.raises(ImproperlyConfigured):
        get_provider("nope")


def test_create_payment_opens_a_payment_with_its_checkout_url(sandbox: SandboxProvider, settings: Any) -> None:
    # when
    intent = sandbox.create_payment(merchant_reference="RC-1", amount=1999, currency="usd", description="Gold")

    # then
    payment = SandboxPayment.objects.get(reference=intent.reference)
    assert intent.reference.startswith("sbx_")
    assert intent.checkout_url == f"{settings.PUBLIC_BASE_URL}/sandbox/checkout/{intent.reference}"
    assert (payment.status, payment.amount, payment.currency, payment.merchant_reference) == (
        SandboxPaymentStatus.CREATED,
        1999,
        "USD",
        "RC-1",
    )
    assert sandbox.fetch_status(reference=intent.reference).state == PaymentState.PENDING


def test_create_payment_refuses_a_non_positive_amount(sandbox: SandboxProvider) -> None:
    with pytest.raises(ValueError, match="positive"):
        sandbox.create_payment(merchant_reference="RC-1", amount=0, currency="USD", description="")


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (SandboxPaymentStatus.CREATED, PaymentState.PENDING),
        (SandboxPaymentStatus.APPROVED, PaymentState.SUCCEEDED),
        (SandboxPaymentStatus.DECLINED, PaymentState.FAILED),
        (SandboxPaymentStatus.REFUNDED, PaymentState.REFUNDED),
    ],
)
def test_fetch_status_maps_sandbox_status_to_payment_state(sandbox: SandboxProvider, status: str, state: str) -> None:
    # given a payment in that status
    reference = _open_payment(sandbox, amount=500, currency="EUR")
    SandboxPayment.objects.filter(reference=reference).update(status=status)

    # when
    fetched = sandbox.fetch_status(reference=reference)

    # then
    assert (fetched.reference, fetched.state, fetched.amount, fetched.currency) == (reference, state, 500, "EUR")


def test_fetch_status_of_an_unknown_payment_is_a_provider_error(sandbox: SandboxProvider) -> None:
    with pytest.raises(SandboxPaymentNotFound) as caught:
        sandbox.fetch_status(reference="sbx_missing")
    assert caught.value.code == "payment_not_found"


# --- checkout page and decisions ---------------------------------------------------------


def test_checkout_page_shows_amount_currency_and_merchant_reference(sandbox: SandboxProvider) -> None:
    reference = _open_payment(sandbox, amount=1999)

    response = Client().get(_checkout_path(reference))

    assert response.status_code == 200
    html = response.content.decode()
    assert "19.99 USD" in html
    assert "RC-TEST-0001" in html
    assert f'action="/sandbox/checkout/{reference}/approve"' in html
    assert f'action="/sandbox/checkout/{reference}/decline"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_checkout_page_of_an_unknown_payment_is_404(sandbox: SandboxProvider) -> None:
    response = Client().get(_checkout_path("sbx_missing"))
    assert response.status_code == 404
    assert "No such payment." in response.content.decode()


def test_approve_on_checkout_page_approves_and_delivers_a_signed_succeeded_webhook(
    sandbox: SandboxProvider, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given a payer on the checkout page (CSRF enforced, as in a browser)
    reference = _open_payment(sandbox, amount=1999)
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(_checkout_path(reference)).content.decode()
    csrf_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    # when they press Approve
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = browser.post(f"{_checkout_path(reference)}/approve", {"csrfmiddlewaretoken": csrf_token})

    # then the payment is approved and the page says so
    assert response.status_code == 303
    assert response["Location"] == _checkout_path(reference)
    assert "Payment approved" in browser.get(response["Location"]).content.decode()
    payment = SandboxPayment.objects.get(reference=reference)
    assert payment.status == SandboxPaymentStatus.APPROVED
    assert payment.payment_instrument == "card_sandbox_4242"
    assert sandbox.fetch_status(reference=reference).state == PaymentState.SUCCEEDED

    # and one signed payment.succeeded webhook reached the endpoint, after commit
    assert len(callbacks) == 1
    assert len(receiver.requests) == 1
    delivery = receiver.requests[0]
    assert delivery.path == WEBHOOK_PATH
    assert delivery.headers["content-type"] == "application/json"
    assert _assert_verifies(delivery).startswith("msg_")
    event = json.loads(delivery.body)
    assert event["type"] == "payment.succeeded"
    assert event["data"] == {
        "reference": reference,
        "merchant_reference": "RC-TEST-0001",
        "amount": 1999,
        "currency": "USD",
        "payment_instrument": "card_sandbox_4242",
    }


def test_webhook_is_signed_with_the_newest_secret(
    sandbox: SandboxProvider, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    reference = _open_payment(sandbox)
    with django_capture_on_commit_callbacks(execute=True):
        sandbox_decide(reference=reference, approve=True)

    (delivery,) = receiver.requests
    assert _assert_verifies(delivery, secrets=[NEW_SECRET])
    with pytest.raises(WebhookRejected, match="signature"):
        _assert_verifies(delivery, secrets=[OLD_SECRET])


def test_approve_without_csrf_token_is_refused(sandbox: SandboxProvider, receiver: Receiver) -> None:
    reference = _open_payment(sandbox)

    response = Client(enforce_csrf_checks=True).post(f"{_checkout_path(reference)}/approve")

    assert response.status_code == 403
    assert SandboxPayment.objects.get(reference=reference).status == SandboxPaymentStatus.CREATED
    assert receiver.requests == []


def test_checkout_decisions_accept_only_post(sandbox: SandboxProvider) -> None:
    reference = _open_payment(sandbox)
    assert Client().get(f"{_checkout_path(reference)}/approve").status_code == 405
    assert SandboxPayment.objects.get(reference=reference).status == SandboxPaymentStatus.CREATED


def test_decline_on_checkout_page_delivers_a_failed_webhook(
    sandbox: SandboxProvider, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    reference = _open_payment(sandbox)

    with django_capture_on_commit_callbacks(execute=True):
        response = Client().post(f"{_checkout_path(reference)}/decline")

    assert response.status_code == 303
    assert "Payment declined" in Client().get(response["Location"]).content.decode()
    assert SandboxPayment.objects.get(reference=reference).status == SandboxPaymentStatus.DECLINED
    assert sandbox.fetch_status(reference=reference).state == PaymentState.FAILED
    assert [event["type"] for event in receiver.events()] == ["payment.failed"]
    _assert_verifies(receiver.requests[0])


def test_second_decision_is_refused_and_sends_nothing(
    sandbox: SandboxProvider, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given an approved payment
    reference = _open_payment(sandbox)
    with django_capture_on_commit_callbacks(execute=True):
        sandbox_decide(reference=reference, approve=True)

    # when it is decided again, by the service or on the page
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(SandboxPaymentAlreadyDecided) as caught:
            sandbox_decide(reference=reference, approve=False)
        page = Client().post(f"{_checkout_path(reference)}/approve")

    # then it stays approved, nothing else is sent, and the page explains why
    assert caught.value.code == "sandbox_payment_already_decided"
    assert caught.value.status == 409
    assert page.status_code == 409
    assert "already approved" in page.content.decode()
    assert callbacks == []
    assert SandboxPayment.objects.get(reference=reference).status == SandboxPaymentStatus.APPROVED
    assert [event["type"] for event in receiver.events()] == ["payment.succeeded"]


def test_decision_on_an_unknown_payment_is_not_found(sandbox: SandboxProvider) -> None:
    with pytest.raises(SandboxPaymentNotFound):
        sandbox_decide(reference="sbx_missing", approve=True)
    assert Client().post(_checkout_path("sbx_missing") + "/approve").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_decide_once(
    sandbox: SandboxProvider, parallel: Callable[[int, Callable[[int], Any]], list[Any]]
) -> None:
    # given a payment that two tabs approve and decline at the same moment
    reference = _open_payment(sandbox)
    with mock.patch("shop.providers.sandbox.deliver_webhook") as task:
        # when
        results = parallel(2, lambda index: sandbox_decide(reference=reference, approve=index == 0))

    # then exactly one wins, and only its webhook is scheduled
    winners = [result for result in results if isinstance(result, SandboxPayment)]
    losers = [result for result in results if isinstance(result, SandboxPaymentAlreadyDecided)]
    assert (len(winners), len(losers)) == (1, 1)
    assert SandboxPayment.objects.get(reference=reference).status == winners[0].status
    assert task.delay.call_count == 1


# --- refunds -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [SandboxPaymentStatus.CREATED, SandboxPaymentStatus.DECLINED])
def test_refund_is_refused_unless_the_payment_was_approved(
    sandbox: SandboxProvider, receiver: Receiver, status: str, django_capture_on_commit_callbacks: Any
) -> None:
    reference = _open_payment(sandbox)
    SandboxPayment.objects.filter(reference=reference).update(status=status)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(SandboxRefundRefused) as caught:
        sandbox.refund(reference=reference, amount=1999)

    assert caught.value.code == "payment_refund_refused"
    payment = SandboxPayment.objects.get(reference=reference)
    assert (payment.status, payment.refunded_amount) == (status, 0)
    assert receiver.requests == []


def test_refund_of_an_approved_payment_records_it_and_delivers_a_refunded_webhook(
    sandbox: SandboxProvider, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given an approved payment
    reference = _open_payment(sandbox, amount=1999)
    with django_capture_on_commit_callbacks(execute=True):
        sandbox_decide(reference=reference, approve=True)

    # when more than paid is asked, nothing happens; then the full amount is refunded
    with pytest.raises(SandboxRefundRefused):
        sandbox.refund(reference=reference, amount=2000)
    with django_capture_on_commit_callbacks(execute=True):
        refunded = sandbox.refund(reference=reference, amount=1999)

    # then
    assert refunded.state == PaymentState.REFUNDED
    payment = SandboxPayment.objects.get(reference=reference)
    assert (payment.status, payment.refunded_amount) == (SandboxPaymentStatus.REFUNDED, 1999)
    assert [event["type"] for event in receiver.events()] == ["payment.succeeded", "payment.refunded"]
    assert receiver.events()[1]["data"]["refunded_amount"] == 1999
    assert len({_assert_verifies(request) for request in receiver.requests}) == 2  # a fresh id per event
    # and a second refund is refused
    with pytest.raises(SandboxRefundRefused):
        sandbox.refund(reference=reference, amount=1)


def test_sandbox_provider_never_touches_orders(
    sandbox: SandboxProvider, django_capture_on_commit_callbacks: Any
) -> None:
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        reference = _open_payment(sandbox)
        sandbox_decide(reference=reference, approve=True)
        sandbox.fetch_status(reference=reference)
        sandbox.refund(reference=reference, amount=1)
    assert queries.captured_queries
    assert not [query for query in queries.captured_queries if "shop_order" in query["sql"]]


# --- delivery retries ----------------------------------------------------------------------


def test_retry_countdown_backs_off_exponentially_up_to_five_minutes() -> None:
    assert [retry_countdown(retries) for retries in range(10)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]


def test_failed_delivery_is_retried_with_the_same_id_and_a_fresh_timestamp_and_signature(
    sandbox: SandboxProvider, receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    # given an endpoint that fails the first attempt; the retry comes two minutes
    # later (eager mode retries at once, so the receiver moves the clock)
    receiver.statuses = [500]
    reference = _open_payment(sandbox)

    with time_machine.travel(datetime(2025, 3, 1, 12, 0, tzinfo=UTC)) as clock:

        def two_minutes_pass_after_the_first_attempt(request: ReceivedRequest) -> None:
            if len(receiver.requests) == 1:
                clock.shift(120)

        receiver.on_request = two_minutes_pass_after_the_first_attempt
        # when the payment is approved
        with django_capture_on_commit_callbacks(execute=True):
            sandbox_decide(reference=reference, approve=True)

    # then two attempts: the same event and body, each stamped and signed for its own moment
    first, second = receiver.requests
    assert _assert_verifies(first) == _assert_verifies(second)
    assert first.body == second.body
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 120
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]


@pytest.fixture
def as_worker() -> Iterator[Callable[..., dict[str, Any]]]:
    """Run ``deliver_webhook`` as a worker would for its n-th retry, catching
    what ``self.retry`` would publish instead of sending it to the broker."""
    task = celery_app.tasks["shop.sandbox.deliver_webhook"]

    def run(*, retries: int, msg_id: str = "msg_worker", body: str = "{}") -> dict[str, Any]:
        kwargs = {"msg_id": msg_id, "body": body}
        task.push_request(
            id=f"task-{retries}", args=[], kwargs=kwargs, retries=retries, called_directly=False, delivery_info={}
        )
        try:
            return task.run(msg_id=msg_id, body=body)
        finally:
            task.pop_request()

    with mock.patch("celery.canvas.Signature.apply_async", autospec=True) as publish:
        run.publish = publish  # type: ignore[attr-defined]
        yield run


def test_worker_retries_a_failed_delivery_with_exponential_backoff(
    sandbox: SandboxProvider, receiver: Receiver, as_worker: Any
) -> None:
    # given an endpoint answering 500 to the fourth attempt (third retry)
    receiver.statuses = [500]

    # when the worker runs it
    with pytest.raises(Retry) as caught:
        as_worker(retries=3)

    # then the same event is published again, for 2**3 seconds later
    assert caught.value.when == 8
    as_worker.publish.assert_called_once()
    (next_attempt,) = as_worker.publish.call_args.args
    assert next_attempt.kwargs == {"msg_id": "msg_worker", "body": "{}"}
    assert (next_attempt.options["countdown"], next_attempt.options["retries"]) == (8, 4)
    # and that next attempt, now answered 200, is delivered
    assert as_worker(retries=4)["delivered"] is True
    assert len(receiver.requests) == 2


def test_worker_gives_up_after_the_last_retry(sandbox: SandboxProvider, receiver: Receiver, as_worker: Any) -> None:
    receiver.statuses = [500]

    outcome = as_worker(retries=MAX_RETRIES)

    assert outcome == {
        "msg_id": "msg_worker",
        "delivered": False,
        "attempts": 1 + MAX_RETRIES,
        "status_code": 500,
        "error": "HTTP 500",
    }
    as_worker.publish.assert_not_called()


def test_delivery_gives_up_after_max_retries_without_failing_the_decision(
    sandbox: SandboxProvider, receiver: Receiver, django_capture_on_commit_callbacks: Any, caplog: Any
) -> None:
    # given an endpoint that always fails
    receiver.statuses = [503] * 50
    reference = _open_payment(sandbox)

    # when the payment is approved
    with django_capture_on_commit_callbacks(execute=True):
        payment = sandbox_decide(reference=reference, approve=True)

    # then the decision stands; 1 + MAX_RETRIES attempts were made, then it was logged as given up
    assert payment.status == SandboxPaymentStatus.APPROVED
    assert len(receiver.requests) == 1 + MAX_RETRIES
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1
    assert any("given up" in record.getMessage() for record in caplog.records)


def test_unreachable_endpoint_is_retried_then_given_up(settings: Any, sandbox: SandboxProvider) -> None:
    # given nothing listening at the webhook address
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{_unused_port()}"

    # when
    outcome = deliver_webhook.apply(kwargs={"msg_id": "msg_unreachable", "body": "{}"}).get()

    # then
    assert outcome["delivered"] is False
    assert outcome["attempts"] == 1 + MAX_RETRIES
    assert "ConnectError" in outcome["error"]


def _unused_port() -> int:
    """A local port with nothing listening (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
