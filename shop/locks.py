"""The shop's row locks: each locks only the rows it names.

On PostgreSQL ``SELECT ... FOR UPDATE`` over a join locks a row of every
joined table unless it says ``OF``: an order read with its product would lock
the product too, so every payment step of one product would queue behind the
others and the expiry sweep (``SKIP LOCKED``) would skip every order of a
product someone is paying for. So every lock here names ``of=("self",)``, and
a ``select_related`` added by a caller loads the joined rows without locking
them. Several rows of one table are locked in primary-key order, so two
transactions locking overlapping sets never wait for each other in a cycle.

The order of tables (never reversed anywhere) is in ``shop.services``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import QuerySet

from accounts.locks import user_lock
from accounts.models import User
from accounts.selectors import SPEND_LIMIT_FIELDS
from casino.db import column_name, row_columns, row_exists, row_from_values, row_get, row_lock_clause
from economy.models import Wallet
from economy.services import wallet_and_owner_lock
from shop.catalog_selectors import catalog_product
from shop.models import Order, OwnedItem, Product


def orders_qs_select_for_update(*, skip_locked: bool = False) -> QuerySet[Order]:
    """Orders to lock, in primary-key order, their product loaded but not locked."""
    return (
        Order.objects.order_by("pk")
        .select_for_update(of=("self",), skip_locked=skip_locked, no_key=True)
        .select_related("product")
    )


def order_lock(*, order_id: int) -> Order:
    """Lock one order row (its product loaded, not locked): one short
    statement written out (``casino.db.row_get``) rather than the join the
    ORM would compile on every payment step; the product comes from the
    process's copy of the catalog (``shop.catalog_selectors.catalog_product``)."""
    order = row_get(Order, lock=True, pk=order_id)
    if order is None:
        raise Order.DoesNotExist(f"no order {order_id}")
    order.product = _catalog_product(order.product_id)
    return order


def _catalog_product(product_id: int) -> Product:
    product = catalog_product(pk=product_id)
    if product is None:  # pragma: no cover - the foreign key protects it
        raise Product.DoesNotExist(f"no product {product_id}")
    return product


def buyer_lock(*, user_id: int) -> User:
    """Lock the buyer's user row: the purchase lock that serialises one player's buys.
    Loads what the daily spend limit reads (``SPEND_LIMIT_FIELDS``); any other field
    of the returned user loads on first access."""
    return user_lock(user_id=user_id, fields=SPEND_LIMIT_FIELDS)


def buyer_and_wallet_lock(
    *, user_id: int, reading: str = "", params: Sequence[Any] = ()
) -> tuple[Wallet, tuple[Any, ...]] | None:
    """The purchase lock of :func:`buyer_lock` for a purchase with game currency,
    which needs none of the user row's fields but pays from the wallet: the user
    row is locked (not loaded) and the wallet row locked and read after it, in
    one statement (``economy.services.wallet_and_owner_lock``, which also reads the
    caller's ``reading`` expressions); the wallet goes to the posting
    (``locked=``). None when the buyer has no wallet yet: then the user row alone
    is locked (nothing read), and the posting opens the wallet."""
    found = wallet_and_owner_lock(user_id=user_id, reading=reading, params=params)
    if found is None and not row_exists(User, lock=True, id=user_id):
        raise User.DoesNotExist(f"no user {user_id}")
    return found


def order_and_buyer_lock(*, order_id: int, user_id: int) -> Order:
    """Lock the buyer's user row, then the order row: what applying a payment
    needs to check the player's limits again against a stable count (the
    buyer's row is the purchase lock, taken first, as a purchase does).
    ``order.user`` is the locked user."""
    buyer = buyer_lock(user_id=user_id)
    order = order_lock(order_id=order_id)
    order.user = buyer
    return order


def order_and_buyer_lock_by_reference(*, provider: str, reference: str) -> Order | None:
    """:func:`order_and_buyer_lock` for the order ``provider`` knows as ``reference``
    (a webhook names the order so), or None when no order has it. On PostgreSQL the
    order is found, its buyer's row and its own locked (in that order) and both read
    in one statement; elsewhere the order is looked up first."""
    connection = connections[router.db_for_write(Order)]
    if connection.vendor != "postgresql":
        found = row_get(Order, fields=["user"], provider=provider, provider_reference=reference)
        return None if found is None else order_and_buyer_lock(order_id=found.pk, user_id=found.user_id)
    with connection.cursor() as cursor:
        cursor.execute(_buyer_of_reference_lock_sql(), [provider, reference])
        row = cursor.fetchone()
    if row is None:
        return None
    order = row_from_values(Order, row[:_ORDER_COLUMNS])
    order.product = _catalog_product(order.product_id)
    order.user = User.from_db(connection.alias, _BUYER_FIELDS, row[_ORDER_COLUMNS:])
    return order


# The buyer's columns the lock reads, in the model's order of fields: ``Model.from_db`` takes
# the values of a partial row in that order.
_BUYER_FIELDS = [field.attname for field in User._meta.concrete_fields if field.attname in {"id", *SPEND_LIMIT_FIELDS}]
_ORDER_COLUMNS = len(Order._meta.concrete_fields)  # the statement's first columns: the whole order


@functools.cache
def _buyer_of_reference_lock_sql() -> str:
    """``SELECT`` of an order by its provider reference with its buyer's spend-limit
    fields, locking the buyer's row, then the order's (a locking clause locks its
    tables' rows in the order it names them: the shop's order of tables);
    written out once per process."""
    connection = connections[router.db_for_write(Order)]
    quote = connection.ops.quote_name
    user, order = (lambda name: f"u.{column_name(User, name)}"), (lambda name: f"o.{column_name(Order, name)}")
    columns = ", ".join([row_columns(Order, table="o"), *(user(name) for name in _BUYER_FIELDS)])
    return (
        f"SELECT {columns} FROM {quote(User._meta.db_table)} u"  # noqa: S608 - names from the models
        f" JOIN {quote(Order._meta.db_table)} o ON {order('user')} = {user('id')}"
        f" WHERE {order('provider')} = %s AND {order('provider_reference')} = %s LIMIT 1"
        f"{row_lock_clause(connection, of=('u', 'o'))}"
    )


def owned_items_lock(*, user_id: int, item_codes: Iterable[str]) -> list[OwnedItem]:
    """Lock the player's rows of these items, in primary-key order."""
    return list(
        OwnedItem.objects.filter(user_id=user_id, item_code__in=list(item_codes))
        .order_by("pk")
        .select_for_update(of=("self",), no_key=True)
    )
