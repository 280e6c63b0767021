"""Shop metrics: purchase attempts, orders by state, webhook failures, fraud decisions."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

purchase_attempts = Counter(
    "purchase_attempt", "Purchase attempts by flow (currency/money), result and reason.", ["flow", "result", "reason"]
)
webhook_verification_failures = Counter(
    "webhook_verification_failures", "Payment webhooks refused before processing, by reason.", ["reason"]
)
webhook_refusals_not_stored = Counter(
    "webhook_refusals_not_stored",
    "Refused payment webhooks answered 429 and not stored: their source address was over its limit.",
)
fraud_decisions = Counter("fraud_decisions", "Fraud rule decisions for real-money orders, by action.", ["action"])


class OrdersByStatusCollector(Collector):
    """shop_orders{status}: orders per state, read from the database at scrape time."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("shop_orders", "Orders by status.", labels=["status"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError
        from django.db.models import Count

        from shop.models import Order, OrderStatus

        family = GaugeMetricFamily("shop_orders", "Orders by status.", labels=["status"])
        try:
            counts = dict(Order.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        except DatabaseError:
            return
        for status in OrderStatus.values:
            family.add_metric([status], counts.get(status, 0))
        yield family


_registered = False


def register_collectors() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(OrdersByStatusCollector())
        _registered = True
