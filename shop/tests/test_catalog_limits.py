"""What a player may still buy, as the catalog shows it and a purchase checks it
(``shop.selectors.units_held``): every limited product's periods and every package's
per-player limit from one statement, whatever their number."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy.tests.factories import player_with_wallet
from shop.catalog_selectors import catalog_on_sale, packages_on_sale
from shop.models import LimitedPackage, Order, OrderStatus, PriceType, Product
from shop.selectors import units_held
from shop.tests.factories import GemPriceProductFactory, PackageFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # a Thursday


@pytest.fixture
def user() -> Any:
    """The player (the root conftest's ``auth_client`` is theirs)."""
    return player_with_wallet(gold=0, gems=5000)


def order(
    user: Any,
    product: Product,
    *,
    quantity: int = 1,
    at: datetime,
    status: str = OrderStatus.FULFILLED,
    package: LimitedPackage | None = None,
    paid_at: datetime | None = None,
) -> Order:
    return Order.objects.create(
        receipt_code=uuid.uuid4().hex[:16],
        user=user,
        product=product,
        package=package,
        quantity=quantity,
        status=status,
        price_type=PriceType.GEMS,
        currency="gems",
        unit_price=1,
        subtotal=quantity,
        total=quantity,
        idempotency_key=uuid.uuid4().hex,
        request_fingerprint="x",
        created_at=at,
        updated_at=at,
        paid_at=paid_at,
    )


def catalog(client: APIClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/shop/catalog")
    assert response.status_code == 200, response.json()
    return {entry.get("package_id") or entry["product_id"]: entry for entry in response.json()}


def test_the_catalog_shows_what_each_period_and_package_leaves(user: Any) -> None:
    daily = GemPriceProductFactory(limit_daily=3)
    weekly = GemPriceProductFactory(limit_daily=5, limit_weekly=4)
    lifetime = GemPriceProductFactory(limit_lifetime=2)
    GemPriceProductFactory(sku="unlimited")
    package = PackageFactory(per_player_limit=2, starts_at=NOW - timedelta(days=30), ends_at=NOW + timedelta(days=30))
    other = GemPriceProductFactory()

    order(user, daily, quantity=2, at=NOW - timedelta(hours=1))
    order(user, daily, at=NOW - timedelta(days=1))  # yesterday: not today's
    order(user, daily, at=NOW - timedelta(hours=2), status=OrderStatus.FAILED)  # does not count
    order(user, weekly, at=NOW - timedelta(days=2))  # Tuesday: this week, not today
    order(user, weekly, quantity=2, at=NOW - timedelta(hours=3))
    order(user, weekly, at=NOW - timedelta(days=4))  # last Sunday: another week
    # Made yesterday, paid today: counts on the day it was paid.
    order(user, lifetime, at=NOW - timedelta(days=1), paid_at=NOW - timedelta(hours=1))
    order(user, package.product, package=package, at=NOW - timedelta(days=10))
    order(user, other, quantity=9, at=NOW - timedelta(hours=1))  # no limit: not read
    someone_else = player_with_wallet(gold=0, gems=0)
    order(someone_else, daily, quantity=3, at=NOW - timedelta(hours=1))

    with time_machine.travel(NOW, tick=False):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")  # issued "now"
        shown = catalog(client)

    assert (shown[daily.sku]["user_remaining"], shown[daily.sku]["limit_period"]) == (1, "daily")
    assert (shown[weekly.sku]["user_remaining"], shown[weekly.sku]["limit_period"]) == (1, "weekly")
    assert (shown[lifetime.sku]["user_remaining"], shown[lifetime.sku]["limit_period"]) == (1, "lifetime")
    assert (shown["unlimited"]["user_remaining"], shown["unlimited"]["limit_period"]) == (None, None)
    assert shown[package.code]["user_remaining"] == 1
    assert shown[package.code]["per_user_limit"] == 2


def test_the_catalog_reads_the_limits_in_one_statement_whatever_their_number(auth_client: APIClient) -> None:
    def statements() -> int:
        catalog_on_sale(), packages_on_sale()  # the copy is loaded, as in a running process
        with CaptureQueriesContext(connection) as queries:
            catalog(auth_client)
        return len([q for q in queries.captured_queries if "shop_order" in q["sql"]])

    GemPriceProductFactory()
    assert statements() == 0  # nothing limited: nothing read

    GemPriceProductFactory(limit_daily=1)
    assert statements() == 1

    for _ in range(3):
        GemPriceProductFactory(limit_daily=2, limit_weekly=5, limit_monthly=9, limit_lifetime=20)
        PackageFactory()
    assert statements() == 1


def test_a_purchase_checks_the_product_and_its_package_in_one_statement(auth_client: APIClient, user: Any) -> None:
    product = GemPriceProductFactory(limit_daily=2, limit_weekly=3, limit_monthly=4, limit_lifetime=5)
    package = PackageFactory(product=product, per_player_limit=1)
    held = units_held(user.pk, products=[product], packages=[package])
    assert held.product_left(product).remaining == 2 and held.package_left(package) == 1

    order(user, product, package=package, at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        held = units_held(user.pk, products=[product], packages=[package])
    assert len(queries) == 1
    assert (held.product_left(product).remaining, held.product_left(product).period) == (1, "daily")
    assert held.package_left(package) == 0
    assert units_held(user.pk, products=[product], packages=[package], exclude_order_id=Order.objects.get().pk) == (
        units_held(user.pk + 10_000, products=[product], packages=[package])
    )
