"""Real-money orders: sandbox provider, signed webhooks, settlement, expiry, refunds."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import tokens_issue
from casino.tests.commits import commits_counted
from economy.models import Wallet
from economy.services import wallet_grant, wallet_spend
from economy.tests.factories import player_with_wallet
from shop import services
from shop.models import LimitedPackage, Order, OrderStatus, SandboxPayment, WebhookEvent, WebhookStatus
from shop.providers.sandbox import WebhookEventType, webhook_payload
from shop.tests.factories import MoneyProductFactory, PackageFactory
from shop.webhooks import signature_headers

pytestmark = pytest.mark.django_db
WEBHOOK = "/api/shop/webhook/payment"


@pytest.fixture
def player() -> Any:
    return player_with_wallet()


@pytest.fixture
def client(player: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    api.user = player  # type: ignore[attr-defined]
    return api


def buy_money(client: APIClient, product: Any, key: str = "k", **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/shop/buy", {"product_id": product.sku, **extra}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 201, response.json()
    return response.json()


def signed_delivery(
    event_type: str,
    payment: SandboxPayment,
    *,
    secrets: list[str] | None = None,
    msg_id: str | None = None,
    at: int | None = None,
    mutate: Any = None,
) -> tuple[bytes, dict[str, str]]:
    payment.refresh_from_db()
    payload = webhook_payload(event_type=event_type, payment=payment)
    if mutate:
        mutate(payload)
    body = json.dumps(payload).encode()
    headers = signature_headers(
        secrets=secrets or settings.SHOP_WEBHOOK_SECRETS[:1],
        msg_id=msg_id or f"msg_{uuid.uuid4().hex}",
        timestamp=at if at is not None else int(timezone.now().timestamp()),
        body=body,
    )
    return body, headers


def deliver(body: bytes, headers: dict[str, str]) -> Any:
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    return APIClient().post(WEBHOOK, data=body, content_type="application/json", **extra)


def approve(order_body: dict[str, Any]) -> SandboxPayment:
    order = Order.objects.get(receipt_code=order_body["receipt_code"])
    payment = SandboxPayment.objects.get(reference=order.provider_reference)
    SandboxPayment.objects.filter(pk=payment.pk).update(status="approved")
    return payment


def test_money_order_is_pending_with_a_checkout_url_and_server_price(client: APIClient) -> None:
    product = MoneyProductFactory(price_amount=499)

    body = buy_money(client, product, price=1)

    assert (body["status"], body["amount"], body["currency"]) == ("pending", 499, "USD")
    assert body["checkout_url"].endswith(Order.objects.get().provider_reference)
    payment = SandboxPayment.objects.get()
    assert (payment.amount, payment.currency, payment.merchant_reference) == (499, "USD", body["receipt_code"])


def test_a_money_order_reads_its_replay_check_and_the_answers_balances_in_one_statement() -> None:
    from django.db import transaction

    from casino.tests.statements import statements_sent

    buyer = player_with_wallet(gold=1234, gems=56)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=buyer).access}")
    product = MoneyProductFactory(price_amount=499)
    buy_money(api, product, key="warm-up")  # this minute's activity mark, the kept user, the catalog copy
    with transaction.atomic():
        wallet_spend(user=buyer, bundle={"gems": 6}, reason="game_bet", idempotency_key="spent-meanwhile")

    with statements_sent() as sent:
        body = buy_money(api, product, key="second")

    assert (body["new_gold_balance"], body["new_gems_balance"], body["new_balance"]) == (1234, 50, 1234)
    wallet_reads = [sql for sql in sent if "economy_wallet" in sql]
    assert len(wallet_reads) == 1 and "shop_order" in wallet_reads[0]  # with the replay check
    retry = api.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="second")
    assert retry.status_code == 200  # answered from the order, the balances read again
    assert (retry.json()["receipt_code"], retry.json()["new_gems_balance"]) == (body["receipt_code"], 50)


def test_a_money_order_is_written_with_its_step_decision_promo_and_event_in_one_statement(client: APIClient) -> None:
    """Its key is drawn with the replay check (PostgreSQL), so the order row waits for
    the transaction's last statement; every row that refers to it names that key."""
    from casino.tests.statements import statements_sent
    from shop.models import FraudDecision, OrderTransition, PromoRedemption
    from shop.tests.factories import PromoFactory

    product = MoneyProductFactory(price_amount=1000)
    promo = PromoFactory(code="TENOFF")
    with statements_sent() as sent:
        body = buy_money(client, product, key="with-promo", promo_code="TENOFF")

    order = Order.objects.get(receipt_code=body["receipt_code"])
    assert (order.status, order.total, order.promo_id) == (OrderStatus.PENDING, 900, promo.pk)
    order_inserts = [sql for sql in sent if 'INSERT INTO "shop_order"' in sql]
    assert len(order_inserts) == 1
    assert "shop_ordertransition" in order_inserts[0] and "shop_frauddecision" in order_inserts[0]
    assert "nextval" in next(sql for sql in sent if "economy_wallet" in sql)  # drawn with the replay check
    assert list(OrderTransition.objects.filter(order=order).values_list("to_status", flat=True)) == ["pending"]
    assert FraudDecision.objects.get().order_id == order.pk
    assert PromoRedemption.objects.get().order_id == order.pk
    assert client.get(f"/api/shop/transactions/{order.receipt_code}").json()["state"] == "pending"
    retry = client.post(
        "/api/shop/buy",
        {"product_id": product.sku, "promo_code": "TENOFF"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="with-promo",
    )
    assert (retry.status_code, retry.json().get("receipt_code")) == (200, order.receipt_code), retry.json()
    assert Order.objects.count() == 1


def test_a_money_buys_statements_are_converted_once_per_process_not_once_per_call(
    client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg keeps a query's placeholder conversion only up to a size (casino.apps widens
    it): the buy's last statement -- the order, its step, decision and events -- is above
    psycopg's own limit, and converting it again on every call costs ~100 us."""
    from psycopg import _queries

    product = MoneyProductFactory(price_amount=499)
    buy_money(client, product, key="first")  # each statement's shape converted once
    uncached: list[int] = []
    convert = _queries._query2pg_nocache

    def counted(query: bytes, encoding: str) -> Any:
        uncached.append(query.count(b"%s"))
        return convert(query, encoding)

    monkeypatch.setattr(_queries, "_query2pg_nocache", counted)
    buy_money(client, product, key="second")

    assert uncached == []


def test_a_retry_of_a_money_buy_that_redeemed_a_single_use_promo_is_answered_with_its_order(
    client: APIClient,
) -> None:
    """The code is checked before the buy's transaction (the fraud rules price the
    order with it); the retry must not be refused because its own first request used it."""
    from shop.tests.factories import PromoFactory

    product = MoneyProductFactory(price_amount=1000)
    PromoFactory(code="ONCE", max_uses_per_player=1)
    first = buy_money(client, product, key="promo-buy", promo_code="ONCE")

    body = {"product_id": product.sku, "promo_code": "ONCE"}
    retry = client.post("/api/shop/buy", body, format="json", HTTP_IDEMPOTENCY_KEY="promo-buy")
    another = client.post("/api/shop/buy", body, format="json", HTTP_IDEMPOTENCY_KEY="new-buy")

    assert (retry.status_code, retry.json().get("receipt_code")) == (200, first["receipt_code"]), retry.json()
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert (another.status_code, another.json()["error"]) == (400, "invalid_promo_code")
    assert Order.objects.count() == 1


def test_signed_success_webhook_fulfils_once(
    client: APIClient, player: Any, django_capture_on_commit_callbacks: Any
) -> None:
    product = MoneyProductFactory(grants={"gems": 100})
    order_body = buy_money(client, product)
    payment = approve(order_body)
    body, headers = signed_delivery(WebhookEventType.SUCCEEDED, payment)

    first = deliver(body, headers)
    again = deliver(body, headers)

    assert first.status_code == 200, first.json()
    assert first.json() == {"received": True, "duplicate": False, "result": "fulfilled"}
    assert again.json()["duplicate"] is True
    order = Order.objects.get()
    assert order.status == OrderStatus.FULFILLED
    assert order.paid_at == order.fulfilled_at is not None
    steps = list(order.transitions.order_by("pk").values_list("from_status", "to_status", "reason"))
    assert steps == [
        ("", "pending", "awaiting payment"),
        ("pending", "paid", "webhook: payment succeeded"),
        ("paid", "fulfilled", "granted"),
    ]
    assert Wallet.objects.get(pk=player.pk).gems == 100
    event = WebhookEvent.objects.get(signature_valid=True)
    assert (event.status, event.attempts, event.order_id) == (WebhookStatus.PROCESSED, 2, order.pk)
    listed = client.get(f"/api/shop/transactions/{order.receipt_code}").json()
    assert (listed["status"], listed["state"]) == ("success", "fulfilled")


def test_a_fulfilling_webhook_locks_the_buyer_and_the_order_with_its_lookup_and_writes_the_order_last(
    client: APIClient, player: Any
) -> None:
    from casino.tests.statements import statements_sent

    product = MoneyProductFactory(grants={"gems": 100})
    payment = approve(buy_money(client, product))
    body, headers = signed_delivery(WebhookEventType.SUCCEEDED, payment)

    with statements_sent() as sent:
        assert deliver(body, headers).json()["result"] == "fulfilled"

    # The order is found by its reference, its buyer's row and its own locked (in that order) and
    # both read, in one statement ...
    lookups = [sql for sql in sent if '"shop_order"' in sql and sql.startswith("SELECT")]
    assert lookups[0].endswith("FOR NO KEY UPDATE OF u, o") and '"accounts_user"' in lookups[0]
    assert not any(sql.startswith("SELECT") and '"accounts_user"' in sql for sql in sent if sql != lookups[0])
    assert not any(" FOR " in sql and '"shop_order"' in sql for sql in sent if sql != lookups[0])
    # ... and the fulfilled order is written with the transaction's last statement, its steps and events
    order_writes = [sql for sql in sent if 'UPDATE "shop_order"' in sql]
    assert len(order_writes) == 1 and "realtime_outboxevent" in order_writes[0]
    order = Order.objects.get()
    assert (order.status, order.stock_held) == (OrderStatus.FULFILLED, False)
    assert order.paid_at == order.fulfilled_at is not None
    assert Wallet.objects.get(pk=player.pk).gems == 100


def test_the_buyer_locked_by_the_orders_reference_carries_its_spend_limit_fields_as_stored(
    client: APIClient, player: Any
) -> None:
    from django.db import transaction

    from accounts.selectors import SPEND_LIMIT_FIELDS
    from shop.locks import order_and_buyer_lock_by_reference

    # Given a buyer with a spend-limit change pending (every field set, each to a telling value)
    product = MoneyProductFactory(grants={"gems": 100})
    buy_money(client, product)
    order = Order.objects.get()
    effective = timezone.now() + timedelta(hours=20)
    User.objects.filter(pk=player.pk).update(
        daily_spend_limit=1500,
        pending_daily_spend_limit=900,
        pending_limit_effective_at=effective,
        pending_limit_clears=True,
    )
    # When the order is locked by its provider reference, as a webhook does
    with transaction.atomic():
        locked = order_and_buyer_lock_by_reference(provider=order.provider, reference=order.provider_reference)
    # Then it is the order, every field as stored (converted as the ORM converts them), and its
    # buyer's fields are the stored ones, each in its place
    assert locked is not None and locked.pk == order.pk and locked.user.pk == player.pk
    for field in Order._meta.concrete_fields:
        assert getattr(locked, field.attname) == getattr(order, field.attname), field.name
    assert locked.product.pk == order.product_id
    stored = User.objects.values(*SPEND_LIMIT_FIELDS).get(pk=player.pk)
    assert {name: getattr(locked.user, name) for name in SPEND_LIMIT_FIELDS} == stored
    assert (locked.user.pending_limit_clears, locked.user.pending_limit_effective_at) == (True, effective)
    assert order_and_buyer_lock_by_reference(provider=order.provider, reference="no-such-payment") is None


def test_failed_payment_fails_the_order_and_returns_the_stock(client: APIClient) -> None:
    package = PackageFactory(total_stock=5, remaining_stock=5)
    response = client.post(
        "/api/shop/buy-limited", {"package_id": package.code}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 4
    order = Order.objects.get(receipt_code=response.json()["receipt_code"])
    payment = SandboxPayment.objects.get(reference=order.provider_reference)
    SandboxPayment.objects.filter(pk=payment.pk).update(status="declined")

    result = deliver(*signed_delivery(WebhookEventType.FAILED, payment))

    assert result.json()["result"] == "failed"
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == (OrderStatus.FAILED, "payment_declined")
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 5


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        ("flip_byte", "webhook_signature_invalid"),
        ("unknown_key", "webhook_signature_invalid"),
        ("old", "webhook_timestamp_out_of_tolerance"),
        ("future", "webhook_timestamp_out_of_tolerance"),
        ("no_headers", "webhook_headers_missing"),
    ],
)
def test_forged_or_stale_webhooks_are_refused_recorded_and_change_nothing(
    client: APIClient, tamper: str, code: str
) -> None:
    order_body = buy_money(client, MoneyProductFactory())
    payment = approve(order_body)
    now = int(timezone.now().timestamp())
    secrets = ["whsec_" + "c29tZS1vdGhlci1zZWNyZXQta2V5"] if tamper == "unknown_key" else None
    at = now - 301 if tamper == "old" else now + 301 if tamper == "future" else now
    body, headers = signed_delivery(WebhookEventType.SUCCEEDED, payment, secrets=secrets, at=at)
    if tamper == "flip_byte":
        body = body.replace(b'"amount"', b'"amounT"', 1)
    if tamper == "no_headers":
        headers = {}

    response = deliver(body, headers)

    assert response.status_code == 400
    assert response.json()["error"] == code
    assert Order.objects.get().status == OrderStatus.PENDING
    recorded = WebhookEvent.objects.get()
    assert (recorded.status, recorded.error_code, recorded.signature_valid) == (WebhookStatus.FAILED, code, False)


