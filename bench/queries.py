"""SQL statements and transactions per endpoint, measured in-process.

One player's journey through Django's test client against the bench
database (production settings, no server, no network), with every SQL
statement and every COMMIT counted. Each statement is a round trip to
PostgreSQL; each transaction adds BEGIN and COMMIT round trips. On a busy
machine every round trip also waits for the database backend to be
scheduled, so these counts explain much of the latency the load measures.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any


def probe(players: list[dict[str, Any]], password: str, gems_sku: str, money_sku: str) -> list[dict[str, Any]]:
    """The journey of ``players[0]`` warms the process up (imports, caches,
    connections); the journey of ``players[1]`` is the one reported."""
    rows: list[dict[str, Any]] = []
    for player in players[:2]:
        rows = _journey(player, password, gems_sku, money_sku)
    return rows


def _journey(player: dict[str, Any], password: str, gems_sku: str, money_sku: str) -> list[dict[str, Any]]:
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from shop.models import SandboxPayment, SandboxPaymentStatus
    from shop.providers.sandbox import WebhookEventType, webhook_payload
    from shop.webhooks import signature_headers

    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=player["ip"])
    statements: list[str] = []
    commits = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    original_commit = connection.commit

    def counting_commit() -> None:
        commits[0] += 1
        original_commit()

    rows: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def measure(name: str, call: Any) -> Any:
        statements.clear()
        commits[0] = 0
        started, cpu_started = time.perf_counter(), time.process_time()
        response = call()
        elapsed = (time.perf_counter() - started) * 1000
        cpu = (time.process_time() - cpu_started) * 1000
        rows.append(
            {
                "endpoint": name,
                "status": response.status_code,
                "statements": len(statements),
                "selects": sum(1 for s in statements if s.lstrip().upper().startswith("SELECT")),
                "writes": sum(1 for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))),
                "savepoints": sum(1 for s in statements if "SAVEPOINT" in s.upper()),
                "commits": commits[0],
                "in_process_ms": elapsed,
                "cpu_ms": cpu,
            }
        )
        return response

    def auth() -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {state['token']}"}

    def idem() -> dict[str, str]:
        return {"HTTP_IDEMPOTENCY_KEY": uuid.uuid4().hex}

    connection.commit = counting_commit  # type: ignore[method-assign]
    try:
        with connection.execute_wrapper(count):
            response = measure(
                "login",
                lambda: client.post(
                    "/api/auth/login",
                    {"site_id": player["site_id"], "password": password},
                    content_type="application/json",
                ),
            )
            state["token"] = response.json()["access_token"]
            measure("dashboard", lambda: client.get("/api/dashboard", **auth()))
            measure("dashboard (cached)", lambda: client.get("/api/dashboard", **auth()))
            measure(
                "streak_claim",
                lambda: client.post("/api/streak/claim", content_type="application/json", **auth(), **idem()),
            )
            measure(
                "vip_claim", lambda: client.post("/api/vip/claim", content_type="application/json", **auth(), **idem())
            )
            measure("shop_catalog", lambda: client.get("/api/shop/catalog", **auth()))
            measure(
                "buy_gems",
                lambda: client.post(
                    "/api/shop/buy",
                    {"product_id": gems_sku, "quantity": 1, "device_id": player["device"]},
                    content_type="application/json",
                    **auth(),
                    **idem(),
                ),
            )
            # A player's first round creates their fairness seed (one INSERT more); the second is the steady state.
            for name in ("slot_spin (first)", "slot_spin"):
                measure(
                    name,
                    lambda: client.post(
                        "/api/games/slot/spin",
                        {"bet_amount": 100},
                        content_type="application/json",
                        **auth(),
                        **idem(),
                    ),
                )
            response = measure(
                "buy_money",
                lambda: client.post(
                    "/api/shop/buy",
                    {
                        "product_id": money_sku,
                        "quantity": 1,
                        "device_id": player["device"],
                        "payment_instrument": f"card_{player['device']}",
                    },
                    content_type="application/json",
                    **auth(),
                    **idem(),
                ),
            )
            reference = response.json()["checkout_url"].rstrip("/").rsplit("/", 1)[-1]
            # The provider's side (not measured: measure() starts counting afresh): approve, sign the webhook.
            SandboxPayment.objects.filter(reference=reference, status=SandboxPaymentStatus.CREATED).update(
                status=SandboxPaymentStatus.APPROVED, updated_at=timezone.now()
            )
            payment = SandboxPayment.objects.get(reference=reference)
            body = json.dumps(webhook_payload(event_type=WebhookEventType.SUCCEEDED, payment=payment)).encode()
            headers = signature_headers(
                secrets=list(settings.SHOP_WEBHOOK_SECRETS[:1]),
                msg_id=f"msg_{uuid.uuid4().hex}",
                timestamp=int(time.time()),
                body=body,
            )
            measure(
                "webhook",
                lambda: client.post(
                    "/api/shop/webhook/payment",
                    body,
                    content_type="application/json",
                    **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()},
                ),
            )
            measure("balance", lambda: client.get("/api/users/balance", **auth()))
    finally:
        del connection.commit
    return rows
