"""The catalog's admin forms. Each asks the rules in ``shop.services`` (the same
functions the services enforce on save) and shows their refusals on the fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict

from economy.exceptions import ReasonRequired
from shop import services
from shop.exceptions import StockCanOnlyGrow
from shop.models import LimitedPackage, Product, PromoCode

PRODUCT_TERMS = ("price_type", "price_amount", "price_currency", "grants", "grant_items")


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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if all(name in cleaned for name in PRODUCT_TERMS):  # else the fields already show their errors
            try:
                terms = services.product_terms_validate(**{name: cleaned[name] for name in PRODUCT_TERMS})
            except ValidationError as exc:
                self.add_error(None, exc)
            else:
                cleaned.update(price_currency=terms.price_currency, grants=terms.grants, grant_items=terms.grant_items)
        return cleaned


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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        starts_at, ends_at, total = cleaned.get("starts_at"), cleaned.get("ends_at"), cleaned.get("total_stock")
        if starts_at and ends_at and total is not None:
            try:
                services.package_terms_validate(starts_at=starts_at, ends_at=ends_at, total_stock=total)
            except ValidationError as exc:
                self.add_error(None, exc)
        if self.instance.pk and "total_stock" in self.changed_data and "total_stock" in cleaned:
            self._check_raise(cleaned)
        return cleaned

    def _check_raise(self, cleaned: dict[str, Any]) -> None:
        current = self.initial["total_stock"]
        try:
            services.package_stock_raise_check(
                previous_total=current,
                total_stock=cleaned["total_stock"],
                reason=cleaned.get("stock_change_reason", ""),
            )
        except StockCanOnlyGrow:
            self.add_error(
                "total_stock",
                f"The stock can only be raised (it is {current}). "
                "To stop selling, deactivate the package or end its window.",
            )
            return
        except ReasonRequired as exc:
            self.add_error("stock_change_reason", exc.message)
        expected = cleaned.get("expected_total_stock")
        if expected is not None and expected != current:
            # Show the current figures and let the next submit be judged against them.
            data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
            data[self.add_prefix("expected_total_stock")] = str(current)
            self.data = data
            self.add_error(
                "total_stock",
                f"The stock was changed while you were editing: the total is now {current} "
                f"({self.instance.remaining_stock} left). Check the figures and submit again.",
            )


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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            if "code" in cleaned:
                cleaned["code"] = services.promo_code_normalise(str(cleaned["code"]))
            if all(name in cleaned for name in ("discount_type", "discount_value", "max_uses_per_player")):
                services.promo_code_terms_validate(
                    discount_type=cleaned["discount_type"],
                    discount_value=cleaned["discount_value"],
                    starts_at=cleaned.get("starts_at"),
                    ends_at=cleaned.get("ends_at"),
                    max_total_uses=cleaned.get("max_total_uses"),
                    max_uses_per_player=cleaned["max_uses_per_player"],
                    uses=self.instance.uses,
                )
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned
