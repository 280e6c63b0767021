"""Shop endpoints: catalog, buying, transactions, settlement, the payment webhook."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import request_user
from casino.errors import ErrorSerializer, ValidationErrorSerializer
from casino.http import client_ip
from casino.idempotency import REPLAY_HEADER, idempotency_key_from, idempotent
from economy.enums import Currency
from shop import catalog_selectors, selectors, services
from shop.api import serializers as s
from shop.enums import ClientPurchaseStatus, client_purchase_status
from shop.models import Order

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
    """The purchase answer (names per the client contract): ``status`` is the
    client's word (``idempotent_reuse`` when this replays a buy already made),
    ``state`` the order's state."""
    order = result.order
    amounts = selectors.purchase_amounts(result)
    word = ClientPurchaseStatus.IDEMPOTENT_REUSE if result.replayed else client_purchase_status(order.status)
    return {
        "success": result.success,
        "product_id": order.product.sku,
        "package_id": order.package.code if order.package else None,
        "quantity": order.quantity,
        "receipt_code": order.receipt_code,
        "status": word.value,
        "state": order.status,
        "reason_code": order.failure_reason or None,
        "items": [{"item_code": code, "quantity": n} for code, n in sorted(Counter(order.grant_items).items())],
        "new_balance": amounts.gold_balance,
        "cyber_token_balance": amounts.gold_balance,
        "price_type": order.price_type,
        "currency": order.currency,
        "amount": order.total,
        "discount": order.discount,
        "gold_granted": amounts.granted[Currency.GOLD],
        "gems_granted": amounts.granted[Currency.GEMS],
        "gold_spent": amounts.spent[Currency.GOLD],
        "gems_spent": amounts.spent[Currency.GEMS],
        "new_gold_balance": amounts.gold_balance,
        "new_gems_balance": amounts.gems_balance,
        "checkout_url": order.checkout_url or None,
        "idempotent": result.replayed,
    }


