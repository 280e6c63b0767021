"""What the shop's admin modules share: how staff read prices, links between
records, the provider filter, the acting staff member."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from shop.models import PriceType
from shop.providers import PROVIDERS

_CURRENCY_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX"), 0),
    **dict.fromkeys(("VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def price_label(amount: int, price_type: str, currency: str) -> str:
    """How staff read a price: money in major units with its ISO code
    (1299 USD -> "12.99 USD", 1500 KRW -> "1,500 KRW"), game currency as a
    count ("500 gems")."""
    if price_type != PriceType.MONEY:
        return f"{amount:,} {currency or price_type}"
    exponent = _CURRENCY_EXPONENTS.get(currency.upper(), 2)
    return f"{Decimal(amount).scaleb(-exponent):,.{exponent}f} {currency.upper()}"


def admin_link(obj: Any, label: Any = None) -> SafeString | str:
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj if label is None else label)


def json_block(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str))


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
