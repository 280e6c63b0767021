"""The shop: catalog, limited packages, promo codes, orders, payment webhooks,
fraud decisions and what players own."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from economy.enums import Currency, VipTier


class ProductKind(models.TextChoices):
    GOLD_PACK = "gold_pack", "Gold pack"
    GEM_PACK = "gem_pack", "Gem pack"
    BUNDLE = "bundle", "Bundle"
    ITEM = "item", "Item"


class PriceType(models.TextChoices):
    MONEY = "money", "Real money"
    GOLD = Currency.GOLD.value, "Gold"
    GEMS = Currency.GEMS.value, "Gems"


class Product(models.Model):
    sku = models.SlugField(max_length=64, unique=True, help_text="Stable id the client uses (product_id).")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=ProductKind.choices)
    price_type = models.CharField(max_length=8, choices=PriceType.choices)
    price_amount = models.PositiveBigIntegerField(help_text="Minor units (cents) for money; units for gold/gems.")
    price_currency = models.CharField(
        max_length=3, blank=True, help_text="ISO 4217 code for money prices (e.g. USD); empty for gold/gems."
    )
    grants = models.JSONField(default=dict, blank=True, help_text='Currencies granted per unit, e.g. {"gold": 5000}.')
    grant_items = models.JSONField(default=list, blank=True, help_text='Items granted per unit, e.g. ["avatar_frame"].')
    is_active = models.BooleanField(default=True)
    is_highlighted = models.BooleanField(default=False, help_text="Shown among the dashboard's shop highlights.")
    sort_order = models.IntegerField(default=0)
    min_vip_tier = models.CharField(max_length=16, choices=VipTier.choices, blank=True)
    limit_daily = models.PositiveIntegerField(null=True, blank=True, help_text="Units per player per UTC day.")
    limit_weekly = models.PositiveIntegerField(null=True, blank=True, help_text="Units per player per week (Mon-Sun).")
    limit_monthly = models.PositiveIntegerField(null=True, blank=True, help_text="Units per player per month.")
    limit_lifetime = models.PositiveIntegerField(null=True, blank=True, help_text="Units per player ever.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(price_type="money") & ~Q(price_currency=""))
                | (~Q(price_type="money") & Q(price_currency="")),
                name="product_money_price_has_currency",
            ),
            models.CheckConstraint(condition=Q(price_amount__gt=0), name="product_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    @property
    def is_money(self) -> bool:
        return self.price_type == PriceType.MONEY

    @property
    def currency_label(self) -> str:
        return self.price_currency if self.is_money else self.price_type


class LimitedPackage(models.Model):
    """A product on sale for a window, from a fixed stock. ``remaining_stock``
    only ever changes through one conditional UPDATE (see shop.services.stock)."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="packages")
    code = models.SlugField(max_length=64, unique=True, help_text="package_id for the client.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    total_stock = models.PositiveIntegerField()
    remaining_stock = models.PositiveIntegerField()
    per_player_limit = models.PositiveIntegerField(default=1)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ends_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining_stock__lte=models.F("total_stock")), name="package_stock_within_total"
            ),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="package_window_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.remaining_stock}/{self.total_stock})"


class DiscountType(models.TextChoices):
    PERCENT = "percent", "Percent"
    FIXED = "fixed", "Fixed amount"


