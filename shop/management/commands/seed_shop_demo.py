"""``manage.py seed_shop_demo``: the shop's demo catalog.

Gold packs and gem packs (money-priced, paid through the sandbox checkout,
and one gem pack priced in gold so a new player can buy it with the sign-up
bonus), a limited starter package on sale for 30 days, and the promo code
``WELCOME10``. Everything is written through the shop's services
(``product_save``, ``promo_code_save``, and ``package_create`` as the seeded
``admin``, so the package is audited like one staff put on sale).

Idempotent: a product, package or code that already exists (by SKU or code)
is left as it is, whatever staff changed since. ``seed_demo`` (in accounts,
which may not import the shop) calls this command by name after it has created
the staff account; games and events add their demo configuration the same way,
with a ``seed_<app>_demo`` command that ``seed_demo`` calls.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from shop.models import DiscountType, LimitedPackage, PriceType, Product, ProductKind, PromoCode
from shop.services import package_create, product_save, promo_code_save

# sku, name, kind, price type, price (cents for money), currency, grants, highlighted
PRODUCTS: list[tuple[str, str, str, str, int, str, dict[str, int], bool]] = [
    ("gold-pack-small", "Handful of gold", ProductKind.GOLD_PACK, PriceType.MONEY, 499, "USD", {"gold": 5000}, True),
    ("gold-pack-large", "Chest of gold", ProductKind.GOLD_PACK, PriceType.MONEY, 1999, "USD", {"gold": 25000}, False),
    ("gem-pack-gold", "Gems for gold", ProductKind.GEM_PACK, PriceType.GOLD, 500, "", {"gems": 50}, True),
    ("gem-pack-small", "Pouch of gems", ProductKind.GEM_PACK, PriceType.MONEY, 299, "USD", {"gems": 100}, False),
    ("gem-pack-large", "Vault of gems", ProductKind.GEM_PACK, PriceType.MONEY, 1499, "USD", {"gems": 600}, True),
    (
        "starter-bundle",
        "Starter pack",
        ProductKind.BUNDLE,
        PriceType.MONEY,
        199,
        "USD",
        {"gold": 9000, "gems": 50},
        False,
    ),
]
PACKAGE_CODE = "starter-week"
PACKAGE_PRODUCT = "starter-bundle"
PACKAGE_STOCK = 100
PACKAGE_DAYS = 30
PROMO_CODE = "WELCOME10"
STAFF_SITE_ID = "admin"


class Command(BaseCommand):
    help = "Create the shop's demo catalog (idempotent): gold and gem packs, a limited package, a promo code."

    def handle(self, *args: Any, **options: Any) -> None:
        actor = User.objects.filter(site_id__iexact=STAFF_SITE_ID, is_superuser=True).first()
        if actor is None:
            raise CommandError("the demo catalog is created as the seeded staff account: run manage.py seed_demo")
        with transaction.atomic(durable=True):
            created = [sku for sku, *_ in PRODUCTS if self._product(sku)]
            promo_created = self._promo_code()
        package_created = False
        if not LimitedPackage.objects.filter(code=PACKAGE_CODE).exists():
            now = timezone.now()
            package_create(
                actor=actor,
                product=Product.objects.get(sku=PACKAGE_PRODUCT),
                code=PACKAGE_CODE,
                starts_at=now,
                ends_at=now + timedelta(days=PACKAGE_DAYS),
                total_stock=PACKAGE_STOCK,
                per_player_limit=1,
                reason="demo catalog (seed_shop_demo)",
            )
            package_created = True
        self.stdout.write(
            f"shop demo catalog: {len(created)} of {len(PRODUCTS)} products created, "
            f"package {PACKAGE_CODE} {'created' if package_created else 'exists'}, "
            f"promo code {PROMO_CODE} {'created' if promo_created else 'exists'}"
        )

    def _product(self, sku: str) -> bool:
        if Product.objects.filter(sku=sku).exists():
            return False
        _, name, kind, price_type, price, currency, grants, highlighted = next(row for row in PRODUCTS if row[0] == sku)
        product_save(
            product=Product(
                sku=sku,
                name=name,
                kind=kind,
                price_type=price_type,
                price_amount=price,
                price_currency=currency,
                grants=grants,
                is_highlighted=highlighted,
                sort_order=[row[0] for row in PRODUCTS].index(sku),
            )
        )
        return True

    def _promo_code(self) -> bool:
        if PromoCode.objects.filter(code=PROMO_CODE).exists():
            return False
        promo_code_save(
            promo=PromoCode(
                code=PROMO_CODE,
                discount_type=DiscountType.PERCENT,
                discount_value=10,
                max_uses_per_player=1,
            )
        )
        return True
