from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone

from shop.models import LimitedPackage, Product, PromoCode


class GemPriceProductFactory(factory.django.DjangoModelFactory):
    """500 gems for 10,000 gold."""

    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"gold-pack-{n}")
    name = factory.Sequence(lambda n: f"Gold pack {n}")
    kind = "gold_pack"
    price_type = "gems"
    price_amount = 500
    price_currency = ""
    grants = factory.LazyFunction(lambda: {"gold": 10_000})


class MoneyProductFactory(factory.django.DjangoModelFactory):
    """USD 4.99 for 100 gems."""

    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"gem-pack-{n}")
    name = factory.Sequence(lambda n: f"Gem pack {n}")
    kind = "gem_pack"
    price_type = "money"
    price_amount = 499
    price_currency = "USD"
    grants = factory.LazyFunction(lambda: {"gems": 100})


class PackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LimitedPackage

    product = factory.SubFactory(MoneyProductFactory)
    code = factory.Sequence(lambda n: f"limited-{n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    total_stock = 50
    remaining_stock = factory.SelfAttribute("total_stock")
    per_player_limit = 1


class PromoFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PromoCode

    code = factory.Sequence(lambda n: f"PROMO{n}")
    discount_type = "percent"
    discount_value = 10
    max_total_uses = 100
    max_uses_per_player = 1


def buy_headers(key: str) -> dict[str, Any]:
    return {"HTTP_IDEMPOTENCY_KEY": key}
