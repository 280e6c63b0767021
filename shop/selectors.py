"""Shop reads: the catalog as a player sees it, limits left, transactions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.db import connection, connections, router
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.selectors import activity_counts
from casino.dashboard import DashboardContext, Figure, analytics_url
from casino.db import column_name, key_next_sql
from casino.degraded import dependency_failed
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


# --- Staff dashboard (casino.dashboard; registered in shop/apps.py) ------------------------
# Revenue is what fulfilled orders took: real money by currency (minor units), and
# separately what players paid in game currency (gold, gems). A refunded order is
# no longer fulfilled, so it leaves every figure.

SALES_PERIODS = ("today", "week", "month", "total")  # month: the last 30 days (UTC)


@dataclass(frozen=True)
class SalesTotals:
    money: dict[str, dict[str, int]]  # period -> {currency: minor units}
    game: dict[str, dict[str, int]]  # period -> {"gold" | "gems": amount}
    payers_month: dict[str, int]  # currency -> players who paid in it in the last 30 days
    payers_today: int  # players who paid real money today (any currency)


def _amount_text(amount: int, price_type: str, currency: str) -> str:
    # The admin's money format; imported here because the admin package imports the services.
    from shop.admin.common import price_label

    return price_label(amount, price_type, currency)


# All-time takings before today are kept this long between builds: summing every order ever
# fulfilled is the dashboard's one query that grows with history. A refund of an older order
# shows in the all-time figure within this time; everything of today shows at once.
ALL_TIME_KEPT_SECONDS = 300


def sales_totals(context: DashboardContext) -> SalesTotals:
    """Takings per period over the fulfilled orders, grouped by (price type, currency):
    one query for the last 30 days (today, this week since Monday, 30 days and their
    payers); all time = everything fulfilled before today (kept, see
    :data:`ALL_TIME_KEPT_SECONDS`) + today; one query for today's distinct payers of real
    money across currencies (a player paying in two currencies is one payer)."""
    # The periods of the purchase limits (period_starts): the UTC day, the week from Monday.
    today, month = context.days_start(1), context.days_start(30)
    week = context.day_start(context.today - timedelta(days=context.today.weekday()))
    fulfilled = Order.objects.filter(status=OrderStatus.FULFILLED).order_by()

    def before_today() -> list[dict[str, Any]]:
        rows = fulfilled.filter(fulfilled_at__lt=today).values("price_type", "currency").annotate(total=Sum("total"))
        return [{**row, "total": int(row["total"])} for row in rows]

    recent = (
        fulfilled.filter(fulfilled_at__gte=min(week, month))
        .values("price_type", "currency")
        .annotate(
            today=Sum("total", filter=Q(fulfilled_at__gte=today)),
            week=Sum("total", filter=Q(fulfilled_at__gte=week)),
            month=Sum("total", filter=Q(fulfilled_at__gte=month)),
            payers_month=Count("user", distinct=True, filter=Q(fulfilled_at__gte=month)),
        )
    )
    earlier = context.kept(f"shop:sales-before:{today.date()}", before_today, seconds=ALL_TIME_KEPT_SECONDS)
    money: dict[str, dict[str, int]] = {period: {} for period in SALES_PERIODS}
    game: dict[str, dict[str, int]] = {period: {} for period in SALES_PERIODS}
    payers_month: dict[str, int] = {}
    # Today's takings count in "total" too: all time is the earlier total plus today.
    for row in [*({**row, "total": row["today"]} for row in recent), *earlier]:
        by_period = money if row["price_type"] == PriceType.MONEY else game
        for period in SALES_PERIODS:
            if row.get(period):
                by_period[period][row["currency"]] = by_period[period].get(row["currency"], 0) + int(row[period])
        if row["price_type"] == PriceType.MONEY and row.get("payers_month"):
            payers_month[row["currency"]] = int(row["payers_month"])
    payers_today = fulfilled.filter(price_type=PriceType.MONEY, fulfilled_at__gte=today).aggregate(
        payers=Count("user", distinct=True)
    )["payers"]
    return SalesTotals(money=money, game=game, payers_month=payers_month, payers_today=int(payers_today))


def _money_text(amounts: dict[str, int]) -> str:
    if not amounts:
        return _amount_text(0, PriceType.MONEY, settings.SHOP_CURRENCY)
    return " · ".join(_amount_text(amount, PriceType.MONEY, currency) for currency, amount in sorted(amounts.items()))


def _revenue(context: DashboardContext, period: str, since: str) -> Figure:
    totals = context.once(sales_totals)
    money, game = totals.money[period], totals.game[period]
    in_game = " · ".join(f"{amount:,} {currency}" for currency, amount in sorted(game.items()))
    return Figure(
        value={"money": money, "game": game},
        text=_money_text(money),
        note=f"{since}; in game currency: {in_game or 'nothing'}",
        url=f"{reverse('admin:shop_order_changelist')}?status__exact={OrderStatus.FULFILLED}",
    )


def dashboard_revenue_today(context: DashboardContext) -> Figure:
    return _revenue(context, "today", "since 00:00 UTC")


def dashboard_revenue_week(context: DashboardContext) -> Figure:
    return _revenue(context, "week", "since Monday 00:00 UTC")


def dashboard_revenue_total(context: DashboardContext) -> Figure:
    return _revenue(context, "total", "every fulfilled order")


def dashboard_conversion(context: DashboardContext) -> Figure:
    """Payers today / daily active players (DAU)."""
    payers, active = context.once(sales_totals).payers_today, context.once(activity_counts).daily
    if not active:
        return Figure(value=None, text="no players", note=f"{payers:,} paying, none active today")
    ratio = payers / active
    return Figure(value=ratio, text=f"{ratio:.1%}", note=f"{payers:,} paying of {active:,} active today")


def dashboard_arppu(context: DashboardContext) -> Figure:
    """Average revenue per paying user over the last 30 days, per currency:
    revenue in the currency / players who paid in it (rounded to the minor unit)."""
    totals = context.once(sales_totals)
    arppu = {
        currency: round(totals.money["month"].get(currency, 0) / payers)
        for currency, payers in totals.payers_month.items()
    }
    payers = sum(totals.payers_month.values())
    return Figure(
        value=arppu or None,
        text=_money_text(arppu) if arppu else "no payers",
        note=f"last 30 days, {payers:,} paying player{'s' if payers != 1 else ''}",
    )


def open_order_counts(context: DashboardContext) -> dict[str, int]:
    rows = Order.objects.filter(status__in=OPEN_STATUSES).order_by().values("status").annotate(count=Count("*"))
    return {row["status"]: int(row["count"]) for row in rows}


def _open_orders(context: DashboardContext, status: str, note: str) -> Figure:
    count = context.once(open_order_counts).get(status, 0)
    url = f"{reverse('admin:shop_order_changelist')}?status__exact={status}"
    return Figure(value=count, text=f"{count:,}", note=note, url=url, tone="warn" if count else "")


def dashboard_orders_pending(context: DashboardContext) -> Figure:
    return _open_orders(context, OrderStatus.PENDING, "waiting for the payment")


def dashboard_orders_in_review(context: DashboardContext) -> Figure:
    return _open_orders(context, OrderStatus.PENDING_REVIEW, "held for a fraud review")


def revenue_per_day_from_postgres(first_day: date, last_day: date) -> dict[str, dict[date, int]]:
    """Real money taken per UTC day from ``first_day`` to ``last_day`` (both included), per
    currency (minor units): the orders fulfilled now, on the day of their fulfilment."""
    start = DashboardContext.day_start(first_day)
    end = DashboardContext.day_start(last_day + timedelta(days=1))
    rows = (
        Order.objects.filter(
            status=OrderStatus.FULFILLED, price_type=PriceType.MONEY, fulfilled_at__gte=start, fulfilled_at__lt=end
        )
        .annotate(day=TruncDate("fulfilled_at", tzinfo=UTC))
        .order_by()
        .values("currency", "day")
        .annotate(amount=Sum("total"))
    )
    series: dict[str, dict[date, int]] = {}
    for row in rows:
        series.setdefault(row["currency"], {})[row["day"]] = int(row["amount"])
    return series


# The same figure from ClickHouse's ``purchase_update`` events (shop.services.order_state): an
# order emits one per change of state, so the events are first gathered per order (its receipt
# code; a copy the ReplacingMergeTree has not merged away yet changes nothing there), and an
# order counts once, on the day of its ``fulfilled`` event, unless a ``refunded`` event followed
# (the only way out of ``fulfilled``: the same orders PostgreSQL finds fulfilled now). The event
# names no price type: a game-currency order's currency is its price type (gold, gems). Reading
# from the window's first day is enough: an order's refund never comes before its fulfilment.
_CLICKHOUSE_REVENUE = """
SELECT currency, day, sum(total)
FROM (
    SELECT visitParamExtractString(data, 'receipt_code') AS receipt,
           any(visitParamExtractString(data, 'currency')) AS currency,
           any(visitParamExtractUInt(data, 'total')) AS total,
           countIf(visitParamExtractString(data, 'state') = %(fulfilled)s) AS fulfilments,
           maxIf(event_date, visitParamExtractString(data, 'state') = %(fulfilled)s) AS day,
           countIf(visitParamExtractString(data, 'state') = %(refunded)s) AS refunds
    FROM {table}
    WHERE type = %(type)s AND event_date >= %(first_day)s
    GROUP BY receipt
)
WHERE fulfilments > 0 AND refunds = 0 AND day >= %(first_day)s AND day <= %(last_day)s
  AND currency NOT IN %(game_currencies)s
