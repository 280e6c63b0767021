"""The shop's part of the players' RFM figures (``economy.rfm``): every fulfilled real-money
order is an activity, and its total is money spent when it is in the segments' currency
(``SEGMENT_CURRENCY``; other currencies are not added up). An order refunded since counts
for nothing: the money came back. Orders paid with gold or gems are no purchase here.

From the orders themselves (``fulfilled_at``), or from ClickHouse's ``purchase_update``
events: one row per order (``receipt_code``), its time the first event in which it was
fulfilled, dropped when any event refunded it."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q, Sum

from economy.enums import Currency
from economy.rfm import RfmFacts, RfmSpan, from_epoch_ms
from shop.models import Order, OrderStatus, PriceType

PURCHASE_EVENT = "purchase_update"
# What a game-currency order's ``currency`` is (anything else is an ISO code: money).
GAME_CURRENCIES = (Currency.GOLD.value, Currency.GEMS.value)


def orders_postgres(span: RfmSpan) -> dict[int, RfmFacts]:
    in_window = Q(fulfilled_at__gte=span.since)
    in_currency = Q(currency=span.currency)
    rows = (
        Order.objects.filter(status=OrderStatus.FULFILLED, price_type=PriceType.MONEY, fulfilled_at__lt=span.until)
        .values("user_id")
        .annotate(
            last_at=Max("fulfilled_at"),
            orders=Count("id", filter=in_window),
            spent=Sum("total", filter=in_window & in_currency, default=0),
            spent_total=Sum("total", filter=in_currency, default=0),
        )
        .order_by()
        .values_list("user_id", "last_at", "orders", "spent", "spent_total")
    )
    return {
        user_id: RfmFacts(last_at=last_at, activities=orders, spent=int(spent), spent_total=int(spent_total))
        for user_id, last_at, orders, spent, spent_total in rows
    }


def orders_clickhouse(ch: Any, span: RfmSpan) -> dict[int, RfmFacts]:
    from realtime import clickhouse

    # A constant table name; every value is a bound parameter. The inner query makes one
    # row per order whatever the redeliveries (GROUP BY receipt), the outer one per player.
    query = f"""
        SELECT buyer, max(fulfilled_ms),
               countIf(fulfilled_ms >= %(since_ms)s),
               sumIf(total, fulfilled_ms >= %(since_ms)s AND currency = %(currency)s),
               sumIf(total, currency = %(currency)s)
        FROM (
            SELECT visitParamExtractString(data, 'receipt_code') AS receipt,
                   any(user_id) AS buyer,
                   minIf(occurred_ms, visitParamExtractString(data, 'state') = 'fulfilled') AS fulfilled_ms,
                   countIf(visitParamExtractString(data, 'state') = 'fulfilled') AS fulfilments,
                   countIf(visitParamExtractString(data, 'state') = 'refunded') AS refunds,
                   any(visitParamExtractString(data, 'currency')) AS currency,
                   max(visitParamExtractUInt(data, 'total')) AS total
            FROM {clickhouse.TABLE}
            WHERE type = %(type)s AND user_id > 0 AND occurred_ms < %(until_ms)s
            GROUP BY receipt
            HAVING fulfilments > 0 AND refunds = 0 AND currency NOT IN %(game_currencies)s
        )
        GROUP BY buyer
    """  # noqa: S608
    params = {
        "type": PURCHASE_EVENT,
        "since_ms": span.since_ms,
        "until_ms": span.until_ms,
        "currency": span.currency,
        "game_currencies": GAME_CURRENCIES,
    }
    return {
        int(user_id): RfmFacts(
            last_at=from_epoch_ms(last_ms), activities=int(orders), spent=int(spent), spent_total=int(spent_total)
        )
        for user_id, last_ms, orders, spent, spent_total in ch.execute(query, params)
    }


def register() -> None:
    from economy.rfm import register_rfm_source

    register_rfm_source("shop", postgres=orders_postgres, clickhouse=orders_clickhouse)
