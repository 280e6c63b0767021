"""Celery entry points of the shop."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from shop import services
from shop.selectors import orders_awaiting_settlement


@shared_task(name="shop.tasks.expire_pending_orders", ignore_result=True)
def expire_pending_orders() -> int:
    return services.orders_expire_stale()


@shared_task(name="shop.tasks.reconcile_pending_orders", ignore_result=True)
def reconcile_pending_orders() -> dict[str, int]:
    """Settle orders whose webhook never came, by asking the provider."""
    outcome: dict[str, int] = {}
    for order in orders_awaiting_settlement(settings.SHOP_PENDING_ORDER_TTL / 3)[:500]:
        try:
            result = services.order_settle(order=order).value
        except Exception:  # noqa: BLE001 - one provider error must not stop the sweep
            result = "error"
        outcome[result] = outcome.get(result, 0) + 1
    return outcome