def test_a_300_second_old_webhook_is_still_accepted(client: APIClient) -> None:
    payment = approve(buy_money(client, MoneyProductFactory()))
    now = timezone.now().replace(microsecond=0)

    with time_machine.travel(now, tick=False):
        response = deliver(*signed_delivery(WebhookEventType.SUCCEEDED, payment, at=int(now.timestamp()) - 300))

    assert response.status_code == 200, response.json()


def test_both_secrets_work_during_a_rotation(client: APIClient, settings: Any) -> None:
    old, new = settings.SHOP_WEBHOOK_SECRETS[0], "whsec_" + "bmV3LXJvdGF0ZWQtd2ViaG9vay1zZWNyZXQ="
    settings.SHOP_WEBHOOK_SECRETS = [new, old]
    product = MoneyProductFactory()
    first = approve(buy_money(client, product, key="a"))
    second = approve(buy_money(client, product, key="b"))

    with_old = deliver(*signed_delivery(WebhookEventType.SUCCEEDED, first, secrets=[old]))
    with_new = deliver(*signed_delivery(WebhookEventType.SUCCEEDED, second, secrets=[new]))

    assert with_old.status_code == with_new.status_code == 200
    assert Order.objects.filter(status=OrderStatus.FULFILLED).count() == 2


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda p: p["data"].update(reference="sbx_unknown"), "webhook_unknown_order"),
        (lambda p: p["data"].update(amount=1), "webhook_amount_mismatch"),
        (lambda p: p["data"].update(currency="EUR"), "webhook_currency_mismatch"),
    ],
)
def test_unknown_order_and_mismatches_are_distinct_recorded_errors(
    client: APIClient, player: Any, mutate: Any, code: str
) -> None:
    payment = approve(buy_money(client, MoneyProductFactory()))

    response = deliver(*signed_delivery(WebhookEventType.SUCCEEDED, payment, mutate=mutate))

    assert (response.status_code, response.json()["error"]) == (400, code)
    assert Order.objects.get().status == OrderStatus.PENDING
    assert Wallet.objects.get(pk=player.pk).gems == 0
    assert WebhookEvent.objects.get(signature_valid=True).error_code == code