class PromoCode(models.Model):
    code = models.CharField(max_length=32, unique=True, help_text="Stored upper-case.")
    discount_type = models.CharField(max_length=8, choices=DiscountType.choices)
    discount_value = models.PositiveIntegerField(help_text="Percent (1-100) or an amount in the price's units.")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    max_total_uses = models.PositiveIntegerField(null=True, blank=True)
    uses = models.PositiveIntegerField(default=0)
    max_uses_per_player = models.PositiveIntegerField(default=1)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, help_text="Only for this product."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_total_uses__isnull=True) | Q(uses__lte=models.F("max_total_uses")),
                name="promo_uses_within_max",
            ),
            models.CheckConstraint(
                condition=~Q(discount_type="percent") | Q(discount_value__lte=100), name="promo_percent_at_most_100"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending payment"
    PENDING_REVIEW = "pending_review", "Waiting for fraud review"
    PAID = "paid", "Paid"
    FULFILLED = "fulfilled", "Fulfilled"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    REFUNDED = "refunded", "Refunded"


OPEN_STATUSES = (OrderStatus.PENDING, OrderStatus.PENDING_REVIEW)


class Order(models.Model):
    receipt_code = models.CharField(max_length=32, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    package = models.ForeignKey(LimitedPackage, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=OrderStatus.choices, db_index=True)
    price_type = models.CharField(max_length=8, choices=PriceType.choices)
    currency = models.CharField(max_length=8, help_text="ISO code for money, else gold/gems.")
    unit_price = models.PositiveBigIntegerField()
    subtotal = models.PositiveBigIntegerField()
    discount = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(help_text="What the player pays, computed by the server.")
    promo = models.ForeignKey(PromoCode, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    grants = models.JSONField(default=dict, help_text="Currencies granted on fulfilment (all units).")
    grant_items = models.JSONField(default=list)
    provider = models.CharField(max_length=32, blank=True)
    provider_reference = models.CharField(max_length=128, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    stock_held = models.BooleanField(default=False, help_text="A package unit is reserved for this order.")
    failure_reason = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    device_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="order_unique_user_key"),
            # A webhook finds its order by the provider's reference: one order per reference.
            models.UniqueConstraint(
                fields=["provider", "provider_reference"],
                condition=~Q(provider_reference=""),
                name="order_unique_provider_reference",
            ),
            models.CheckConstraint(condition=Q(total__lte=models.F("subtotal")), name="order_total_within_subtotal"),
        ]
        indexes = [
            models.Index(fields=["user", "product", "status", "created_at"], name="order_limits_idx"),
            models.Index(fields=["status", "created_at"], name="order_status_age_idx"),
            # The staff dashboard's revenue figures and chart (a covering index on PostgreSQL).
            models.Index(
                fields=["fulfilled_at"],
                include=["price_type", "currency", "total", "user"],
                condition=Q(status="fulfilled"),
                name="order_fulfilled_idx",
            ),
        ]
        # Staff actions with their own permission (promise 7); orders are never edited in a form.
        permissions = [
            ("settle_order", "Can settle an order with the payment provider"),
            ("refund_order", "Can refund an order"),
            ("review_order", "Can approve or reject an order held for fraud review"),
            ("view_revenue", "Can see revenue, conversion and ARPPU on the staff dashboard"),
        ]

    def __str__(self) -> str:
        return f"{self.receipt_code} ({self.status})"


class OrderTransition(models.Model):
    """Every status change of an order: who or what caused it, and why."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16)
    reason = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '-'} -> {self.to_status}"


class PromoRedemption(models.Model):
    promo = models.ForeignKey(PromoCode, on_delete=models.PROTECT, related_name="redemptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="redemption")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.promo_id} by {self.user_id} ({self.order_id})"


class OwnedItem(models.Model):
    """An item a player bought (items are granted by products)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_items")
    item_code = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "item_code"], name="owned_item_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.item_code} x{self.quantity}"


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed"
    IGNORED = "ignored", "Ignored (duplicate or irrelevant)"


class WebhookEvent(models.Model):
    """Every delivery to our payment webhook, valid or not."""

    provider = models.CharField(max_length=32)
    external_id = models.CharField(max_length=128, help_text="The provider's webhook id (webhook-id header).")
    event_type = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED)
    error_code = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=1, help_text="Deliveries and re-processings seen.")
    last_error = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    raw_body = models.TextField(blank=True)
    signature_valid = models.BooleanField(default=False)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhooks")
    received_at = models.DateTimeField(db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # Only verified deliveries claim an id: a forged request must not be
            # able to burn the id of a real one that arrives later.
            models.UniqueConstraint(
                fields=["provider", "external_id"], condition=Q(signature_valid=True), name="webhook_unique_verified_id"
            )
        ]
        permissions = [("reprocess_webhook", "Can re-process a verified webhook delivery")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.external_id} ({self.status})"


class FraudAction(models.TextChoices):
    ALLOW = "allow", "Allow"
    REVIEW = "review", "Review"
    BLOCK = "block", "Block"


class FraudDecision(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    order = models.OneToOneField(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="fraud_decision")
    action = models.CharField(max_length=8, choices=FraudAction.choices, db_index=True)
    score = models.IntegerField()
    matched_rules = models.JSONField(default=list)
    features = models.JSONField(default=dict)
    rules_version = models.CharField(max_length=64, blank=True, help_text="Hash of the rules file used.")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} ({self.score}) for {self.user_id}"


class SandboxPaymentStatus(models.TextChoices):
    CREATED = "created", "Created (waiting for the payer)"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"
    REFUNDED = "refunded", "Refunded"
    CANCELED = "canceled", "Canceled (the order expired)"


class SandboxPayment(models.Model):
    """The sandbox payment provider's own books. It stands in for an external
    provider's database: the order flow never reads this table, it talks to
    the provider through ``shop.providers``."""

    reference = models.CharField(max_length=64, unique=True)
    merchant_reference = models.CharField(
        max_length=64, help_text="Our receipt code, as a real provider would keep it."
    )
    amount = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=SandboxPaymentStatus.choices, default=SandboxPaymentStatus.CREATED)
    payment_instrument = models.CharField(max_length=64, blank=True, help_text="Card fingerprint or similar.")
    refunded_amount = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"sandbox {self.reference} ({self.status})"