class ProductsView(APIView):
    @extend_schema(tags=["shop"], responses={200: s.CatalogItemSerializer(many=True), 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        products, _ = selectors.catalog_payloads(request_user(request).pk, products=catalog_selectors.catalog_on_sale())
        return Response(products)


class LimitedPackagesView(APIView):
    @extend_schema(tags=["shop"], responses={200: s.CatalogItemSerializer(many=True), 401: UNAUTHORIZED})
    def get(self, request: Request) -> Response:
        _, packages = selectors.catalog_payloads(
            request_user(request).pk, packages=catalog_selectors.packages_on_sale()
        )
        return Response(packages)


class CatalogView(APIView):
    @extend_schema(
        tags=["shop"],
        operation_id="shop_catalog_list",
        parameters=[
            OpenApiParameter(
                "view",
                str,
                enum=["grouped"],
                required=False,
                description="grouped: the object {products, limited_packages} instead of one list.",
            )
        ],
        responses={
            # One list by default, the grouped object with view=grouped (CatalogSerializer's shape).
            200: {
                "oneOf": [
                    {"type": "array", "items": {"$ref": "#/components/schemas/CatalogItem"}},
                    {
                        "type": "object",
                        "required": ["products", "limited_packages"],
                        "properties": {
                            "products": {"type": "array", "items": {"$ref": "#/components/schemas/CatalogItem"}},
                            "limited_packages": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/CatalogItem"},
                            },
                        },
                    },
                ]
            },
            401: UNAUTHORIZED,
        },
        description="Everything on sale, as one list (the client reads the catalog as a list): the products, then "
        "the limited packages (with package_id). With view=grouped: {products, limited_packages} "
        "(CatalogSerializer).",
    )
    def get(self, request: Request) -> Response:
        products, packages = selectors.catalog_payloads(
            request_user(request).pk,
            products=catalog_selectors.catalog_on_sale(),
            packages=catalog_selectors.packages_on_sale(),
        )
        if request.query_params.get("view") == "grouped":
            return Response({"products": products, "limited_packages": packages})
        return Response(products + packages)


def _buy(request: Request, data: dict[str, Any], **target: Any) -> Response:
    result = services.shop_buy(
        user=request_user(request),
        idempotency_key=idempotency_key_from(request) or "",
        quantity=data["quantity"],
        promo_code=data.get("promo_code") or None,
        ip=client_ip(request),
        device_id=data["device_id"],
        payment_instrument=data["payment_instrument"],
        **target,
    )
    if not result.replayed:
        return Response(purchase_body(result), status=status.HTTP_201_CREATED)
    # A retry answered from the order (a money order keeps no idempotency record): the order as it stands.
    return Response(purchase_body(result), status=status.HTTP_200_OK, headers={REPLAY_HEADER: "true"})


def _money_order_keyed(request: Request) -> bool:
    """A buy paid with money is idempotent on its order's key by itself
    (``shop.services.purchase``): the API keeps no record for it
    (casino.idempotency's ``natural_key``). A buy with game currency keeps
    one in its own transaction: one commit, the first response's bytes on a retry."""
    data = request.data if isinstance(request.data, dict) else {}
    return catalog_selectors.paid_with_money(product_id=data.get("product_id"), package_id=data.get("package_id"))


class BuyView(APIView):
    @extend_schema(
        tags=["shop"],
        request=s.BuyInputSerializer,
        responses={200: s.PurchaseSerializer, 201: s.PurchaseSerializer, **BUY_ERRORS},
        description="Buy a product (product_id) or a limited package (package_id). Game-currency products are "
        "paid and granted at once (201, status success, state fulfilled); money products return a pending order "
        "with a checkout_url. Requires Idempotency-Key; prices come from the catalog only (amount, price, "
        "user_id, kind, payment_method are ignored).",
    )
    @idempotent(required=True, natural_key=_money_order_keyed)
    def post(self, request: Request) -> Response:
        data = s.BuyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        package_code = data.validated_data.get("package_id")
        if package_code:
            return _buy(request, data.validated_data, package_code=package_code)
        return _buy(request, data.validated_data, product_sku=data.validated_data["product_id"])


class BuyLimitedView(APIView):
    @extend_schema(
        tags=["shop"],
        request=s.BuyLimitedInputSerializer,
        responses={200: s.PurchaseSerializer, 201: s.PurchaseSerializer, **BUY_ERRORS},
        description="Buy a limited package: package_id, or product_id naming the package's code or its product's sku.",
    )
    @idempotent(required=True, natural_key=_money_order_keyed)
    def post(self, request: Request) -> Response:
        data = s.BuyLimitedInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = data.validated_data.get("package_id") or catalog_selectors.package_code_for(
            data.validated_data["product_id"]
        )
        return _buy(request, data.validated_data, package_code=code)


class TransactionsView(APIView):
    @extend_schema(
        tags=["shop"],
        operation_id="shop_transactions_list",
        parameters=[s.TransactionsQuerySerializer],
        responses={200: s.TransactionsPageSerializer, 400: ValidationErrorSerializer, 401: UNAUTHORIZED},
        description="The player's orders, newest first, under both `transactions` and `items`. Page with "
        "after_id (the cursor: next_after_id of the previous page) or offset.",
    )
    def get(self, request: Request) -> Response:
        query = s.TransactionsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit, offset = query.validated_data["limit"], query.validated_data["offset"]
        user_id = request_user(request).pk
        after_id = query.validated_data.get("after_id")
        if after_id is not None:
            orders, offset = selectors.transactions_after(user_id, after_id=after_id), 0
        else:
            orders = selectors.transactions_for(user_id)
        rows = list(orders[offset : offset + limit + 1])
        page, has_more = rows[:limit], len(rows) > limit
        data = s.TransactionSerializer(page, many=True).data
        return Response(
            {
                "transactions": data,
                "items": data,
                "total": selectors.transactions_for(user_id).count(),
                "limit": limit,
                "offset": offset,
                "has_more": has_more,
                "next_after_id": page[-1].pk if has_more else None,
            }
        )


def _order_for(request: Request, receipt: str) -> Order:
    order = selectors.order_for_viewer(receipt_code=receipt, viewer=request_user(request))
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
            403: OpenApiResponse(ErrorSerializer, description="staff_permission_required"),
            404: ErrorSerializer,
            502: OpenApiResponse(ErrorSerializer, description="payment_provider_unavailable"),
        },
        description="Ask the payment provider for this order's payment state and settle it (the owner, or staff "
        "holding shop.view_order and shop.settle_order).",
    )
    def post(self, request: Request, receipt: str) -> Response:
        order = _order_for(request, receipt)
        result = services.order_settle(order=order, actor=request_user(request))
        return Response({"result": result, "transaction": s.TransactionSerializer(order).data})


class RawBodyParser(BaseParser):
    """Webhook signatures cover the exact bytes: never parse before verifying."""

    media_type = "*/*"

    def parse(  # type: ignore[override]  # the webhook verifies the exact bytes, so they are the data
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
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
                "webhook_amount_mismatch / webhook_currency_mismatch / webhook_merchant_reference_mismatch",
            ),
            429: OpenApiResponse(
                ErrorSerializer,
                description="webhook_rate_limited (with retry_after_seconds): too many refused deliveries from this "
                "address; correctly signed deliveries are never limited",
            ),
        },
        auth=[],
        description="Standard Webhooks: headers webhook-id, webhook-timestamp, webhook-signature (v1,<base64 HMAC>).",
    )
    def post(self, request: Request) -> Response:
        body = request._request.body
        outcome = services.payment_webhook_receive(headers=request.headers, body=body, ip=client_ip(request))
        return Response({"received": True, "duplicate": outcome.duplicate, "result": outcome.result})