def test_settle_asks_the_provider_when_the_webhook_never_came(client: APIClient, player: Any) -> None:
    order_body = buy_money(client, MoneyProductFactory(grants={"gems": 100}))
    approve(order_body)

    response = client.post(f"/api/shop/transactions/{order_body['receipt_code']}/settle")

    assert response.status_code == 200
    assert response.json()["result"] == "fulfilled"
    assert response.json()["transaction"]["state"] == "fulfilled"
    assert Wallet.objects.get(pk=player.pk).gems == 100


def test_settle_someone_elses_order_is_404(client: APIClient, staff_user: Any) -> None:
    order_body = buy_money(client, MoneyProductFactory())
    stranger = player_with_wallet()
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=stranger).access}")

    assert other.post(f"/api/shop/transactions/{order_body['receipt_code']}/settle").status_code == 404


def test_unpaid_orders_expire_after_thirty_minutes_and_return_stock(client: APIClient) -> None:
    package = PackageFactory(total_stock=2, remaining_stock=2)
    client.post("/api/shop/buy-limited", {"package_id": package.code}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 1

    with time_machine.travel(timezone.now() + timedelta(minutes=29)):
        assert services.orders_expire_stale() == 0
    with time_machine.travel(timezone.now() + settings.SHOP_PENDING_ORDER_TTL + timedelta(seconds=1)):
        assert services.orders_expire_stale() == 1

    order = Order.objects.get()
    assert (order.status, order.failure_reason) == (OrderStatus.EXPIRED, "payment_timeout")
    assert LimitedPackage.objects.get(pk=package.pk).remaining_stock == 2


def test_refund_after_the_gems_were_spent_records_debt_repaid_from_the_next_grant(
    client: APIClient, player: Any, staff_user: Any
) -> None:
    order_body = buy_money(client, MoneyProductFactory(grants={"gems": 100}))
    payment = approve(order_body)
    deliver(*signed_delivery(WebhookEventType.SUCCEEDED, payment))
    wallet_spend(user=player, bundle={"gems": 70}, reason="game_bet", idempotency_key="bet")

    refunded = services.order_refund(actor=staff_user, order=Order.objects.get(), reason="chargeback")

    assert refunded.status == OrderStatus.REFUNDED
    wallet = Wallet.objects.get(pk=player.pk)
    assert (wallet.gems, wallet.gems_debt) == (0, 70)
    assert SandboxPayment.objects.get().status == "refunded"
    wallet_grant(user=player, bundle={"gems": 100}, reason="event_reward", idempotency_key="reward")
    wallet.refresh_from_db()
    assert (wallet.gems, wallet.gems_debt) == (30, 0)


def test_self_excluded_and_over_the_spend_limit_are_refused(client: APIClient, player: Any) -> None:
    from accounts.services import daily_spend_limit_set

    product = MoneyProductFactory(price_amount=600)
    daily_spend_limit_set(user=player, limit=1000)
    buy_money(client, product, key="a")

    over = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="b")

    assert (over.status_code, over.json()["error"], over.json()["remaining"]) == (409, "daily_spend_limit_reached", 400)


