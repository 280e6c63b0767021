"""Shop reads: the catalog as a player sees it, limits left, transactions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import connection, connections, router
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from casino.db import column_name, key_next_sql
from economy.enums import Currency, LedgerReason
from economy.models import LedgerEntry, Wallet
from economy.selectors import ledger_entries_for_reference, wallet_balances
from shop.ledger_keys import order_ledger_reference
from shop.models import OPEN_STATUSES, LimitedPackage, Order, OrderStatus, PriceType, Product

if TYPE_CHECKING:
    from shop.services import PurchaseResult

# Orders that count against limits and stock: open and fulfilled ones. Not
# failed, expired or refunded ones, nor ``paid`` ones: an order is only ever
# left ``paid`` when it could not be fulfilled and is being refunded.
COUNTED_STATUSES = (*OPEN_STATUSES, OrderStatus.FULFILLED)


def _counted_orders(user_id: int, *, since: datetime | None, exclude_order_id: int | None) -> QuerySet[Order]:
    """The player's orders that count against limits, ``since`` a time: an
    order counts when it was paid, or (not paid yet) when it was made, so a
    payment arriving on another day than its order counts on the day it came."""
    orders = Order.objects.filter(user_id=user_id, status__in=COUNTED_STATUSES)
    if exclude_order_id is not None:
        orders = orders.exclude(pk=exclude_order_id)
    if since is not None:
        orders = orders.alias(counted_at=Coalesce("paid_at", "created_at")).filter(counted_at__gte=since)
    return orders


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def period_starts(now: datetime) -> dict[str, datetime | None]:
    """Start of each limit period (UTC): day, ISO week (Monday), month, lifetime."""
    today = now.date()
    return {
        "daily": _midnight(today),
        "weekly": _midnight(today - timedelta(days=today.weekday())),
        "monthly": _midnight(today.replace(day=1)),
        "lifetime": None,
    }


LIMIT_PERIODS = ("daily", "weekly", "monthly", "lifetime")


def product_limits(product: Product) -> list[tuple[str, int]]:
    """The product's period limits that are set, as (period, units) in ``LIMIT_PERIODS`` order."""
    limits = (product.limit_daily, product.limit_weekly, product.limit_monthly, product.limit_lifetime)
    return [(period, limit) for period, limit in zip(LIMIT_PERIODS, limits, strict=True) if limit is not None]


@dataclass(frozen=True)
class LimitLeft:
    remaining: int | None  # None: no limit
    period: str | None  # the binding period


@dataclass(frozen=True)
class UnitsHeld:
    """What a player holds or is buying of some products (units per limit period) and
    packages (units in all), read together by :func:`units_held`."""

    by_product: dict[int, dict[str, int]]
    by_package: dict[int, int]

    def product_left(self, product: Product) -> LimitLeft:
        """Units the player may still buy under the product's period limits: the tightest one."""
        best = LimitLeft(None, None)
        bought = self.by_product.get(product.pk, {})
        for period, limit in product_limits(product):
            left = max(0, limit - bought.get(period, 0))
            if best.remaining is None or left < best.remaining:
                best = LimitLeft(left, period)
        return best

    def package_left(self, package: LimitedPackage) -> int:
        return max(0, package.per_player_limit - self.by_package.get(package.pk, 0))


NOTHING_HELD = UnitsHeld(by_product={}, by_package={})


