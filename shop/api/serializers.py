from __future__ import annotations

from typing import Any

from rest_framework import serializers

from shop.models import Order


class BuyOptionsSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1, max_value=100, default=1)
    promo_code = serializers.CharField(max_length=32, required=False, allow_blank=True)
    device_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    payment_instrument = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="Card fingerprint from the payment form."
    )


class BuyInputSerializer(BuyOptionsSerializer):
    product_id = serializers.CharField(max_length=64, help_text="The product's sku.")


class BuyLimitedInputSerializer(BuyOptionsSerializer):
    package_id = serializers.CharField(max_length=64, help_text="The package's code.")


class CatalogItemSerializer(serializers.Serializer):
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


class CatalogSerializer(serializers.Serializer):
    products = CatalogItemSerializer(many=True)
    limited_packages = CatalogItemSerializer(many=True)


class PurchaseSerializer(serializers.Serializer):
    """The result of a buy (names per the client contract)."""

    success = serializers.BooleanField()
    product_id = serializers.CharField()
    package_id = serializers.CharField(allow_null=True)
    quantity = serializers.IntegerField()
    receipt_code = serializers.CharField()
    status = serializers.CharField()
    reason_code = serializers.CharField(allow_null=True)
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


class TransactionSerializer(serializers.Serializer):
    receipt_code = serializers.CharField()
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()
    status = serializers.CharField()
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
            "receipt_code": order.receipt_code,
            "product_id": order.product.sku,
            "quantity": order.quantity,
            "status": order.status,
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


class SettleSerializer(serializers.Serializer):
    result = serializers.CharField()
    transaction = TransactionSerializer()


class WebhookAckSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField()
    result = serializers.CharField()