def _rules(tmp_path: Any, settings: Any, when: str, points: int) -> None:
    path = tmp_path / "rules.yaml"
    rule = f'  - name: test_rule\n    when: "{when}"\n    points: {points}\n'
    path.write_text(f"thresholds:\n  review: 40\n  block: 80\nrules:\n{rule}")
    settings.SHOP_FRAUD_RULES_PATH = path


def test_fraud_block_refuses_and_stores_the_decision(client: APIClient, tmp_path: Any, settings: Any) -> None:
    from shop.models import FraudDecision

    _rules(tmp_path, settings, "amount >= 1", 80)

    response = client.post(
        "/api/shop/buy", {"product_id": MoneyProductFactory().sku}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert (response.status_code, response.json()["error"]) == (403, "payment_blocked")
    assert not Order.objects.exists()
    decision = FraudDecision.objects.get()
    assert (decision.action, decision.score, decision.order_id) == ("block", 80, None)
    assert decision.matched_rules == [{"name": "test_rule", "points": 80}]
    assert decision.features["amount"] == 499


def test_fraud_review_holds_the_order_until_staff_approve(
    client: APIClient, tmp_path: Any, settings: Any, staff_user: Any
) -> None:
    _rules(tmp_path, settings, "amount >= 1", 40)

    body = buy_money(client, MoneyProductFactory())

    assert (body["status"], body["state"], body["checkout_url"]) == ("pending", "pending_review", None)
    order = Order.objects.get()
    assert order.fraud_decision.action == "review"
    approved = services.order_review(actor=staff_user, order=order, approve=True, reason="known player")
    assert approved.status == OrderStatus.PENDING
    assert Order.objects.get().provider_reference.startswith("sbx_")


def test_a_retry_is_answered_from_the_order_with_its_checkout(client: APIClient) -> None:
    from casino.models import IdempotencyRecord
    from shop.models import FraudDecision

    product = MoneyProductFactory()
    first = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    retry = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="r")
    other = client.post(
        "/api/shop/buy", {"product_id": product.sku, "quantity": 2}, format="json", HTTP_IDEMPOTENCY_KEY="r"
    )

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    for field in ("receipt_code", "checkout_url", "state", "product_id"):
        assert retry.json()[field] == first.json()[field], field
    assert (first.json()["status"], retry.json()["status"]) == ("pending", "idempotent_reuse")
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")
    # The order is the record: one order, one payment, one fraud decision (its order's), no generic record.
    assert Order.objects.count() == SandboxPayment.objects.count() == 1
    assert list(FraudDecision.objects.values_list("order__receipt_code", flat=True)) == [first.json()["receipt_code"]]
    assert not IdempotencyRecord.objects.exists()


