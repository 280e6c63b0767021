"""The bare-framework reference of the benchmark: Django and DRF doing the same
SQL as the product's hottest paths, with none of the project's own logic.

The performance targets are ratios to these two views, measured in the same
run on the same machine (docs/architecture.md, "Performance targets";
bench/README.md, "The reference"), so they hold on any machine.

Served only by ``bench/urls.py`` (``bench/settings.py`` makes it the
``ROOT_URLCONF`` of the bench's processes), under ``/bench/bare/``; the
production URLconf never routes here (casino/tests/test_bench_smoke.py checks).

What a reference request shares with every product request, so that only the
project's logic differs:

* the WSGI handler, the production settings and the whole middleware stack;
* DRF's ``APIView`` with the project's ``REST_FRAMEWORK`` configuration
  (the JSON parser with its limits, the renderer, the error handler);
* the same ``Authorization: Bearer`` access token, checked by simplejwt as any
  DRF project would (``JWTStatelessUserAuthentication``: signature, expiry,
  token type); the player's id comes from the token.

What it leaves out, and the ratios therefore measure: the project's
authentication on top of that (it re-reads the user row for bans, revoked
tokens and self-exclusion, and marks the player active), serializers,
services, idempotency keys, orders, events (the outbox) and the response the
client contract asks for.

SQL, raw, through ``django.db.connection``:

* ``GET /bench/bare/wallet``: one SELECT of the player's wallet row (autocommit);
* ``POST /bench/bare/purchase`` (the body of ``POST /api/shop/buy``; only
  ``quantity`` is read): one transaction that locks the wallet ``FOR UPDATE``,
  updates the gem balance and inserts the ledger entry (-10 gems per unit, the
  bench's gem pack). That is the write set every hot write shares: a claim, a
  spin and a purchase each lock a wallet, move a balance and append to the
  ledger. Balance and ledger stay consistent, so ``audit_ledger`` holds.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection, transaction
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication

PRICE_GEMS = 10  # per unit: bench/seed.py's gem-priced gold pack
MAX_QUANTITY = 10

WALLET_SQL = "SELECT gold, gems, xp, vip_points, vip_tier FROM economy_wallet WHERE user_id = %s"
LOCK_SQL = "SELECT gems FROM economy_wallet WHERE user_id = %s FOR UPDATE"
UPDATE_SQL = "UPDATE economy_wallet SET gems = %s, updated_at = now() WHERE user_id = %s"
LEDGER_SQL = (
    "INSERT INTO economy_ledgerentry "
    "(wallet_id, currency, delta, balance_after, reason, reference, idempotency_key, metadata, created_at) "
    "VALUES (%s, 'gems', %s, %s, 'purchase', %s, %s, '{}', now())"
)


def _error(status: int, code: str, message: str) -> Response:
    return Response({"error": code, "message": message}, status=status)


class BareView(APIView):
    authentication_classes = [JWTStatelessUserAuthentication]
    permission_classes = [IsAuthenticated]
    schema = None  # never part of the API's schema


class BareWalletView(BareView):
    def get(self, request: Request) -> Response:
        with connection.cursor() as cursor:
            cursor.execute(WALLET_SQL, [request.user.id])
            row = cursor.fetchone()
        if row is None:
            return _error(404, "not_found", "No wallet.")
        gold, gems, xp, vip_points, vip_tier = row
        return Response({"gold": gold, "gems": gems, "xp": xp, "vip_points": vip_points, "vip_tier": vip_tier})


class BarePurchaseView(BareView):
    def post(self, request: Request) -> Response:
        data: Any = request.data
        quantity = data.get("quantity", 1) if isinstance(data, dict) else None
        if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
            return _error(400, "validation_error", f"quantity: a whole number from 1 to {MAX_QUANTITY}.")
        price = PRICE_GEMS * quantity
        user_id = request.user.id
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(LOCK_SQL, [user_id])
            row = cursor.fetchone()
            if row is None:
                return _error(404, "not_found", "No wallet.")
            balance = row[0] - price
            if balance < 0:
                return _error(409, "insufficient_funds", "Not enough gems.")
            cursor.execute(UPDATE_SQL, [balance, user_id])
            key = f"bare:{uuid.uuid4().hex}"
            cursor.execute(LEDGER_SQL, [user_id, -price, balance, key, key])
        return Response({"gems": balance, "delta": -price}, status=201)


urlpatterns = [
    path("wallet", BareWalletView.as_view(), name="bare-wallet"),
    path("purchase", BarePurchaseView.as_view(), name="bare-purchase"),
]
