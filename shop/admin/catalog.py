"""Back office for the catalog: products, limited packages, promo codes and
their redemptions.

Every save goes through ``shop.services`` (the forms, in ``forms``, ask the
same rule functions first, to show errors on the fields):

- products and promo codes: ``product_save`` / ``promo_code_save``; a promo
  code's ``uses`` is never written from here (the order flow counts it);
- limited packages: ``package_create``, ``package_update`` and
  ``package_stock_raise``, each audited with the reason staff give. The stock
  only ever goes up from here, by one conditional UPDATE that adds the
  difference to the remaining stock.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import ReadOnlyAdmin, ServiceOwnsTransactionMixin, player_link
from shop import services
from shop.admin.common import price_label
from shop.admin.forms import LimitedPackageForm, ProductForm, PromoCodeForm
from shop.exceptions import StockChangedMeanwhile
from shop.models import OPEN_STATUSES, DiscountType, LimitedPackage, OrderStatus, Product, PromoCode, PromoRedemption

# Statuses in which an order's units count as sold (not merely held for a pending payment).
SOLD_STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED)


# --- products -------------------------------------------------------------------------------


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

    def save_model(self, request: HttpRequest, obj: Product, form: Any, change: bool) -> None:
        services.product_save(product=obj)


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


@admin.register(LimitedPackage)
class LimitedPackageAdmin(ServiceOwnsTransactionMixin, admin.ModelAdmin):
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
        actor = request_staff(request)
        reason = form.cleaned_data.get("stock_change_reason", "").strip()
        if not change:
            created = services.package_create(
                actor=actor,
                product=obj.product,
                code=obj.code,
                starts_at=obj.starts_at,
                ends_at=obj.ends_at,
                total_stock=obj.total_stock,
                per_player_limit=obj.per_player_limit,
                is_active=obj.is_active,
                reason=reason,
            )
            # The admin goes on with ``obj`` (history entry, redirect): make it the row created.
            obj.pk, obj.remaining_stock, obj.created_at = created.pk, created.remaining_stock, created.created_at
            obj._state.adding, obj._state.db = False, created._state.db
            return
        services.package_update(actor=actor, package=obj, fields=form.changed_data, reason=reason)
        if "total_stock" in form.changed_data:
            self._raise_stock(request, obj, previous_total=form.initial["total_stock"], reason=reason)

    def _raise_stock(self, request: HttpRequest, package: LimitedPackage, *, previous_total: int, reason: str) -> None:
        added = package.total_stock - previous_total
        try:
            services.package_stock_raise(
                actor=request_staff(request), package=package, previous_total=previous_total, reason=reason
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


class PromoRedemptionInline(admin.TabularInline):
    model = PromoRedemption
    fields = readonly_fields = ("created_at", "user", "order")
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
        services.promo_code_save(promo=obj, fields=form.changed_data if change else None)


@admin.register(PromoRedemption)
class PromoRedemptionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "promo", "player", "order"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["promo__code", "user__site_id", "user__nickname", "order__receipt_code"]
    list_select_related = ["promo", "user", "order"]

    @admin.display(description="player", ordering="user__nickname")
    def player(self, redemption: PromoRedemption) -> SafeString | str:
        return player_link(redemption.user)
