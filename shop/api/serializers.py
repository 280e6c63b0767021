from __future__ import annotations

from typing import Any

from rest_framework import serializers

from casino.serializers import InputSerializer, OutputSerializer
from shop.enums import ClientPurchaseStatus, client_purchase_status
from shop.models import Order, OrderStatus


class BuyOptionsSerializer(InputSerializer):
    quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)
    promo_code = serializers.CharField(max_length=32, required=False, allow_blank=True)
    device_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    payment_instrument = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="Card fingerprint from the payment form."
    )


class BuyInputSerializer(BuyOptionsSerializer):
    """What a buy may name: ``product_id`` or ``package_id`` (at least one).
    Price-like fields the old client sends (``amount``, ``price``, ``user_id``,
    ``kind``, ``payment_method``) are not fields here: they are ignored, and the
    price comes from the catalog."""

    product_id = serializers.CharField(max_length=64, required=False, help_text="The product's sku.")
    package_id = serializers.CharField(
        max_length=64, required=False, help_text="A limited package's code (wins over product_id)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("product_id") and not attrs.get("package_id"):
            raise serializers.ValidationError({"product_id": ["Send product_id or package_id."]})
        return attrs


class BuyLimitedInputSerializer(BuyInputSerializer):
    """``package_id``, or ``product_id`` naming the package's code or its product's sku."""


class TransactionsQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    offset = serializers.IntegerField(min_value=0, default=0)
    after_id = serializers.IntegerField(
        min_value=1, required=False, help_text="Cursor: the orders listed after this one (its id)."
    )


class CatalogItemSerializer(OutputSerializer):
    id = serializers.IntegerField()
    product_id = serializers.CharField(help_text="sku")
    package_id = serializers.CharField(required=False)
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    price = serializers.IntegerField(help_text="Minor units for money, units for gold/gems.")
    currency = serializers.CharField(help_text="ISO code, or gold/gems.")
    price_type = serializers.CharField()
    grants = serializers.DictField(child=serializers.IntegerField())
    grant_items = serializers.ListField(child=serializers.CharField())
    is_active = serializers.BooleanField()
    min_vip_tier = serializers.CharField(allow_null=True)
    remaining_stock = serializers.IntegerField(allow_null=True)
    total_stock = serializers.IntegerField(required=False)
    per_user_limit = serializers.IntegerField(allow_null=True)
    user_remaining = serializers.IntegerField(allow_null=True, help_text="null: no limit")
    limit_period = serializers.CharField(allow_null=True)
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False)


class CatalogSerializer(OutputSerializer):
    """``GET /api/shop/catalog?view=grouped``."""

    products = CatalogItemSerializer(many=True)
    limited_packages = CatalogItemSerializer(many=True)


CLIENT_STATUS_HELP = (
    "The client's word: pending (pending, pending_review, paid), success (fulfilled), failed (failed, expired, "
    "refunded), idempotent_reuse (a buy answer replaying a buy already made). The order's own state is `state`."
)


class PurchaseItemSerializer(OutputSerializer):
    item_code = serializers.CharField()
    quantity = serializers.IntegerField()


class PurchaseSerializer(OutputSerializer):
    """The result of a buy (names per the client contract)."""

    success = serializers.BooleanField()
    product_id = serializers.CharField()
    package_id = serializers.CharField(allow_null=True)
    quantity = serializers.IntegerField()
    receipt_code = serializers.CharField()
    status = serializers.ChoiceField(choices=ClientPurchaseStatus.choices, help_text=CLIENT_STATUS_HELP)
    state = serializers.ChoiceField(choices=OrderStatus.choices, help_text="The order's state.")
    reason_code = serializers.CharField(allow_null=True)
    items = PurchaseItemSerializer(many=True, help_text="Items the order grants.")
    new_balance = serializers.IntegerField(allow_null=True, help_text="Gold balance now (alias).")
    cyber_token_balance = serializers.IntegerField(allow_null=True, help_text="Gold balance now (alias).")
    price_type = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.IntegerField(help_text="Total charged (minor units or gold/gems).")
    discount = serializers.IntegerField()
    gold_granted = serializers.IntegerField()
    gems_granted = serializers.IntegerField()
    gold_spent = serializers.IntegerField()
    gems_spent = serializers.IntegerField()
    new_gold_balance = serializers.IntegerField(allow_null=True)
    new_gems_balance = serializers.IntegerField(allow_null=True)
    checkout_url = serializers.CharField(allow_null=True, help_text="Where to pay (money orders).")
    idempotent = serializers.BooleanField(help_text="True when this is the answer to an earlier identical request.")


class TransactionSerializer(OutputSerializer):
    id = serializers.IntegerField(help_text="The cursor for after_id.")
    receipt_code = serializers.CharField()
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ClientPurchaseStatus.choices, help_text=CLIENT_STATUS_HELP)
    state = serializers.ChoiceField(choices=OrderStatus.choices, help_text="The order's state.")
    price_type = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.IntegerField()
    discount = serializers.IntegerField()
    checkout_url = serializers.CharField(allow_null=True)
    failure_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    fulfilled_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, order: Order) -> dict[str, Any]:
        return {
            "id": order.pk,
            "receipt_code": order.receipt_code,
            "product_id": order.product.sku,
            "quantity": order.quantity,
            "status": client_purchase_status(order.status).value,
            "state": order.status,
            "price_type": order.price_type,
            "currency": order.currency,
            "amount": order.total,
            "discount": order.discount,
            "checkout_url": order.checkout_url or None,
            "failure_reason": order.failure_reason or None,
            "created_at": serializers.DateTimeField().to_representation(order.created_at),
            "paid_at": serializers.DateTimeField().to_representation(order.paid_at) if order.paid_at else None,
            "fulfilled_at": serializers.DateTimeField().to_representation(order.fulfilled_at)
            if order.fulfilled_at
            else None,
        }


class TransactionsPageSerializer(OutputSerializer):
    transactions = TransactionSerializer(many=True)
    items = TransactionSerializer(many=True, help_text="The same list (the client reads either name).")
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    has_more = serializers.BooleanField()
    next_after_id = serializers.IntegerField(allow_null=True, help_text="Send as after_id for the next page.")


class SettleSerializer(OutputSerializer):
    result = serializers.CharField()
    transaction = TransactionSerializer()


class WebhookAckSerializer(OutputSerializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField()
    result = serializers.CharField()