def units_held(
    user_id: int,
    *,
    products: Iterable[Product] = (),
    packages: Iterable[LimitedPackage] = (),
    now: datetime | None = None,
    exclude_order_id: int | None = None,
) -> UnitsHeld:
    """Units the player holds or is buying of each of ``products`` that has a period limit
    (per period, since each period's start) and of each of ``packages`` (in all), in one
    statement; none when nothing given has a limit (``exclude_order_id``: all but that order)."""
    product_ids = sorted({product.pk for product in products if product_limits(product)})
    package_ids = sorted({package.pk for package in packages})
    if not product_ids and not package_ids:
        return NOTHING_HELD
    starts = period_starts(now or timezone.now())
    db = connections[router.db_for_read(Order)]
    params = [
        *(db.ops.adapt_datetimefield_value(starts[period]) for period in LIMIT_PERIODS[:-1]),
        user_id,
        *COUNTED_STATUSES,
        *([exclude_order_id] if exclude_order_id is not None else []),
        *product_ids,
        *package_ids,
    ]
    with db.cursor() as cursor:
        cursor.execute(_units_held_sql(len(product_ids), len(package_ids), exclude_order_id is not None), params)
        rows = [dict(zip(("product_id", "package_id", *LIMIT_PERIODS), row, strict=True)) for row in cursor.fetchall()]
    by_product: dict[int, dict[str, int]] = {pk: dict.fromkeys(LIMIT_PERIODS, 0) for pk in product_ids}
    by_package: dict[int, int] = dict.fromkeys(package_ids, 0)
    for row in rows:
        held = by_product.get(row["product_id"])
        if held is not None:
            for period in LIMIT_PERIODS:
                held[period] += row[period] or 0
        if row["package_id"] in by_package:
            by_package[row["package_id"]] += row["lifetime"] or 0
    return UnitsHeld(by_product=by_product, by_package=by_package)


def active_products() -> QuerySet[Product]:
    """Products on general sale (those sold only as limited packages are listed there)."""
    return Product.objects.filter(is_active=True).exclude(packages__isnull=False).order_by("sort_order", "id")


def spent_today(
    user_id: int, *, currency: str, now: datetime | None = None, exclude_order_id: int | None = None
) -> int:
    """Real money committed today, minor units: orders paid today and open
    orders made today (``exclude_order_id``: all but that order)."""
    now = now or timezone.now()
    orders = _counted_orders(user_id, since=period_starts(now)["daily"], exclude_order_id=exclude_order_id)
    total = orders.filter(price_type=PriceType.MONEY, currency=currency).aggregate(total=Sum("total"))["total"]
    return int(total or 0)


def transactions_for(user_id: int) -> QuerySet[Order]:
    return Order.objects.filter(user_id=user_id).select_related("product").order_by("-created_at", "-id")


def order_for_viewer(*, receipt_code: str, viewer: User) -> Order | None:
    """The order with this receipt code, if ``viewer`` may see it: its owner, or
    staff holding ``shop.view_order`` (promise 7: least privilege in the API too)."""
    orders = Order.objects.select_related("product")
    if not (viewer.is_staff and viewer.has_perm("shop.view_order")):
        orders = orders.filter(user=viewer)
    return orders.filter(receipt_code=receipt_code).first()


class OrderReplayLook(NamedTuple):
    """What a buy reads under its buyer lock (:func:`order_replay_look`)."""

    keyed: bool  # the player placed an order under this idempotency key
    balances: dict[str, int]  # the wallet's balances ({} without a wallet, or when not asked for)
    order_key: int | None  # a key drawn for the order the buy may place (PostgreSQL), else None


def order_replay_expressions(*, user_id: int, idempotency_key: str) -> tuple[str, list[Any]]:
    """:func:`order_replay_look`'s replay check and drawn key as SQL expressions with their
    parameters, for a statement the buy sends anyway (its buyer lock); read back with
    :func:`order_replay_values`."""
    order = partial(column_name, Order)
    keyed = (
        f"EXISTS (SELECT 1 FROM {Order._meta.db_table}"  # noqa: S608 - names from the models
        f" WHERE {order('user')} = %s AND {order('idempotency_key')} = %s)"
    )
    return f"{keyed}, {key_next_sql(Order) or 'NULL'}", [user_id, idempotency_key]


def order_replay_values(values: Sequence[Any]) -> OrderReplayLook:
    """The look of :func:`order_replay_expressions`' values (no balances read)."""
    found, order_key = values
    return OrderReplayLook(bool(found), {}, None if order_key is None else int(order_key))


def order_replay_look(*, user_id: int, idempotency_key: str, balances: bool = True) -> OrderReplayLook:
    """A buy's look under its buyer lock, in one statement: whether the player
    placed an order under this idempotency key (its replay check), their
    wallet's balances when ``balances`` (a money order's answer reports them:
    a pending money order moves none) and, on PostgreSQL, a key drawn for the
    order the buy may place (``casino.db.key_next_sql``: the order is then
    written with the transaction's last statement,
    ``shop.services.order_state.order_insert``; a key drawn and not used is a
    gap). The same answers as ``casino.db.row_exists(Order, user=..,
    idempotency_key=..)`` and ``economy.selectors.wallet_balances`` (the wallet
    row is only read)."""
    order, wallet = partial(column_name, Order), partial(column_name, Wallet)
    next_key = key_next_sql(Order) or "NULL"
    keyed = (
        f"EXISTS (SELECT 1 FROM {Order._meta.db_table}"  # noqa: S608 - names from the models
        f" WHERE {order('user')} = %s AND {order('idempotency_key')} = %s)"
    )
    if balances:
        sql = (
            f"SELECT {keyed}, w.{wallet(Currency.GOLD.value)}, w.{wallet(Currency.GEMS.value)}, {next_key}"  # noqa: S608
            f" FROM (SELECT 1) AS one LEFT JOIN {Wallet._meta.db_table} w ON w.{wallet('user')} = %s"
        )
        params: list[Any] = [user_id, idempotency_key, user_id]
    else:
        sql, params = f"SELECT {keyed}, NULL, NULL, {next_key}", [user_id, idempotency_key]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found, gold, gems, order_key = cursor.fetchone()
    read = {} if gold is None else {Currency.GOLD.value: int(gold), Currency.GEMS.value: int(gems)}
    return OrderReplayLook(bool(found), read, None if order_key is None else int(order_key))


# The game currencies a purchase answer reports as spent and granted.
PURCHASE_CURRENCIES = (Currency.GOLD, Currency.GEMS)


@dataclass(frozen=True)
class PurchaseAmounts:
    """Game currency an order moved (ledger entries with reason ``purchase``)
    and the player's balances now (``None`` without a wallet)."""

    spent: dict[str, int]
    granted: dict[str, int]
    gold_balance: int | None
    gems_balance: int | None


def purchase_amounts(result: PurchaseResult) -> PurchaseAmounts:
    """What a purchase answer reports. A purchase that just posted to the
    wallet answers from that posting (no query); a replay or a money order
    reads the ledger under the order's reference and the wallet; a new money
    order has posted nothing yet (paid at the provider later), and its answer
    reports the balances the buy read under its lock (``result.balances``)."""
    order = result.order
    entries: Iterable[LedgerEntry]
    if result.ledger is not None:
        entries, balances = result.ledger.entries, result.ledger.balances
    else:
        if not result.replayed and order.price_type == PriceType.MONEY:
            entries = ()
        else:
            entries = ledger_entries_for_reference(user_id=order.user_id, reference=order_ledger_reference(order))
        balances = result.balances if result.balances is not None else wallet_balances(user_id=order.user_id)
    spent = {currency.value: 0 for currency in PURCHASE_CURRENCIES}
    granted = {currency.value: 0 for currency in PURCHASE_CURRENCIES}
    for entry in entries:
        if entry.currency in spent and entry.reason == LedgerReason.PURCHASE:
            (granted if entry.delta > 0 else spent)[entry.currency] += abs(entry.delta)
    return PurchaseAmounts(
        spent=spent,
        granted=granted,
        gold_balance=balances.get(Currency.GOLD),
        gems_balance=balances.get(Currency.GEMS),
    )


