"""The staff dashboard's revenue chart (shop.staff_dashboard.dashboard_revenue_per_day): real money
taken per day of the last 30 and per currency, from the orders fulfilled now (PostgreSQL) or
from their ``purchase_update`` events (ClickHouse), the same either way: orders made and paid
through the shop's services and the sandbox provider's signed webhooks, one refunded after its
fulfilment, one never paid, one in game currency; each order counted once, also when its events
were delivered twice."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.tests.staff import staff_with
from casino.dashboard import DashboardContext, dashboard_build, dashboard_for
from casino.degraded import dependency_failures
from casino.tests.test_dashboard_tables import analytics_store, insert_outbox_again, ship_outbox_to_clickhouse
from economy.tests.factories import player_with_wallet
from shop import services
from shop.models import Order, OrderStatus, SandboxPayment, SandboxPaymentStatus
from shop.providers.sandbox import WebhookEventType, webhook_payload
from shop.staff_dashboard import (
    dashboard_revenue_per_day,
    revenue_per_day_from_clickhouse,
    revenue_per_day_from_postgres,
)
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory
from shop.webhooks import signature_headers

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
FIRST_DAY = TODAY - timedelta(days=29)  # the chart's first day


@pytest.fixture(autouse=True)
def no_fraud_rules(tmp_path: Any, settings: Any) -> None:
    """The players here buy often on purpose: no velocity rule sends them to review."""
    rules = tmp_path / "no-rules.yaml"
    rules.write_text("thresholds:\n  review: 40\n  block: 80\nrules: []\n")
    settings.SHOP_FRAUD_RULES_PATH = rules


def deliver(order: Order, event_type: str) -> services.WebhookOutcome:
    """A signed webhook about ``order``'s payment, as the sandbox provider sends it now."""
    payment = SandboxPayment.objects.get(reference=order.provider_reference)
    body = json.dumps(webhook_payload(event_type=event_type, payment=payment)).encode()
    headers = signature_headers(
        secrets=list(django_settings.SHOP_WEBHOOK_SECRETS[:1]),
        msg_id=f"msg_{uuid.uuid4().hex}",
        timestamp=int(timezone.now().timestamp()),
        body=body,
    )
    return services.payment_webhook_receive(headers=headers, body=body)


def bought(player: Any, product: Any, at: datetime, *, paid: bool = True) -> Order:
    """``player`` buys ``product`` at ``at``; a money order is paid at the provider and its
    success webhook delivered a minute later (unless not ``paid``)."""
    with time_machine.travel(at, tick=False):
        order = services.shop_buy(user=player, product_sku=product.sku, idempotency_key=str(uuid.uuid4())).order
    if paid and product.is_money:
        SandboxPayment.objects.filter(reference=order.provider_reference).update(status=SandboxPaymentStatus.APPROVED)
        with time_machine.travel(at + timedelta(minutes=1), tick=False):
            assert deliver(order, WebhookEventType.SUCCEEDED).result == services.PaymentOutcome.FULFILLED
    order.refresh_from_db()
    return order


def refunded_by_the_provider(order: Order, at: datetime) -> None:
    SandboxPayment.objects.filter(reference=order.provider_reference).update(
        status=SandboxPaymentStatus.REFUNDED, refunded_amount=order.total
    )
    with time_machine.travel(at, tick=False):
        deliver(order, WebhookEventType.REFUNDED)
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED


def a_month_of_orders() -> dict[str, Any]:
    """USD: 4.99 + 9.99 today, 19.99 six days ago, 1.99 on the chart's first day, 7.77 the day
    before it (off the chart), 50.00 three days ago refunded today, 3.00 never paid; EUR: 2.50
    eight days ago; and a gem-priced order today (not money)."""
    usd, usd_big, usd_small = (MoneyProductFactory(price_amount=amount) for amount in (499, 1999, 199))
    payer, other = player_with_wallet(gems=5_000), player_with_wallet()
    orders = {
        "today": bought(payer, usd, NOW - timedelta(hours=3)),
        "today_too": bought(other, MoneyProductFactory(price_amount=999), NOW - timedelta(hours=2)),
        "six_days_ago": bought(payer, usd_big, NOW - timedelta(days=6)),
        "first_day": bought(other, usd_small, datetime.combine(FIRST_DAY, datetime.min.time(), UTC)),
        "before_the_chart": bought(other, MoneyProductFactory(price_amount=777), NOW - timedelta(days=31)),
        "refunded": bought(payer, MoneyProductFactory(price_amount=5000), NOW - timedelta(days=3)),
        "never_paid": bought(other, MoneyProductFactory(price_amount=300), NOW - timedelta(hours=1), paid=False),
        "eur": bought(payer, MoneyProductFactory(price_amount=250, price_currency="EUR"), NOW - timedelta(days=8)),
        "gems": bought(payer, GemPriceProductFactory(), NOW - timedelta(hours=1)),
    }
    refunded_by_the_provider(orders["refunded"], NOW - timedelta(hours=1))
    assert orders["never_paid"].status == OrderStatus.PENDING
    assert orders["gems"].status == OrderStatus.FULFILLED
    return orders


