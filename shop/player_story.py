"""The shop's section of the player's page (``accounts.admin_story``): the
latest orders, each linking to its page, and the counts by state."""

from __future__ import annotations

from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_story import Figure, PlayerSection, register_player_section
from accounts.models import User
from shop.admin.common import price_label
from shop.models import OPEN_STATUSES, Order, OrderStatus

ORDER_ROWS = 10


def orders_section(user: User, request: HttpRequest) -> PlayerSection:
    """Two queries: the latest orders (with their product), the counts."""
    orders = list(Order.objects.filter(user=user).select_related("product").order_by("-created_at", "-id")[:ORDER_ROWS])
    counts = (
        Order.objects.filter(user=user).aggregate(
            total=Count("id"),
            fulfilled=Count("id", filter=Q(status=OrderStatus.FULFILLED)),
            refunded=Count("id", filter=Q(status=OrderStatus.REFUNDED)),
            open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
        )
        if orders
        else {"total": 0, "fulfilled": 0, "refunded": 0, "open": 0}
    )
    rows = [
        (
            format_html(
                '<a href="{}" class="order-link">{}</a>',
                reverse("admin:shop_order_change", args=[order.pk]),
                order.receipt_code,
            ),
            order.product.name,
            order.get_status_display(),
            price_label(order.total, order.price_type, order.currency),
            timezone.localtime(order.created_at).strftime("%Y-%m-%d %H:%M"),
        )
        for order in orders
    ]
    return PlayerSection(
        figures=(
            Figure("Orders", counts["total"]),
            Figure("Fulfilled", counts["fulfilled"]),
            Figure("Refunded", counts["refunded"], state="warning" if counts["refunded"] else ""),
            Figure("Open", counts["open"]),
        ),
        columns=("Receipt", "Product", "Status", "Total", "When"),
        rows=tuple(rows),
        see_all_url=reverse("admin:shop_order_changelist") + f"?user__id__exact={user.pk}",
        see_all_label="All orders (refunds, settlement)",
        empty="No order yet.",
    )


def register() -> None:
    """Called by ``ShopConfig.ready``."""
    register_player_section("orders", "Orders", order=60, provider=orders_section, permission="shop.view_order")
