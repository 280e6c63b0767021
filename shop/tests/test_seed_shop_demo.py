"""The demo catalog: ``seed_demo`` (accounts) seeds the shop through
``seed_shop_demo`` by name, idempotently, so ``make run``'s "try the shop" step
finds products to buy."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import tokens_issue
from casino.models import AuditLog
from economy.models import LedgerEntry, Wallet
from shop.models import LimitedPackage, Product, PromoCode

pytestmark = pytest.mark.django_db


def _seed_demo() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _catalog() -> dict[str, Any]:
    return {
        "products": sorted(
            Product.objects.values_list("sku", "price_type", "price_amount", "price_currency", "grants", "is_active")
        ),
        "packages": sorted(
            LimitedPackage.objects.values_list("code", "product__sku", "total_stock", "remaining_stock")
        ),
        "promo_codes": sorted(PromoCode.objects.values_list("code", "discount_type", "discount_value")),
    }


def _player_client(site_id: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=User.objects.get(site_id=site_id)).access}")
    return client


def test_seed_demo_seeds_a_catalog_of_gold_packs_gem_packs_a_limited_package_and_a_promo_code() -> None:
    # When the demo data is seeded on an empty database
    output = _seed_demo()

    # Then the shop has gold packs, gem packs (one priced in gold), a limited package and a promo code
    kinds = set(Product.objects.values_list("kind", flat=True))
    assert {"gold_pack", "gem_pack"} <= kinds
    assert Product.objects.filter(price_type="gold", grants__has_key="gems").exists()
    assert Product.objects.filter(price_type="money").exists()
    assert LimitedPackage.objects.filter(is_active=True, remaining_stock__gt=0).count() == 1
    assert PromoCode.objects.filter(is_active=True).count() == 1
    assert "shop demo catalog" in output
    # ...and the package was put on sale as the seeded admin, audited like any staff change
    assert AuditLog.objects.filter(action="package_create", actor__site_id="admin").count() == 1


def test_seeding_twice_leaves_the_same_catalog() -> None:
    # Given the demo data was seeded once
    _seed_demo()
    first = _catalog()

    # When it is seeded again
    output = _seed_demo()

    # Then nothing was added or changed
    assert _catalog() == first
    assert "0 of" in output and "package starter-week exists" in output and "WELCOME10 exists" in output
    assert AuditLog.objects.filter(action="package_create").count() == 1


def test_a_seeded_player_finds_products_and_buys_the_gold_priced_gem_pack() -> None:
    # Given the demo data (make run seeds it before serving)
    _seed_demo()
    client = _player_client("user001")

    # When a demo player opens the shop and the limited packages
    products = client.get("/api/shop/products")
    packages = client.get("/api/shop/limited-packages")

    # Then both list the seeded catalog
    assert products.status_code == 200, products.content
    assert {"gold-pack-small", "gold-pack-large", "gem-pack-gold", "gem-pack-small"} <= {
        row["product_id"] for row in products.json()
    }
    assert packages.status_code == 200, packages.content
    assert [row["package_id"] for row in packages.json()] == ["starter-week"]

    # ...and the gem pack priced in gold is bought with the sign-up bonus
    bought = client.post(
        "/api/shop/buy", {"product_id": "gem-pack-gold"}, format="json", HTTP_IDEMPOTENCY_KEY="seeded-buy"
    )
    assert bought.status_code in (200, 201), bought.content
    wallet = Wallet.objects.get(user__site_id="user001")
    purchase = dict(LedgerEntry.objects.filter(wallet=wallet, reason="purchase").values_list("currency", "delta"))
    assert purchase == {"gold": -500, "gems": 50}
    # ...which also unlocks the seeded "first purchase" achievement and its gems
    assert (wallet.gold, wallet.gems) == (settings.SIGNUP_BONUS_GOLD - 500, 50 + 50)


def test_the_shop_seed_alone_asks_for_the_staff_account_first() -> None:
    # Given no seeded admin, when the shop's seed runs on its own, then it says what to run instead
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("seed_shop_demo", stdout=StringIO())
    assert not Product.objects.exists()
