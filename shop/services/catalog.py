"""The catalog's rules: what a product may cost and grant, what a promo code
may give. Every caller that writes a product or a code goes through here (the
admin's forms ask the same functions first, to show the errors on the fields).

Refusals are a ``ValidationError`` keyed by field name, every problem at once.
A save here is one statement (an INSERT, or an UPDATE of the given columns),
atomic by itself, so it opens no transaction and may run inside a caller's
(the admin saves a whole changelist page in one).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from economy.enums import Currency
from economy.services.ledger import MAX_AMOUNT
from shop.models import DiscountType, PriceType, Product, PromoCode
from shop.services.purchase import MAX_QUANTITY

ISO_CURRENCY = re.compile(r"[A-Z]{3}")
GRANTABLE_CURRENCIES = tuple(Currency.values)
# A grant is per unit; an order may hold up to MAX_QUANTITY units and the ledger
# refuses any single amount above MAX_AMOUNT, so a unit grant must stay below the quotient.
MAX_GRANT_PER_UNIT = MAX_AMOUNT // MAX_QUANTITY
MAX_ITEM_CODE_LENGTH = 64


@dataclass(frozen=True)
class ProductTerms:
    """A product's price and grants, normalised (currency upper-case, item codes stripped)."""

    price_type: str
    price_amount: int
    price_currency: str
    grants: dict[str, int]
    grant_items: list[str]


def _grants_problem(grants: object) -> str | None:
    if not isinstance(grants, dict):
        return 'Grants must be a JSON object of currency to amount, e.g. {"gems": 500}.'
    problems = []
    for currency, amount in grants.items():
        if currency not in GRANTABLE_CURRENCIES:
            problems.append(f"unknown currency {currency!r} (known: {', '.join(GRANTABLE_CURRENCIES)})")
        elif isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            problems.append(f"{currency}: the amount must be a positive whole number, not {amount!r}")
        elif amount > MAX_GRANT_PER_UNIT:
            problems.append(f"{currency}: at most {MAX_GRANT_PER_UNIT} per unit")
    return "; ".join(problems) + "." if problems else None


def _items_valid(items: object) -> bool:
    return isinstance(items, list) and all(
        isinstance(item, str) and 0 < len(item.strip()) <= MAX_ITEM_CODE_LENGTH for item in items
    )


def _currency_problem(price_type: str, currency: str) -> str | None:
    if price_type == PriceType.MONEY:
        if not currency:
            return "A real-money price needs an ISO 4217 currency code, e.g. USD."
        if not ISO_CURRENCY.fullmatch(currency):
            return "Enter a three-letter ISO 4217 currency code, e.g. USD or EUR."
    elif currency:
        return "A gold or gems price has no currency: leave this empty."
    return None


def product_terms_validate(
    *, price_type: str, price_amount: int, price_currency: str, grants: object, grant_items: object
) -> ProductTerms:
    """Check a product's price and grants; empty grants (``None``, ``""``) mean none.

    A money price has an ISO 4217 code, a gold/gems price none; a price is at
    least 1; a unit grants known currencies in positive whole amounts of at
    most ``MAX_GRANT_PER_UNIT`` each, or items, and grants something."""
    errors: dict[str, str] = {}
    currency = (price_currency or "").strip().upper()
    grants = {} if grants in (None, "") else grants
    grant_items = [] if grant_items in (None, "") else grant_items
    if price_amount < 1:
        errors["price_amount"] = "The price must be at least 1 (minor units for money, units for gold/gems)."
    if (problem := _currency_problem(price_type, currency)) is not None:
        errors["price_currency"] = problem
    if (problem := _grants_problem(grants)) is not None:
        errors["grants"] = problem
    if not _items_valid(grant_items):
        errors["grant_items"] = 'Items must be a JSON list of item codes (1-64 characters): ["avatar_frame"].'
    if "grants" not in errors and "grant_items" not in errors and not grants and not grant_items:
        errors[NON_FIELD_ERRORS] = "The product grants nothing: give it currencies (grants) or items."
    if errors:
        raise ValidationError(errors)
    return ProductTerms(
        price_type=price_type,
        price_amount=price_amount,
        price_currency=currency,
        grants=cast(dict[str, int], grants),  # checked above
        grant_items=[item.strip() for item in cast(list[str], grant_items)],
    )


def product_save(*, product: Product) -> Product:
    """Create or update ``product`` (every column) once its terms hold; the
    normalised terms are written back onto it."""
    terms = product_terms_validate(
        price_type=product.price_type,
        price_amount=product.price_amount,
        price_currency=product.price_currency,
        grants=product.grants,
        grant_items=product.grant_items,
    )
    product.price_currency, product.grants, product.grant_items = (
        terms.price_currency,
        terms.grants,
        terms.grant_items,
    )
    product.save()
    return product


def promo_code_normalise(code: str) -> str:
    """Codes are stored upper-case and are one word."""
    normalised = code.strip().upper()
    if not normalised or any(char.isspace() for char in normalised):
        raise ValidationError({"code": "A code is one word without spaces."})
    return normalised


def promo_code_terms_validate(
    *,
    discount_type: str,
    discount_value: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
    max_total_uses: int | None,
    max_uses_per_player: int,
    uses: int = 0,
) -> None:
    """A discount of at least 1 (a percentage at most 100), a window that ends
    after it starts, a cap not below the uses already counted, at least one use
    per player."""
    errors: dict[str, str] = {}
    if discount_value < 1:
        errors["discount_value"] = "The discount must be at least 1."
    elif discount_type == DiscountType.PERCENT and discount_value > 100:
        errors["discount_value"] = "A percentage is at most 100."
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = "The code must expire after it starts."
    if max_total_uses is not None and max_total_uses < uses:
        errors["max_total_uses"] = f"The code was already used {uses} time(s)."
    if max_uses_per_player < 1:
        errors["max_uses_per_player"] = "At least 1."
    if errors:
        raise ValidationError(errors)


def promo_code_save(*, promo: PromoCode, fields: Collection[str] | None = None) -> PromoCode:
    """Create ``promo``, or write only ``fields`` of an existing one: ``uses``
    is never written from here, it is counted by conditional UPDATEs of the
    order flow and a copy loaded earlier would undo the uses counted meanwhile."""
    promo.code = promo_code_normalise(promo.code)
    promo_code_terms_validate(
        discount_type=promo.discount_type,
        discount_value=promo.discount_value,
        starts_at=promo.starts_at,
        ends_at=promo.ends_at,
        max_total_uses=promo.max_total_uses,
        max_uses_per_player=promo.max_uses_per_player,
        uses=promo.uses,
    )
    if promo.pk is None:
        promo.save(force_insert=True)
        return promo
    concrete = {field.name for field in PromoCode._meta.concrete_fields}
    changed = [name for name in fields or () if name in concrete and name != "uses"]
    if changed:
        promo.save(update_fields=changed)
    return promo
