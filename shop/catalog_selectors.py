"""The shop's catalog as every player sees it, kept per process (``casino.copies``;
products and packages are watched in ``shop/apps.py``): a buy's product, whether it is priced in
money or sold only as a package, a payment step's product, the limited packages on sale and the
dashboard's highlights -- no statement on a buy, a payment step or a home screen built, one for
the packages' stock when any is on sale."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts.models import User
from casino.copies import ProcessCopy
from casino.db import row_get, rows_get
from shop.models import LimitedPackage, PriceType, Product
from shop.selectors import active_products


@dataclass(frozen=True)
class _Catalog:
    by_sku: dict[str, Product]
    by_id: dict[int, Product]
    packaged: frozenset[int]  # products sold only as limited packages
    on_sale: tuple[Product, ...]  # on general sale, in catalog order (shop.selectors.active_products)
    # Active limited packages in (ends_at, id) order; their stock is read when shown (every
    # sale moves it with a queryset UPDATE, which the copy does not see).
    packages: tuple[LimitedPackage, ...]


def _catalog_load() -> _Catalog:
    # Every product, on sale or not (a buy of one taken off sale answers product_unavailable):
    # a catalog is tens or hundreds of rows.
    products = list(Product.objects.all())
    packaged = frozenset(LimitedPackage.objects.values_list("product_id", flat=True))
    on_sale = [product for product in products if product.is_active and product.pk not in packaged]
    return _Catalog(
        by_sku={product.sku: product for product in products},
        by_id={product.pk: product for product in products},
        packaged=packaged,
        on_sale=tuple(sorted(on_sale, key=lambda product: (product.sort_order, product.pk))),
        packages=tuple(LimitedPackage.objects.filter(is_active=True).order_by("ends_at", "id")),
    )


_catalog = ProcessCopy("shop.catalog", _catalog_load)


def catalog_product(*, sku: str | None = None, pk: int | None = None) -> Product | None:
    """The product with this SKU (or id) from the process's copy of the
    catalog: no statement on a buy or a payment step. A product the copy does
    not hold yet is read from the database. Shared: the caller must not change it."""
    catalog = _catalog.get()
    if sku is not None:
        return catalog.by_sku.get(sku) or row_get(Product, sku=sku)
    if pk is None:
        return None
    return catalog.by_id.get(pk) or row_get(Product, pk=pk)


def catalog_on_sale() -> tuple[Product, ...]:
    """The products on general sale (active, not sold as a limited package), in catalog order
    (sort order, then id), from the process's copy: what ``shop.selectors.active_products``
    queries, without a statement. Shared: the caller must not change them."""
    return _catalog.get().on_sale


def packages_on_sale(*, now: datetime | None = None) -> list[LimitedPackage]:
    """The limited packages on sale now (active, their product active, ``starts_at <= now <
    ends_at``), in (ends_at, id) order, each with its product and its stock as it stands: the
    window from the process's copy, the stock in one statement (none when nothing is on sale).
    Each is the caller's own; its product is shared (the caller must not change it)."""
    now = now or timezone.now()
    catalog = _catalog.get()
    shown = [
        package
        for package in catalog.packages
        if package.starts_at <= now < package.ends_at
        and (product := catalog.by_id.get(package.product_id)) is not None
        and product.is_active
    ]
    if not shown:
        return []
    stock = {
        row.pk: row
        for row in rows_get(
            LimitedPackage, fields=["total_stock", "remaining_stock"], among={"pk": [package.pk for package in shown]}
        )
    }
    found = []
    for package in shown:
        row = stock.get(package.pk)
        if row is None:
            continue  # deleted since the copy was loaded
        fresh = copy.copy(package)
        fresh.total_stock, fresh.remaining_stock = row.total_stock, row.remaining_stock
        fresh.product = catalog.by_id[package.product_id]
        found.append(fresh)
    return found


def package_code_for(client_id: str) -> str:
    """The package a client names by ``product_id`` on ``/api/shop/buy-limited``:
    a package's own code, or else the SKU of a product with a package on sale
    now (that package's code). Unknown ids come back unchanged (the buy then
    answers ``package_not_found``)."""
    if LimitedPackage.objects.filter(code=client_id).exists():
        return client_id
    package = next((package for package in packages_on_sale() if package.product.sku == client_id), None)
    return package.code if package is not None else client_id


def sold_as_package(product: Product) -> bool:
    """Whether ``product`` is sold only as a limited package (bought by the package's code)."""
    return product.pk in _catalog.get().packaged


def paid_with_money(*, product_id: Any = None, package_id: Any = None) -> bool:
    """Whether a buy request names something priced in money: a package's code
    (``package_id``, or ``product_id`` on ``/api/shop/buy-limited``) or a
    product's SKU. Anything unknown is not (the buy refuses it anyway)."""
    names = [str(name) for name in (package_id, product_id) if isinstance(name, str | int) and name != ""]
    for name in dict.fromkeys(names):
        product = catalog_product(sku=name)  # the usual buy names a product's SKU: no statement
        if product is None:
            package = row_get(LimitedPackage, fields=["product"], code=name)
            product = catalog_product(pk=package.product_id) if package else None
        if product is not None and product.price_type == PriceType.MONEY:
            return True
    return False


def _highlights_load() -> tuple[dict[str, Any], ...]:
    products = active_products().filter(is_highlighted=True)[:4]
    return tuple(
        {"product_id": p.sku, "name": p.name, "price": p.price_amount, "currency": p.currency_label} for p in products
    )


_highlights = ProcessCopy("shop.highlights", _highlights_load)


def shop_highlights(user: User) -> list[dict[str, Any]]:
    """The dashboard's shop section: highlighted products on sale (shared
    items: the caller must not change them)."""
    return list(_highlights.get())
