"""What shop shows on the staff dashboard (``casino.dashboard``; registered in
``shop/apps.py``): revenue and orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse

from accounts.staff_dashboard import activity_counts
from casino.dashboard import DashboardContext, Figure, analytics_url
from casino.degraded import dependency_failed
from shop.models import OPEN_STATUSES, Order, OrderStatus, PriceType

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