GROUP BY currency, day
"""
PURCHASE_UPDATE_EVENT = "purchase_update"


def revenue_per_day_from_clickhouse(first_day: date, last_day: date) -> dict[str, dict[date, int]]:
    """:func:`revenue_per_day_from_postgres` read from ``events_log`` (one query)."""
    from realtime import clickhouse

    params = {
        "type": PURCHASE_UPDATE_EVENT,
        "fulfilled": OrderStatus.FULFILLED.value,
        "refunded": OrderStatus.REFUNDED.value,
        "first_day": first_day,
        "last_day": last_day,
        "game_currencies": tuple(price_type.value for price_type in PriceType if price_type != PriceType.MONEY),
    }
    ch = clickhouse.client(analytics_url(settings.CLICKHOUSE_URL))
    try:
        # A constant table name; every value is a bound parameter.
        rows = ch.execute(_CLICKHOUSE_REVENUE.format(table=clickhouse.TABLE), params)
    finally:
        ch.disconnect()
    series: dict[str, dict[date, int]] = {}
    for currency, day, amount in rows:
        series.setdefault(str(currency), {})[day] = int(amount)
    return series


def dashboard_revenue_per_day(context: DashboardContext) -> dict[str, dict[date, int]]:
    """Real money taken per UTC day of the chart, per currency (minor units): from ClickHouse
    when it is configured and answers, else from PostgreSQL (the same figures)."""
    first_day, last_day = context.chart_first_day, context.chart_last_day
    if settings.CLICKHOUSE_URL and not context.dependency_down("clickhouse"):
        try:
            return revenue_per_day_from_clickhouse(first_day, last_day)
        except Exception as error:  # noqa: BLE001 - analytics down must not take the chart down
            context.mark_down("clickhouse")
            dependency_failed(dependency="clickhouse", use="staff_dashboard", error=error)
    return revenue_per_day_from_postgres(first_day, last_day)


def revenue_value_text(currency: str, amount: int | float | Decimal) -> str:
    return _amount_text(int(amount), PriceType.MONEY, currency)
