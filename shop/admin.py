"""Back office for the shop: catalog, limited packages, promo codes, orders,
payment webhooks, fraud decisions and the sandbox provider's books.

What staff may change, and how (design promise 7):

- the catalog (products, promo codes) is edited through forms; every save
  writes only the fields the form changed, so counters the order flow keeps
  (``PromoCode.uses``) are never overwritten with a stale copy;
- limited-package stock only ever goes up from here, by one conditional
  F() UPDATE that adds the difference to the remaining stock, and each change
  is audited with the reason staff give;
- orders are read-only: settlement, refunds and fraud reviews are actions that
  ask for a reason and call ``shop.services`` once per selected order (each its
  own transaction, each audited by the service);
- webhooks, fraud decisions, redemptions, owned items and the sandbox payments
  are records to read; a failed verified webhook can be re-processed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from casino.admin_tools import ReadOnlyAdmin, action_with_reason
from casino.errors import ApplicationError
from casino.services import audit_record
from economy.enums import Currency
from economy.services.ledger import MAX_AMOUNT
from shop import services
from shop.exceptions import StockChangedMeanwhile, WebhookRejected
from shop.models import (
    OPEN_STATUSES,
    DiscountType,
    FraudDecision,
    LimitedPackage,
    Order,
    OrderStatus,
    OrderTransition,
    OwnedItem,
    PriceType,
    Product,
    PromoCode,
    PromoRedemption,
    SandboxPayment,
    WebhookEvent,
    WebhookStatus,
)
from shop.providers import PROVIDERS

# Orders and webhooks are read-only rows; the model's "change" permission means
# "may act on them" (settle, refund, review, re-process), as the wallet admin does.
ORDER_ACTION_PERMISSION = "shop.change_order"
WEBHOOK_ACTION_PERMISSION = "shop.change_webhookevent"

# Statuses in which an order's units count as sold (not merely held for a pending payment).
SOLD_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)

# ISO 4217 minor-unit exponents that are not 2 (the rest have cents).
_CURRENCY_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX"), 0),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
ISO_CURRENCY = re.compile(r"[A-Z]{3}")
GRANTABLE_CURRENCIES = tuple(Currency.values)
# A grant is per unit; an order may hold up to MAX_QUANTITY units and the ledger
# refuses any single amount above MAX_AMOUNT, so a unit grant must stay below the quotient.
MAX_GRANT_PER_UNIT = MAX_AMOUNT // services.MAX_QUANTITY


def price_label(amount: int, price_type: str, currency: str) -> str:
    """How staff read a price: money in major units with its ISO code
    (1299 USD -> "12.99 USD", 1500 KRW -> "1,500 KRW"), game currency as a
    count ("500 gems")."""
    if price_type != PriceType.MONEY:
        return f"{amount:,} {currency or price_type}"
    exponent = _CURRENCY_EXPONENTS.get(currency.upper(), 2)
    return f"{Decimal(amount).scaleb(-exponent):,.{exponent}f} {currency.upper()}"


def _admin_link(obj: Any, label: Any = None) -> SafeString | str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if label is None else label)


def _json_block(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def _save_changed_fields(obj: Any, form: forms.ModelForm, *, skip: tuple[str, ...] = ()) -> None:
    """Save only what the form changed. A full ``save()`` would also write the
    columns the order flow moves with conditional UPDATEs (stock, uses) from
    the copy loaded with the form, undoing every purchase made meanwhile."""
    concrete = {field.name for field in obj._meta.concrete_fields}
    changed = [name for name in form.changed_data if name in concrete and name not in skip]
    if changed:
        obj.save(update_fields=changed)


class ProviderFilter(admin.SimpleListFilter):
    """Providers from the registry, not ``SELECT DISTINCT provider`` over a
    table that grows without bound."""

    title = "provider"
    parameter_name = "provider"
    extra: tuple[tuple[str, str], ...] = ()

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*self.extra, *((name, name) for name in sorted(PROVIDERS))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        return queryset.filter(provider=self.value()) if self.value() else queryset


class OrderProviderFilter(ProviderFilter):
    # Game-currency orders are paid from the wallet (shop.services sets provider="wallet").
    extra = (("wallet", "wallet (gold/gems)"),)


# --- products -------------------------------------------------------------------------------


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "description",
            "kind",
            "price_type",
            "price_amount",
            "price_currency",
            "grants",
            "grant_items",
            "is_active",
            "is_highlighted",
            "sort_order",
            "min_vip_tier",
            "limit_daily",
            "limit_weekly",
            "limit_monthly",
            "limit_lifetime",
        ]

    def clean_price_amount(self) -> int:
        amount: int = self.cleaned_data["price_amount"]
        if amount < 1:
            raise forms.ValidationError("The price must be at least 1 (minor units for money, units for gold/gems).")
        return amount

    def clean_price_currency(self) -> str:
        return str(self.cleaned_data.get("price_currency") or "").strip().upper()

    def clean_grants(self) -> dict[str, int]:
        grants = self.cleaned_data.get("grants")
        if grants in (None, ""):
            return {}
        if not isinstance(grants, dict):
            raise forms.ValidationError('Grants must be a JSON object of currency to amount, e.g. {"gems": 500}.')
        problems = []
        for currency, amount in grants.items():
            if currency not in GRANTABLE_CURRENCIES:
                problems.append(f"unknown currency {currency!r} (known: {', '.join(GRANTABLE_CURRENCIES)})")
            elif isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                problems.append(f"{currency}: the amount must be a positive whole number, not {amount!r}")
            elif amount > MAX_GRANT_PER_UNIT:
                problems.append(f"{currency}: at most {MAX_GRANT_PER_UNIT} per unit")
        if problems:
            raise forms.ValidationError("; ".join(problems) + ".")
        return grants

    def clean_grant_items(self) -> list[str]:
        items = self.cleaned_data.get("grant_items")
        if items in (None, ""):
            return []
        if not isinstance(items, list) or not all(isinstance(i, str) and 0 < len(i.strip()) <= 64 for i in items):
            raise forms.ValidationError('Items must be a JSON list of item codes (1-64 characters): ["avatar_frame"].')
        return [item.strip() for item in items]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        price_type = cleaned.get("price_type")
        currency = cleaned.get("price_currency", "")
        if price_type == PriceType.MONEY:
            if not currency:
                self.add_error("price_currency", "A real-money price needs an ISO 4217 currency code, e.g. USD.")
            elif not ISO_CURRENCY.fullmatch(currency):
                self.add_error("price_currency", "Enter a three-letter ISO 4217 currency code, e.g. USD or EUR.")
        elif price_type in (PriceType.GOLD, PriceType.GEMS) and currency:
            self.add_error("price_currency", "A gold or gems price has no currency: leave this empty.")
        if "grants" in cleaned and "grant_items" in cleaned and not cleaned["grants"] and not cleaned["grant_items"]:
            raise forms.ValidationError("The product grants nothing: give it currencies (grants) or items.")
        return cleaned


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductForm
    list_display = [
        "sku",
        "name",
        "kind",
        "price",
        "is_active",
        "is_highlighted",
        "sort_order",
        "min_vip_tier",
        "limits",
    ]
    list_display_links = ["sku", "name"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["kind", "price_type", "is_active", "is_highlighted"]
    search_fields = ["sku", "name"]
    ordering = ["sort_order", "id"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = (
        (None, {"fields": ("sku", "name", "description", "kind")}),
        (
            "Price",
            {
                "fields": ("price_type", "price_amount", "price_currency"),
                "description": "Money prices are in minor units (cents) with an ISO currency; "
                "gold and gems prices are plain units with no currency.",
            },
        ),
        ("What a unit grants", {"fields": ("grants", "grant_items")}),
        ("Shop placement", {"fields": ("is_active", "is_highlighted", "sort_order", "min_vip_tier")}),
        ("Limits per player", {"fields": ("limit_daily", "limit_weekly", "limit_monthly", "limit_lifetime")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="price", ordering="price_amount")
    def price(self, product: Product) -> str:
        return price_label(product.price_amount, product.price_type, product.currency_label)

    @admin.display(description="limits")
    def limits(self, product: Product) -> str:
        parts = [
            f"{limit}/{period}"
            for period, limit in (
                ("day", product.limit_daily),
                ("week", product.limit_weekly),
                ("month", product.limit_monthly),
                ("lifetime", product.limit_lifetime),
            )
            if limit is not None
        ]
        return ", ".join(parts) or "-"


# --- limited packages -----------------------------------------------------------------------


class SaleWindowFilter(admin.SimpleListFilter):
    title = "sale"
    parameter_name = "sale"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("on_sale", "On sale now"),
            ("paused", "In window, not on sale"),
            ("upcoming", "Upcoming"),
            ("ended", "Ended"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        now = timezone.now()
        in_window = Q(starts_at__lte=now, ends_at__gt=now)
        on_sale = in_window & Q(is_active=True, product__is_active=True)
        match self.value():
            case "on_sale":
                return queryset.filter(on_sale)
            case "paused":
                return queryset.filter(in_window).exclude(on_sale)
            case "upcoming":
                return queryset.filter(starts_at__gt=now)
            case "ended":
                return queryset.filter(ends_at__lte=now)
        return queryset


class LimitedPackageForm(forms.ModelForm):
    """Creating sets the stock; changing may only raise ``total_stock``.

    ``remaining_stock`` is never a form field: the order flow moves it with
    conditional UPDATEs, and a form would write back the figure it loaded.
    ``expected_total_stock`` carries the total shown when the page was built,
    so a raise made from a stale page (someone else raised meanwhile) is sent
    back instead of being applied on top."""

    stock_change_reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why the stock is set or changed: kept in the audit log (required when raising the stock).",
    )
    expected_total_stock = forms.IntegerField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = LimitedPackage
        fields = ["product", "code", "starts_at", "ends_at", "total_stock", "per_player_limit", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["expected_total_stock"].initial = self.instance.total_stock
            self.fields[
                "total_stock"
            ].help_text = "Can only be raised; the units added are added to the remaining stock."
        else:
            self.fields["total_stock"].help_text = "Units on sale; the remaining stock starts at this figure."

    def clean_total_stock(self) -> int:
        total: int = self.cleaned_data["total_stock"]
        if total < 1:
            raise forms.ValidationError("A package needs at least one unit of stock.")
        if self.instance.pk and total < self.initial["total_stock"]:
            raise forms.ValidationError(
                f"The stock can only be raised (it is {self.initial['total_stock']}). "
                "To stop selling, deactivate the package or end its window."
            )
        return total

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The sale must end after it starts.")
        if self.instance.pk and "total_stock" in self.changed_data and "total_stock" in cleaned:
            current = self.initial["total_stock"]
            expected = cleaned.get("expected_total_stock")
            if expected is not None and expected != current:
                # Show the current figures and let the next submit be judged against them.
                self.data = self.data.copy()
                self.data[self.add_prefix("expected_total_stock")] = str(current)
                self.add_error(
                    "total_stock",
                    f"The stock was changed while you were editing: the total is now {current} "
                    f"({self.instance.remaining_stock} left). Check the figures and submit again.",
                )
            if not cleaned.get("stock_change_reason", "").strip():
                self.add_error("stock_change_reason", "Say why the stock is raised (kept in the audit log).")
        return cleaned


@admin.register(LimitedPackage)
class LimitedPackageAdmin(admin.ModelAdmin):
    form = LimitedPackageForm
    list_display = [
        "code",
        "product",
        "sale_status",
        "starts_at",
        "ends_at",
        "stock",
        "sold",
        "per_player_limit",
        "is_active",
    ]
    list_filter = ["is_active", SaleWindowFilter]
    search_fields = ["code", "product__sku", "product__name"]
    list_select_related = ["product"]
    ordering = ["-starts_at", "-id"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LimitedPackage]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                sold_units=Sum("orders__quantity", filter=Q(orders__status__in=SOLD_STATUSES), default=0),
                held_units=Sum(
                    "orders__quantity",
                    filter=Q(orders__stock_held=True, orders__status__in=OPEN_STATUSES),
                    default=0,
                ),
            )
        )

    def get_fieldsets(self, request: HttpRequest, obj: LimitedPackage | None = None) -> Any:
        if obj is None:
            return (
                (None, {"fields": ("product", "code", "is_active")}),
                ("Sale window", {"fields": ("starts_at", "ends_at")}),
                ("Stock", {"fields": ("total_stock", "per_player_limit", "stock_change_reason")}),
            )
        return (
            (None, {"fields": ("product", "code", "is_active", "sale_status")}),
            ("Sale window", {"fields": ("starts_at", "ends_at")}),
            (
                "Stock",
                {
                    "fields": (
                        "remaining_stock",
                        "sold",
                        "held",
                        "total_stock",
                        "per_player_limit",
                        "stock_change_reason",
                        "expected_total_stock",
                    )
                },
            ),
            ("History", {"fields": ("created_at",)}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: LimitedPackage | None = None) -> Any:
        if obj is None:
            return []
        # The product is fixed once orders may point at the package.
        return ["product", "sale_status", "remaining_stock", "sold", "held", "created_at"]

    @admin.display(description="sale")
    def sale_status(self, package: LimitedPackage) -> str:
        now = timezone.now()
        if package.ends_at <= now:
            return "ended"
        if package.starts_at > now:
            return "upcoming"
        return "on sale" if package.is_active and package.product.is_active else "not on sale"

    @admin.display(description="stock (left/total)", ordering="remaining_stock")
    def stock(self, package: LimitedPackage) -> str:
        return f"{package.remaining_stock}/{package.total_stock}"

    @admin.display(description="sold")
    def sold(self, package: LimitedPackage) -> int:
        return int(getattr(package, "sold_units", 0))

    @admin.display(description="held for pending payments")
    def held(self, package: LimitedPackage) -> int:
        return int(getattr(package, "held_units", 0))

    def save_model(self, request: HttpRequest, obj: LimitedPackage, form: Any, change: bool) -> None:
        reason = form.cleaned_data.get("stock_change_reason", "").strip()
        with transaction.atomic():
            if not change:
                obj.remaining_stock = obj.total_stock
                obj.save()
                audit_record(
                    actor=request.user,
                    action="package_create",
                    target=obj,
                    reason=reason or "new limited package",
                    data={"product": obj.product.sku, "total_stock": obj.total_stock},
                )
                return
            _save_changed_fields(obj, form, skip=("total_stock", "remaining_stock"))
            if "total_stock" in form.changed_data:
                self._raise_stock(request, obj, previous_total=form.initial["total_stock"], reason=reason)

    def _raise_stock(self, request: HttpRequest, package: LimitedPackage, *, previous_total: int, reason: str) -> None:
        added = package.total_stock - previous_total
        try:
            services.package_stock_raise(
                actor=request.user, package=package, previous_total=previous_total, reason=reason
            )
        except StockChangedMeanwhile:
            self.message_user(
                request,
                f"The stock of {package.code} was changed by someone else at the same moment and was not raised: "
                f"it is {package.remaining_stock}/{package.total_stock}. Check it and try again.",
                messages.ERROR,
            )
            return
        self.message_user(
            request,
            f"Added {added} unit(s) to {package.code}: {package.remaining_stock} of {package.total_stock} left.",
            messages.SUCCESS,
        )


# --- promo codes ----------------------------------------------------------------------------


class PromoCodeForm(forms.ModelForm):
    class Meta:
        model = PromoCode
        fields = [
            "code",
            "discount_type",
            "discount_value",
            "product",
            "starts_at",
            "ends_at",
            "max_total_uses",
            "max_uses_per_player",
            "is_active",
        ]

    def clean_code(self) -> str:
        code = str(self.cleaned_data["code"]).strip().upper()
        if not code or any(char.isspace() for char in code):
            raise forms.ValidationError("A code is one word without spaces.")
        return code

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind, value = cleaned.get("discount_type"), cleaned.get("discount_value")
        if value is not None and value < 1:
            self.add_error("discount_value", "The discount must be at least 1.")
        elif kind == DiscountType.PERCENT and value is not None and value > 100:
            self.add_error("discount_value", "A percentage is at most 100.")
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The code must expire after it starts.")
        max_total = cleaned.get("max_total_uses")
        if self.instance.pk and max_total is not None and max_total < self.instance.uses:
            self.add_error("max_total_uses", f"The code was already used {self.instance.uses} time(s).")
        if cleaned.get("max_uses_per_player") == 0:
            self.add_error("max_uses_per_player", "At least 1.")
        return cleaned


class PromoRedemptionInline(admin.TabularInline):
    model = PromoRedemption
    fields = ["created_at", "user", "order"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ["-created_at"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[PromoRedemption]:
        return super().get_queryset(request).select_related("user", "order")


@admin.register(PromoCode)
class PromoCodeAdmin(admin.ModelAdmin):
    form = PromoCodeForm
    list_display = ["code", "discount", "product", "usage", "max_uses_per_player", "starts_at", "ends_at", "is_active"]
    list_filter = ["is_active", "discount_type"]
    search_fields = ["code"]
    list_select_related = ["product"]
    readonly_fields = ["uses", "created_at"]
    inlines = [PromoRedemptionInline]

    @admin.display(description="discount", ordering="discount_value")
    def discount(self, promo: PromoCode) -> str:
        if promo.discount_type == DiscountType.PERCENT:
            return f"{promo.discount_value}%"
        return f"{promo.discount_value} off"

    @admin.display(description="uses / max", ordering="uses")
    def usage(self, promo: PromoCode) -> str:
        return f"{promo.uses} / {'unlimited' if promo.max_total_uses is None else promo.max_total_uses}"

    def save_model(self, request: HttpRequest, obj: PromoCode, form: Any, change: bool) -> None:
        if change:
            _save_changed_fields(obj, form, skip=("uses",))
        else:
            super().save_model(request, obj, form, change)


# --- orders ---------------------------------------------------------------------------------


class OrderTransitionInline(admin.TabularInline):
    model = OrderTransition
    fields = ["created_at", "from_status", "to_status", "reason", "actor"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderTransition]:
        return super().get_queryset(request).select_related("actor")


def _order_action(
    *, name: str, description: str, call: Callable[[HttpRequest, Order, str], str], success: str
) -> Callable[..., HttpResponse | None]:
    """An order action: a reason first, then ``call`` once per order; ``call``
    returns the line reported for that order (errors are reported by
    ``action_with_reason``). Offered to staff who may act on orders."""

    def service(request: HttpRequest, order: Order, reason: str) -> None:
        messages.info(request, f"{order.receipt_code}: {call(request, order, reason)}")

    action = action_with_reason(name=name, description=description, service=service, success=success)
    action.allowed_permissions = ("act_on_orders",)  # type: ignore[attr-defined]
    return action


def _settle(request: HttpRequest, order: Order, reason: str) -> str:
    result = services.order_settle(order=order, actor=request.user, reason=reason)
    return f"settlement: {result.replace('_', ' ')} (status {order.get_status_display().lower()})"


def _refund(request: HttpRequest, order: Order, reason: str) -> str:
    refunded = services.order_refund(actor=request.user, order=order, reason=reason)
    return f"refunded {price_label(refunded.total, refunded.price_type, refunded.currency)}"


def _review(approve: bool) -> Callable[[HttpRequest, Order, str], str]:
    def decide(request: HttpRequest, order: Order, reason: str) -> str:
        decided = services.order_review(actor=request.user, order=order, approve=approve, reason=reason)
        return f"review {'approved' if approve else 'rejected'}, now {decided.get_status_display().lower()}"

    return decide


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "receipt_code",
        "user",
        "product",
        "quantity",
        "status",
        "total_display",
        "provider",
        "created_at",
        "paid_at",
        "fulfilled_at",
    ]
    list_filter = ["status", OrderProviderFilter, "price_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["receipt_code", "user__site_id", "provider_reference"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "product"]
    show_full_result_count = False  # orders grow without bound: no COUNT(*) per page
    inlines = [OrderTransitionInline]
    fieldsets = (
        (None, {"fields": ("receipt_code", "user", "status", "failure_reason", "fraud", "webhook_list")}),
        ("What", {"fields": ("product", "package", "quantity", "grants", "grant_items", "stock_held")}),
        (
            "Money",
            {"fields": ("price_type", "currency", "unit_price", "subtotal", "discount", "total_display", "promo")},
        ),
        ("Payment", {"fields": ("provider", "provider_reference", "checkout_url")}),
        ("When", {"fields": ("created_at", "updated_at", "paid_at", "fulfilled_at", "refunded_at")}),
        ("Request", {"fields": ("idempotency_key", "request_fingerprint", "ip_address", "device_id")}),
    )
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    actions = [
        _order_action(
            name="settle_orders",
            description="Settle with the provider",
            call=_settle,
            success="Asked the provider about {count} order(s).",
        ),
        _order_action(name="refund_orders", description="Refund", call=_refund, success="Refunded {count} order(s)."),
        _order_action(
            name="approve_review",
            description="Approve review (send to payment)",
            call=_review(True),
            success="Approved {count} order(s).",
        ),
        _order_action(
            name="reject_review",
            description="Reject review (fail the order)",
            call=_review(False),
            success="Rejected {count} order(s).",
        ),
    ]

    def has_act_on_orders_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(ORDER_ACTION_PERMISSION))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).select_related("user", "product")

    @admin.display(description="total", ordering="total")
    def total_display(self, order: Order) -> str:
        return price_label(order.total, order.price_type, order.currency)

    @admin.display(description="fraud decision")
    def fraud(self, order: Order) -> SafeString | str:
        decision = FraudDecision.objects.filter(order=order).first()
        if decision is None:
            return "-"
        return _admin_link(decision, f"{decision.get_action_display()} (score {decision.score})")

    @admin.display(description="webhooks")
    def webhook_list(self, order: Order) -> SafeString | str:
        count = WebhookEvent.objects.filter(order=order).count()
        if not count:
            return "-"
        url = reverse("admin:shop_webhookevent_changelist") + f"?order__id__exact={order.pk}"
        return format_html('<a href="{}">{} delivery(ies)</a>', url, count)


# --- webhooks -------------------------------------------------------------------------------


REPROCESSABLE = (WebhookStatus.FAILED, WebhookStatus.RECEIVED)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "provider",
        "external_id",
        "event_type",
        "status",
        "error_code",
        "signature_valid",
        "attempts",
        "order_link",
    ]
    list_filter = [
        "status",
        ProviderFilter,
        "error_code",
        "signature_valid",
        ("received_at", admin.DateFieldListFilter),
    ]
    search_fields = ["external_id"]
    list_select_related = ["order"]
    show_full_result_count = False
    fields = [
        "provider",
        "external_id",
        "event_type",
        "status",
        "error_code",
        "last_error",
        "signature_valid",
        "attempts",
        "order_link",
        "received_at",
        "processed_at",
        "payload_pretty",
        "raw_body_pretty",
    ]
    readonly_fields = fields
    actions = ["reprocess"]

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(WEBHOOK_ACTION_PERMISSION))

    @admin.display(description="order", ordering="order__receipt_code")
    def order_link(self, event: WebhookEvent) -> SafeString | str:
        return _admin_link(event.order, event.order.receipt_code if event.order else None)

    @admin.display(description="payload")
    def payload_pretty(self, event: WebhookEvent) -> SafeString:
        return _json_block(event.payload)

    @admin.display(description="raw body")
    def raw_body_pretty(self, event: WebhookEvent) -> SafeString:
        return format_html("<pre>{}</pre>", event.raw_body)

    @admin.action(description="Re-process selected webhooks", permissions=["reprocess"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        """Apply stored verified deliveries again (``webhook_process`` audits
        each one). Unverified deliveries are never applied: their payload is
        not trusted."""
        done = 0
        for event in queryset.order_by("pk"):
            if not event.signature_valid or event.status not in REPROCESSABLE:
                why = "its signature was not verified" if not event.signature_valid else f"it is {event.status}"
                self.message_user(request, f"{event}: skipped, {why}.", messages.WARNING)
                continue
            try:  # one transaction per event, owned by the service
                result = services.webhook_process(event=event, actor=request.user)
            except WebhookRejected as exc:
                self.message_user(request, f"{event.external_id}: refused ({exc.code}): {exc.message}", messages.ERROR)
            except ApplicationError as exc:
                self.message_user(request, f"{event.external_id}: {exc.message}", messages.ERROR)
            else:
                done += 1
                self.message_user(request, f"{event.external_id}: {result.replace('_', ' ')}.", messages.INFO)
        if done:
            self.message_user(request, f"Re-processed {done} webhook(s).", messages.SUCCESS)


# --- fraud decisions ------------------------------------------------------------------------


@admin.register(FraudDecision)
class FraudDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "action", "score", "rules", "order_link", "rules_version_short"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__site_id"]
    list_select_related = ["user", "order"]
    show_full_result_count = False
    fields = [
        "created_at",
        "user",
        "action",
        "score",
        "order_link",
        "matched_rules_table",
        "features_table",
        "rules_version",
    ]
    readonly_fields = fields

    @admin.display(description="matched rules")
    def rules(self, decision: FraudDecision) -> str:
        names = [str(rule.get("name", rule) if isinstance(rule, dict) else rule) for rule in decision.matched_rules]
        return ", ".join(names) or "-"

    @admin.display(description="order")
    def order_link(self, decision: FraudDecision) -> SafeString | str:
        return _admin_link(decision.order, decision.order.receipt_code if decision.order else None)

    @admin.display(description="rules version")
    def rules_version_short(self, decision: FraudDecision) -> str:
        return decision.rules_version[:12]

    @admin.display(description="matched rules")
    def matched_rules_table(self, decision: FraudDecision) -> SafeString:
        if not decision.matched_rules:
            return format_html("<p>{}</p>", "No rule matched.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            (
                (rule.get("name", ""), rule.get("points", "")) if isinstance(rule, dict) else (rule, "")
                for rule in decision.matched_rules
            ),
        )
        return format_html(
            '<table class="fraud-rules"><thead><tr><th>Rule</th><th>Points</th></tr></thead>'
            "<tbody>{}</tbody><tfoot><tr><th>Score</th><th>{}</th></tr></tfoot></table>",
            rows,
            decision.score,
        )

    @admin.display(description="features")
    def features_table(self, decision: FraudDecision) -> SafeString:
        if not decision.features:
            return format_html("<p>{}</p>", "None recorded.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((name, "unknown" if value is None else value) for name, value in sorted(decision.features.items())),
        )
        return format_html(
            '<table class="fraud-features"><thead><tr><th>Feature</th><th>Value</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )


# --- the rest: records to read --------------------------------------------------------------


@admin.register(SandboxPayment)
class SandboxPaymentAdmin(ReadOnlyAdmin):
    """The sandbox provider's own books (a stand-in for the provider's dashboard)."""

    list_display = [
        "created_at",
        "reference",
        "merchant_reference",
        "amount_display",
        "status",
        "payment_instrument",
        "refunded_amount",
        "updated_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["reference", "merchant_reference"]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, payment: SandboxPayment) -> str:
        return price_label(payment.amount, PriceType.MONEY, payment.currency)


@admin.register(OwnedItem)
class OwnedItemAdmin(ReadOnlyAdmin):
    list_display = ["user", "item_code", "quantity", "updated_at"]
    search_fields = ["user__site_id", "item_code"]
    list_select_related = ["user"]


@admin.register(PromoRedemption)
class PromoRedemptionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "promo", "user", "order"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["promo__code", "user__site_id", "order__receipt_code"]
    list_select_related = ["promo", "user", "order"]