EXPECTED = {
    "USD": {TODAY: 499 + 999, TODAY - timedelta(days=6): 1999, FIRST_DAY: 199},
    "EUR": {TODAY - timedelta(days=8): 250},
}


def chart(settings: Any, clickhouse_url: str = "") -> dict[str, dict[date, int]]:
    settings.CLICKHOUSE_URL = clickhouse_url
    return dashboard_revenue_per_day(DashboardContext(now=NOW))


def test_the_chart_sums_the_money_fulfilled_each_day_per_currency(settings: Any) -> None:
    a_month_of_orders()

    assert chart(settings) == EXPECTED

    data = dashboard_build(now=NOW).chart("revenue")
    usd = next(series for series in data.series if series.label == "USD")
    assert usd.total == 499 + 999 + 1999 + 199
    assert usd.today_text == "14.98 USD"
    assert [series.label for series in data.series] == ["EUR", "USD"]


def test_a_refund_takes_the_order_off_the_day_it_was_fulfilled(settings: Any) -> None:
    orders = a_month_of_orders()
    late = bought(orders["today"].user, MoneyProductFactory(price_amount=1234), NOW - timedelta(days=5))
    assert chart(settings)["USD"][TODAY - timedelta(days=5)] == 1234

    refunded_by_the_provider(late, NOW - timedelta(minutes=5))

    assert TODAY - timedelta(days=5) not in chart(settings)["USD"]


@pytest.fixture
def store(settings: Any) -> Iterator[str]:
    with analytics_store(settings) as url:
        yield url


def test_clickhouse_counts_each_order_once_from_its_events(settings: Any, store: str) -> None:
    # Given the orders' events in ClickHouse, each delivered twice
    a_month_of_orders()
    insert_outbox_again()
    insert_outbox_again()

    # Then both sources give the same known chart
    assert revenue_per_day_from_clickhouse(FIRST_DAY, TODAY) == EXPECTED
    assert revenue_per_day_from_postgres(FIRST_DAY, TODAY) == EXPECTED
    assert chart(settings, store) == EXPECTED


def test_a_clickhouse_that_does_not_answer_gives_the_postgresql_chart(settings: Any) -> None:
    a_month_of_orders()
    failures = dependency_failures.labels(dependency="clickhouse", use="staff_dashboard")
    before = failures._value.get()

    assert chart(settings, "clickhouse://default:@127.0.0.1:1/casino") == EXPECTED
    assert failures._value.get() == before + 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.services
@pytest.mark.timeout(120)
def test_clickhouse_fed_by_the_relay_and_the_sink_gives_the_postgresql_chart(settings: Any) -> None:
    with analytics_store(settings) as url:
        # Given a month of orders made, paid, refunded through the shop's services
        a_month_of_orders()

        # When their events go through the relay and the sink (and a batch is delivered twice)
        ship_outbox_to_clickhouse(settings)
        insert_outbox_again()

        # Then the chart from ClickHouse is the chart from PostgreSQL
        assert chart(settings, url) == chart(settings) == EXPECTED
        settings.CLICKHOUSE_URL = url
        from_clickhouse = dashboard_build(now=NOW).chart("revenue")
        settings.CLICKHOUSE_URL = ""
        from_postgres = dashboard_build(now=NOW).chart("revenue")
        assert from_clickhouse == from_postgres


def test_the_chart_is_shown_only_to_staff_who_may_see_revenue(settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    _, finance = staff_with("shop.view_revenue")
    _, rounds_reader = staff_with("games.view_gameround")

    assert "revenue" in {chart.key for chart in dashboard_for(finance).charts}
    assert "revenue" not in {chart.key for chart in dashboard_for(rounds_reader).charts}