def test_a_retry_while_the_payment_is_being_opened_is_asked_to_come_back(client: APIClient) -> None:
    product = MoneyProductFactory()
    body = buy_money(client, product, key="o")
    Order.objects.filter(receipt_code=body["receipt_code"]).update(checkout_url="", provider_reference="")

    busy = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="o")

    assert (busy.status_code, busy.json()["error"]) == (409, "idempotency_key_in_use")
    later = timezone.now() + settings.IDEMPOTENCY_LOCK_TIMEOUT + timedelta(seconds=1)
    with time_machine.travel(later):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=client.user).access}")  # type: ignore[attr-defined]
        stale = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="o")
    # The first request died before the provider answered: the order as it stands (the expiry sweep closes it).
    assert (stale.status_code, stale.json()["receipt_code"], stale.json()["checkout_url"]) == (
        200,
        body["receipt_code"],
        None,
    )
    assert Order.objects.count() == 1


def test_a_refused_buy_keeps_its_fraud_decision(client: APIClient, player: Any) -> None:
    from accounts.services import daily_spend_limit_set
    from shop.models import FraudDecision

    product = MoneyProductFactory(price_amount=600)
    daily_spend_limit_set(user=player, limit=500)

    over = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="x")

    assert (over.status_code, over.json()["error"]) == (409, "daily_spend_limit_reached")
    assert not Order.objects.exists()
    decision = FraudDecision.objects.get()
    assert (decision.action, decision.order_id, decision.features["amount"]) == ("allow", None, 600)


@pytest.mark.django_db(transaction=True)
def test_a_money_buy_commits_its_order_once_and_its_payment_reference_once() -> None:
    player = player_with_wallet()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    product = MoneyProductFactory()
    api.get("/api/users/balance")  # this minute's activity mark is written
    with commits_counted() as commits:
        response = api.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="c")
    assert response.status_code == 201, response.json()
    # Ours: the order with its fraud decision, then the provider's payment reference on it. The
    # sandbox provider (a remote service in production) stores its payment in between.
    assert commits == ["transaction", '"shop_sandboxpayment"', '"shop_order"'], commits
