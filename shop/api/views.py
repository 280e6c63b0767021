"""Shop endpoints: catalog, buying, transactions, settlement, the payment webhook."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino.db import one_or_none
from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.http import client_ip
from casino.idempotency import idempotency_key_from, idempotent
from casino.pagination import StandardPagination
from economy.enums import Currency
from economy.models import LedgerEntry, Wallet
from shop import selectors, services
from shop.api import serializers as s
from shop.models import Order, PriceType

UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="not_authenticated / invalid_token")
BUY_ERRORS = {
    400: OpenApiResponse(
        ValidationErrorSerializer, description="validation_error / invalid_promo_code / idempotency_key_required"
    ),
    401: UNAUTHORIZED,
    403: OpenApiResponse(ErrorSerializer, description="vip_tier_too_low / self_excluded / payment_blocked"),
    404: OpenApiResponse(ErrorSerializer, description="product_not_found / package_not_found"),
    409: OpenApiResponse(
        ErrorSerializer,
        description="insufficient_funds / sold_out / sale_not_open / purchase_limit_reached / product_unavailable / "
        "daily_spend_limit_reached / idempotency_key_reused / idempotency_key_in_use",
    ),
}


def purchase_body(result: services.PurchaseResult) -> dict[str, Any]:
    """The purchase answer. A purchase that just posted to the wallet answers
    from that posting; a replay or a money order reads the ledger and wallet."""
    order = result.order
    if result.ledger is not None:
        entries: Any = result.ledger.entries
        balances = result.ledger.balances
    else:
        if not result.replayed and order.price_type == PriceType.MONEY:
            entries = ()  # a new money order: paid at the provider later, nothing posted yet
        else:
            entries = LedgerEntry.objects.filter(reference=f"order:{order.receipt_code}", wallet_id=order.user_id)
        balances = one_or_none(Wallet.objects.filter(pk=order.user_id).values("gold", "gems")) or {}
    spent = {currency: 0 for currency in (Currency.GOLD, Currency.GEMS)}
    granted = dict(spent)
    for entry in entries:
        if entry.currency in spent and entry.reason == "purchase":
            (granted if entry.delta > 0 else spent)[entry.currency] += abs(entry.delta)
    return {
        "success": result.success,
        "product_id": order.product.sku,
        "package_id": order.package.code if order.package_id else None,
        "quantity": order.quantity,
        "receipt_code": order.receipt_code,
        "status": order.status,
        "reason_code": order.failure_reason or None,
        "price_type": order.price_type,
        "currency": order.currency,
        "amount": order.total,
        "discount": order.discount,
        "gold_granted": granted[Currency.GOLD],
        "gems_granted": granted[Currency.GEMS],
        "gold_spent": spent[Currency.GOLD],
        "gems_spent": spent[Currency.GEMS],
        "new_gold_balance": balances.get("gold"),
        "new_gems_balance": balances.get("gems"),
        "checkout_url": order.checkout_url or None,
        "idempotent": result.replayed,
    }


class ProductsView(APIView):
    @extend_schema(tags=["shop"], responses={200: s.CatalogItemSerializer(many=True), 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response([selectors.product_payload(p, request.user.pk) for p in selectors.active_products()])


class LimitedPackagesView(APIView):
    @extend_schema(tags=["shop"], responses={200: s.CatalogItemSerializer(many=True), 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(
            [selectors.product_payload(p.product, request.user.pk, package=p) for p in selectors.packages_on_sale()]
        )


class CatalogView(APIView):
    @extend_schema(tags=["shop"], responses={200: s.CatalogSerializer, 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        return Response(
            {
                "products": [selectors.product_payload(p, request.user.pk) for p in selectors.active_products()],
                "limited_packages": [
                    selectors.product_payload(p.product, request.user.pk, package=p)
                    for p in selectors.packages_on_sale()
                ],
            }
        )


def _buy(request: Request, data: dict[str, Any], **target: Any) -> Response:
    result = services.shop_buy(
        user=request.user,
        idempotency_key=idempotency_key_from(request) or "",
        quantity=data["quantity"],
        promo_code=data.get("promo_code") or None,
        ip=client_ip(request),
        device_id=data["device_id"],
        payment_instrument=data["payment_instrument"],
        **target,
    )
    return Response(purchase_body(result), status=status.HTTP_200_OK if result.replayed else status.HTTP_201_CREATED)


class BuyView(APIView):
    @extend_schema(
        tags=["shop"],
        request=s.BuyInputSerializer,
        responses={200: s.PurchaseSerializer, 201: s.PurchaseSerializer, **BUY_ERRORS},
        description="Buy a product. Game-currency products are paid and granted at once (201, status fulfilled); "
        "money products return a pending order with a checkout_url. Requires Idempotency-Key; prices come from "
        "the catalog only.",
    )
    @idempotent(required=True)
    def post(self, request: Request) -> Response:
        data = s.BuyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _buy(request, data.validated_data, product_sku=data.validated_data["product_id"])


class BuyLimitedView(APIView):
    @extend_schema(
        tags=["shop"],
        request=s.BuyLimitedInputSerializer,
        responses={200: s.PurchaseSerializer, 201: s.PurchaseSerializer, **BUY_ERRORS},
    )
    @idempotent(required=True)
    def post(self, request: Request) -> Response:
        data = s.BuyLimitedInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _buy(request, data.validated_data, package_code=data.validated_data["package_id"], limited=True)


class TransactionsView(APIView):
    pagination_class = StandardPagination

    @extend_schema(tags=["shop"], responses={200: s.TransactionSerializer(many=True), 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.transactions_for(request.user.pk), request, view=self)
        return paginator.get_paginated_response(s.TransactionSerializer(page, many=True).data)


def _order_for(request: Request, receipt: str) -> Order:
    orders = Order.objects.select_related("product")
    if not request.user.is_staff:
        orders = orders.filter(user=request.user)
    order = orders.filter(receipt_code=receipt).first()
    if order is None:
        raise Http404
    return order


class TransactionDetailView(APIView):
    @extend_schema(tags=["shop"], responses={200: s.TransactionSerializer, 401: UNAUTHORIZED, 404: ErrorSerializer})
    def get(self, request: Request, receipt: str) -> Response:
        return Response(s.TransactionSerializer(_order_for(request, receipt)).data)


class SettleView(APIView):
    @extend_schema(
        tags=["shop"],
        request=None,
        responses={
            200: s.SettleSerializer,
            400: ErrorSerializer,
            401: UNAUTHORIZED,
            404: ErrorSerializer,
            502: OpenApiResponse(ErrorSerializer, description="payment_provider_unavailable"),
        },
        description="Ask the payment provider for this order's payment state and settle it (the owner or staff).",
    )
    def post(self, request: Request, receipt: str) -> Response:
        order = _order_for(request, receipt)
        result = services.order_settle(order=order, actor=request.user)
        return Response({"result": result, "transaction": s.TransactionSerializer(order).data})


class RawBodyParser(BaseParser):
    """Webhook signatures cover the exact bytes: never parse before verifying."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        return stream.read() if stream is not None else b""


class PaymentWebhookView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    parser_classes = [RawBodyParser]

    @extend_schema(
        tags=["shop"],
        request={"application/json": {"type": "object", "description": "The provider's signed event."}},
        responses={
            200: s.WebhookAckSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="webhook_headers_missing / webhook_timestamp_invalid / webhook_timestamp_out_of_tolerance "
                "/ webhook_signature_invalid / webhook_payload_invalid / webhook_unknown_order / "
                "webhook_amount_mismatch / webhook_currency_mismatch",
            ),
        },
        auth=[],
        description="Standard Webhooks: headers webhook-id, webhook-timestamp, webhook-signature (v1,<base64 HMAC>).",
    )
    def post(self, request: Request) -> Response:
        body = request._request.body
        outcome = services.payment_webhook_receive(headers=request.headers, body=body)
        return Response({"received": True, "duplicate": outcome.duplicate, "result": outcome.result})
