"""The process's copy of the catalog (shop.catalog_selectors.catalog_product): a buy
reads no product row, yet always pays the price in force and never sells
what was taken off sale or is sold only as a package."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from casino.copies import _shared_version_set
from economy.models import Wallet
from economy.tests.factories import player_with_wallet
from shop.catalog_selectors import catalog_product, packages_on_sale
from shop.models import LimitedPackage, Product
from shop.tests.factories import GemPriceProductFactory, PackageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user() -> Any:
    """The buyer (the root conftest's ``auth_client`` is theirs)."""
    return player_with_wallet(gold=0, gems=5000)


def buy(client: APIClient, key: str, sku: str) -> Any:
    return client.post("/api/shop/buy", {"product_id": sku}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_price_changed_by_staff_is_paid_on_the_next_buy(auth_client: APIClient, user: Any) -> None:
    product = GemPriceProductFactory(price_amount=500)
    assert buy(auth_client, "first", product.sku).json()["gems_spent"] == 500  # the copy now holds the product

    product.price_amount = 800
    product.save()
    second = buy(auth_client, "second", product.sku)

    assert second.status_code == 201, second.json()
    assert second.json()["gems_spent"] == 800
    assert Wallet.objects.get(pk=user.pk).gems == 5000 - 500 - 800


def test_a_product_taken_off_sale_is_refused_at_once(auth_client: APIClient) -> None:
    product = GemPriceProductFactory()
    assert buy(auth_client, "first", product.sku).status_code == 201

    product.is_active = False
    product.save()
    refused = buy(auth_client, "second", product.sku)

    assert refused.status_code == 409, refused.json()
    assert refused.json()["error"] == "product_unavailable"


def test_a_product_put_in_a_package_is_then_bought_only_by_the_package(auth_client: APIClient) -> None:
    product = GemPriceProductFactory()
    assert buy(auth_client, "first", product.sku).status_code == 201

    PackageFactory(product=product)
    refused = buy(auth_client, "second", product.sku)

    assert refused.status_code == 400, refused.json()
    assert refused.json()["error"] == "wrong_purchase_endpoint"


def test_a_product_the_copy_does_not_hold_is_read_from_the_database(auth_client: APIClient) -> None:
    GemPriceProductFactory()
    catalog_product(sku="anything")  # the copy is loaded
    # Written around the ORM's signals (bulk_create sends none): the copy does not know it.
    [product] = Product.objects.bulk_create([GemPriceProductFactory.build(sku="made-around-signals")])

    response = buy(auth_client, "first", "made-around-signals")

    assert response.status_code == 201, response.json()
    assert catalog_product(pk=product.pk) is not None


def test_a_change_committed_by_another_process_is_seen_by_this_one(auth_client: APIClient) -> None:
    product = GemPriceProductFactory(price_amount=500)
    catalog_product(sku=product.sku)
    Product.objects.filter(pk=product.pk).update(price_amount=900)  # another process's edit ...
    assert catalog_product(sku=product.sku).price_amount == 500  # type: ignore[union-attr]

    _shared_version_set("bumped-by-another-process")  # ... and its commit's bump

    assert buy(auth_client, "first", product.sku).json()["gems_spent"] == 900


def test_packages_on_sale_come_from_the_copy_with_their_stock_as_it_stands() -> None:
    from datetime import timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    now = timezone.now()
    later = PackageFactory(ends_at=now + timedelta(days=2))
    sooner = PackageFactory(ends_at=now + timedelta(days=1))
    PackageFactory(starts_at=now + timedelta(hours=1))  # not yet
    off = PackageFactory(product=GemPriceProductFactory(is_active=False))  # its product is off sale
    assert [package.pk for package in packages_on_sale()] == [sooner.pk, later.pk]  # the copy is loaded

    # A sale moves the stock with a queryset UPDATE (no signal): the copy does not see it, the list does.
    LimitedPackage.objects.filter(pk=sooner.pk).update(remaining_stock=7, total_stock=60)
    with CaptureQueriesContext(connection) as queries:
        shown = packages_on_sale()
    assert [(p.pk, p.remaining_stock, p.total_stock) for p in shown] == [(sooner.pk, 7, 60), (later.pk, 50, 50)]
    assert shown[0].product.sku == sooner.product.sku
    assert len(queries) == 1  # the stock, in one statement

    later.is_active = False
    later.save()  # staff take it off sale: the copy is reloaded
    assert [package.pk for package in packages_on_sale()] == [sooner.pk]
    assert [package.pk for package in packages_on_sale(now=now + timedelta(days=1, hours=1))] == []
    assert off.pk not in {package.pk for package in packages_on_sale()}


def test_no_package_on_sale_costs_no_statement() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    GemPriceProductFactory()
    packages_on_sale()  # the copy is loaded
    with CaptureQueriesContext(connection) as queries:
        assert packages_on_sale() == []
    assert len(queries) == 0