def catalog_payloads(
    user_id: int | None, *, products: Iterable[Product] = (), packages: Iterable[LimitedPackage] = ()
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The catalog entries of ``products`` and of ``packages`` (each with its product) as the
    player sees them, what they may still buy with them: the player's units held read once
    for all (:func:`units_held`)."""
    products, packages = list(products), list(packages)
    held = (
        units_held(user_id, products=[*products, *(package.product for package in packages)], packages=packages)
        if user_id
        else None
    )
    return (
        [product_payload(product, held) for product in products],
        [product_payload(package.product, held, package=package) for package in packages],
    )


@lru_cache(maxsize=256)
def _units_held_sql(products: int, packages: int, excluding: bool) -> str:
    """:func:`units_held`'s statement, written out once per shape instead of compiled on every
    catalog request (its ORM form cost more than the rest of the request): units per
    (product, package) pair, summed since the day's, week's and month's start and in all."""
    column = partial(column_name, Order)
    counted_at = f"COALESCE({column('paid_at')}, {column('created_at')})"
    since = ", ".join(
        f"SUM(CASE WHEN {counted_at} >= %s THEN {column('quantity')} ELSE 0 END)" for _ in LIMIT_PERIODS[:-1]
    )
    among = [
        f"{column(field)} IN ({', '.join(['%s'] * count)})"
        for field, count in (("product", products), ("package", packages))
        if count
    ]
    return (
        f"SELECT {column('product')}, {column('package')}, {since}, SUM({column('quantity')})"  # noqa: S608 - names from the model
        f" FROM {connections[router.db_for_read(Order)].ops.quote_name(Order._meta.db_table)}"
        f" WHERE {column('user')} = %s AND {column('status')} IN ({', '.join(['%s'] * len(COUNTED_STATUSES))})"
        + (f" AND {column('id')} <> %s" if excluding else "")
        + f" AND ({' OR '.join(among)})"
        f" GROUP BY {column('product')}, {column('package')}"
    )


def product_payload(
    product: Product, held: UnitsHeld | None, *, package: LimitedPackage | None = None
) -> dict[str, Any]:
    """One catalog entry; ``held``: the player's units (:func:`units_held`; None: no player)."""
    limit = held.product_left(product) if held is not None else LimitLeft(None, None)
    payload: dict[str, Any] = {
        "id": product.pk,
        "product_id": product.sku,
        "name": product.name,
        "description": product.description,
        "kind": product.kind,
        "price": product.price_amount,
        "currency": product.currency_label,
        "price_type": product.price_type,
        "grants": product.grants,
        "grant_items": product.grant_items,
        "is_active": product.is_active,
        "min_vip_tier": product.min_vip_tier or None,
        "remaining_stock": None,
        "per_user_limit": None,
        "user_remaining": limit.remaining,
        "limit_period": limit.period,
    }
    if package is not None:
        left = held.package_left(package) if held is not None else package.per_player_limit
        payload.update(
            {
                "package_id": package.code,
                "remaining_stock": package.remaining_stock,
                "total_stock": package.total_stock,
                "per_user_limit": package.per_player_limit,
                "user_remaining": left if limit.remaining is None else min(left, limit.remaining),
                "starts_at": package.starts_at,
                "ends_at": package.ends_at,
            }
        )
    return payload


def orders_awaiting_settlement(age: timedelta) -> QuerySet[Order]:
    """Orders to ask the provider about: pending ones older than ``age``, and
    paid ones whose refund (they could not be fulfilled) has not gone through
    for that long."""
    cutoff = timezone.now() - age
    return Order.objects.filter(
        Q(status=OrderStatus.PENDING, created_at__lt=cutoff) | Q(status=OrderStatus.PAID, updated_at__lt=cutoff)
    ).exclude(provider_reference="")


def transactions_after(user_id: int, *, after_id: int) -> QuerySet[Order]:
    """The player's orders listed after order ``after_id`` (newest first, as
    ``transactions_for``): the cursor of ``GET /api/shop/transactions``. An id
    that is not one of the player's orders falls back to the ids below it."""
    orders = transactions_for(user_id)
    anchor = Order.objects.filter(user_id=user_id, pk=after_id).values_list("created_at", flat=True).first()
    if anchor is None:
        return orders.filter(pk__lt=after_id)
    return orders.filter(Q(created_at__lt=anchor) | Q(created_at=anchor, pk__lt=after_id))
