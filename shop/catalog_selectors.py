"""The shop's catalog as every player sees it, kept per process (``casino.copies``;
products and packages are watched in ``shop/apps.py``): a buy's product, whether it is priced in
money or sold only as a package, a payment step's product, and the dashboard's highlights --
no statement on a buy, a payment step or a home screen built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.models import User
from casino.copies import ProcessCopy
from casino.db import row_get
from shop.models import LimitedPackage, PriceType, Product
from shop.selectors import active_products


@dataclass(frozen=True)
class _Catalog:
    by_sku: dict[str, Product]
    by_id: dict[int, Product]
    packaged: frozenset[int]  # products sold only as limited packages
    on_sale: tuple[Product, ...]  # on general sale, in catalog order (shop.selectors.active_products)


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
