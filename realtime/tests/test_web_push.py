"""Web Push of notifications, against a push service the test serves on loopback."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy.tests.factories import player_with_wallet
from realtime.management.commands.vapid_keys import vapid_key_pair
from realtime.models import PushSubscription
from shop.tests.factories import GemPriceProductFactory

pytestmark = pytest.mark.django_db
ORIGIN = "http://client.example"
SUBSCRIBE = "/api/notification/push/subscribe"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class PushService:
    url: str = ""
    answers: list[int] = field(default_factory=list)  # status codes to answer, in order; then 201
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def push_service() -> Iterator[PushService]:
    state = PushService()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status = state.answers.pop(0) if state.answers else 201
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def vapid(settings: Any) -> str:
    public, private = vapid_key_pair()
    settings.VAPID_PUBLIC_KEY = public
    settings.VAPID_PRIVATE_KEY = private
    settings.VAPID_SUBJECT = "mailto:ops@casino.example"
    settings.WEB_PUSH_ENDPOINT_HOSTS = ["127.0.0.1"]
    settings.CLIENT_ORIGINS = [ORIGIN]
    settings.CELERY_TASK_ALWAYS_EAGER = True  # Celery reads it through from Django settings
    return public


@dataclass
class Browser:
    """The browser side of a subscription: its ECDH key pair and auth secret."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def keys(self) -> dict[str, str]:
        public = self.key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        return json.loads(plain)


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=0, gems=2000)


def cookie(user: Any) -> APIClient:
    client = APIClient()
    client.cookies["auth_token"] = tokens_issue(user=user).access
    return client


def subscribe(client: APIClient, endpoint: str, browser: Browser) -> Any:
    return client.post(SUBSCRIBE, {"endpoint": endpoint, "keys": browser.keys()}, format="json", HTTP_ORIGIN=ORIGIN)


def buy(user: Any, capture: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    product = GemPriceProductFactory()
    with capture(execute=True):
        response = client.post(
            "/api/shop/buy", {"product_id": product.sku, "quantity": 1}, format="json", HTTP_IDEMPOTENCY_KEY="b1"
        )
    assert response.status_code == 201, response.json()


def test_the_vapid_public_key_is_served_when_configured(vapid: str) -> None:
    response = APIClient().get("/api/notification/push/vapid-public")

    assert response.status_code == 200
    assert response.json() == {"public_key": vapid}


def test_without_vapid_keys_push_is_503_in_the_envelope(settings: Any, player: Any) -> None:
    settings.VAPID_PUBLIC_KEY = settings.VAPID_PRIVATE_KEY = ""
    settings.CLIENT_ORIGINS = [ORIGIN]

    key = APIClient().get("/api/notification/push/vapid-public")
    sub = subscribe(cookie(player), "https://fcm.googleapis.com/fcm/send/abc", Browser())

    assert (key.status_code, key.json()["error"]) == (503, "web_push_not_configured")
    assert (sub.status_code, sub.json()["error"]) == (503, "web_push_not_configured")


def test_subscribing_is_idempotent_on_the_endpoint(vapid: str, player: Any, push_service: PushService) -> None:
    endpoint = f"{push_service.url}/push/one"
    browser = Browser()

    first = subscribe(cookie(player), endpoint, browser)
    second = subscribe(cookie(player), endpoint, browser)

    assert first.status_code == second.status_code == 200, first.json()
    assert PushSubscription.objects.filter(endpoint=endpoint).count() == 1


def test_a_browser_that_changes_hands_belongs_to_its_latest_player(
    vapid: str, player: Any, push_service: PushService
) -> None:
    endpoint = f"{push_service.url}/push/shared"
    other = player_with_wallet(gold=0)
    subscribe(cookie(other), endpoint, Browser())

    subscribe(cookie(player), endpoint, Browser())

    assert PushSubscription.objects.get(endpoint=endpoint).user_id == player.pk


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://10.0.0.5/internal",  # not a listed push service: the server would POST there (SSRF)
        "https://metadata.google.internal/computeMetadata",
        "ftp://127.0.0.1/push",
        "not a url",
    ],
)
def test_an_endpoint_outside_the_push_services_is_refused(vapid: str, player: Any, endpoint: str) -> None:
    response = subscribe(cookie(player), endpoint, Browser())

    assert response.status_code == 400
    assert "endpoint" in response.json()["fields"]
    assert not PushSubscription.objects.exists()


def test_a_cross_site_subscribe_is_refused(vapid: str, player: Any, push_service: PushService) -> None:
    response = cookie(player).post(
        SUBSCRIBE,
        {"endpoint": f"{push_service.url}/push/x", "keys": Browser().keys()},
        format="json",
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"


def test_a_fulfilled_purchase_is_pushed_encrypted_and_signed(
    vapid: str, player: Any, push_service: PushService, django_capture_on_commit_callbacks: Any
) -> None:
    # given a subscribed browser
    browser = Browser()
    assert subscribe(cookie(player), f"{push_service.url}/push/abc", browser).status_code == 200

    # when the player's purchase is fulfilled
    buy(player, django_capture_on_commit_callbacks)

    # then the push service got one POST, encrypted for the browser, VAPID-signed
    [push] = push_service.received
    headers = {name.lower(): value for name, value in push["headers"].items()}
    assert push["path"] == "/push/abc"
    assert headers["content-encoding"] == "aes128gcm"
    assert int(headers["ttl"]) > 0
    assert headers["authorization"].startswith("vapid t=")
    assert f"k={vapid}" in headers["authorization"]
    message = browser.decrypt(push["body"])
    assert message["kind"] == "purchase_fulfilled"
    assert message["title"] == "Purchase complete"
    assert PushSubscription.objects.get().last_success_at is not None


@pytest.mark.parametrize("gone", [404, 410])
def test_a_subscription_the_push_service_says_is_gone_is_removed(
    vapid: str, player: Any, push_service: PushService, django_capture_on_commit_callbacks: Any, gone: int
) -> None:
    subscribe(cookie(player), f"{push_service.url}/push/dead", Browser())
    push_service.answers = [gone]

    buy(player, django_capture_on_commit_callbacks)

    assert len(push_service.received) == 1
    assert not PushSubscription.objects.exists()


def test_a_push_service_error_is_retried(
    vapid: str, player: Any, push_service: PushService, django_capture_on_commit_callbacks: Any
) -> None:
    browser = Browser()
    subscribe(cookie(player), f"{push_service.url}/push/flaky", browser)
    push_service.answers = [503, 500]

    buy(player, django_capture_on_commit_callbacks)

    # two failures, then the third attempt goes through; the subscription stays
    assert len(push_service.received) == 3
    assert browser.decrypt(push_service.received[-1]["body"])["kind"] == "purchase_fulfilled"
    assert PushSubscription.objects.count() == 1


def test_a_push_service_down_for_good_does_not_fail_the_purchase(
    vapid: str, player: Any, push_service: PushService, django_capture_on_commit_callbacks: Any
) -> None:
    subscribe(cookie(player), f"{push_service.url}/push/down", Browser())
    push_service.answers = [503] * 20

    buy(player, django_capture_on_commit_callbacks)  # asserts the 201

    from realtime.tasks import WEB_PUSH_MAX_RETRIES

    assert len(push_service.received) == WEB_PUSH_MAX_RETRIES + 1
    assert PushSubscription.objects.count() == 1
