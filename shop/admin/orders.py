"""Back office for orders and what they leave behind: orders (read-only, with
their transitions), fraud decisions and owned items.

Orders change only through actions that ask for a reason and call
``shop.services`` once per selected order (each its own transaction, each
audited by the service): settle with the provider (``shop.settle_order``),
refund (``shop.refund_order``), decide a fraud review (``shop.review_order``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import ReadOnlyAdmin, action_with_reason, player_link
from shop import services
from shop.admin.common import OrderProviderFilter, admin_link, price_label
from shop.models import FraudDecision, Order, OrderTransition, OwnedItem, WebhookEvent

# Orders are read-only rows; each action has its own permission (shop.Order's
# Meta.permissions), checked again by the service it calls.
SETTLE_PERMISSION = "shop.settle_order"
REFUND_PERMISSION = "shop.refund_order"
REVIEW_PERMISSION = "shop.review_order"


class OrderTransitionInline(admin.TabularInline):
    model = OrderTransition
    fields = readonly_fields = ("created_at", "from_status", "to_status", "reason", "actor")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[OrderTransition]:
        return super().get_queryset(request).select_related("actor")


def _order_action(
    *,
    name: str,
    description: str,
    permission: str,
    call: Callable[[HttpRequest, Order, str], str],
    success: str,
) -> Callable[..., HttpResponse | None]:
    """An order action: a reason first, then ``call`` once per order; ``call``
    returns the line reported for that order (errors are reported by
    ``action_with_reason``). Offered to staff who hold ``permission``."""

    def service(request: HttpRequest, order: Order, reason: str) -> None:
        messages.info(request, f"{order.receipt_code}: {call(request, order, reason)}")

    return action_with_reason(
        name=name, description=description, permission=permission, service=service, success=success
    )


def _settle(request: HttpRequest, order: Order, reason: str) -> str:
    result = services.order_settle(order=order, actor=request_staff(request), reason=reason)
    return f"settlement: {result.label} (status {order.get_status_display().lower()})"


def _refund(request: HttpRequest, order: Order, reason: str) -> str:
    refunded = services.order_refund(actor=request_staff(request), order=order, reason=reason)
    return f"refunded {price_label(refunded.total, refunded.price_type, refunded.currency)}"


def _review(approve: bool) -> Callable[[HttpRequest, Order, str], str]:
    def decide(request: HttpRequest, order: Order, reason: str) -> str:
        decided = services.order_review(actor=request_staff(request), order=order, approve=approve, reason=reason)
        return f"review {'approved' if approve else 'rejected'}, now {decided.get_status_display().lower()}"

    return decide


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "receipt_code",
        "player",
        "product",
        "quantity",
        "status",
        "total_display",
        "provider",
        "created_at",
        "paid_at",
        "fulfilled_at",
    ]
    list_filter = ["status", OrderProviderFilter, "price_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["receipt_code", "user__site_id", "user__nickname", "provider_reference"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "product"]
    show_full_result_count = False  # orders grow without bound: no COUNT(*) per page
    inlines = [OrderTransitionInline]
    fieldsets = (
        (None, {"fields": ("receipt_code", "player", "status", "failure_reason", "fraud", "webhook_list")}),
        ("What", {"fields": ("product", "package", "quantity", "grants", "grant_items", "stock_held")}),
        (
            "Money",
            {"fields": ("price_type", "currency", "unit_price", "subtotal", "discount", "total_display", "promo")},
        ),
        ("Payment", {"fields": ("provider", "provider_reference", "checkout_url")}),
        ("When", {"fields": ("created_at", "updated_at", "paid_at", "fulfilled_at", "refunded_at")}),
        ("Request", {"fields": ("idempotency_key", "request_fingerprint", "ip_address", "device_id")}),
    )
    readonly_fields = [str(field) for _, options in fieldsets for field in options["fields"]]
    actions = [
        _order_action(
            name="settle_orders",
            description="Settle with the provider",
            permission=SETTLE_PERMISSION,
            call=_settle,
            success="Asked the provider about {count} order(s).",
        ),
        _order_action(
            name="refund_orders",
            description="Refund",
            permission=REFUND_PERMISSION,
            call=_refund,
            success="Refunded {count} order(s).",
        ),
        _order_action(
            name="approve_review",
            description="Approve review (send to payment)",
            permission=REVIEW_PERMISSION,
            call=_review(True),
            success="Approved {count} order(s).",
        ),
        _order_action(
            name="reject_review",
            description="Reject review (fail the order)",
            permission=REVIEW_PERMISSION,
            call=_review(False),
            success="Rejected {count} order(s).",
        ),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        return super().get_queryset(request).select_related("user", "product")

    @admin.display(description="player", ordering="user__nickname")
    def player(self, order: Order) -> SafeString | str:
        return player_link(order.user)

    @admin.display(description="total", ordering="total")
    def total_display(self, order: Order) -> str:
        return price_label(order.total, order.price_type, order.currency)

    @admin.display(description="fraud decision")
    def fraud(self, order: Order) -> SafeString | str:
        decision = FraudDecision.objects.filter(order=order).first()
        if decision is None:
            return "-"
        return admin_link(decision, f"{decision.get_action_display()} (score {decision.score})")

    @admin.display(description="webhooks")
    def webhook_list(self, order: Order) -> SafeString | str:
        count = WebhookEvent.objects.filter(order=order).count()
        if not count:
            return "-"
        url = reverse("admin:shop_webhookevent_changelist") + f"?order__id__exact={order.pk}"
        return format_html('<a href="{}">{} delivery(ies)</a>', url, count)


@admin.register(FraudDecision)
class FraudDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "player", "action", "score", "rules", "order_link", "rules_version_short"]
    list_filter = ["action", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__site_id"]
    list_select_related = ["user", "order"]
    show_full_result_count = False
    fields = readonly_fields = (
        "created_at",
        "player",
        "action",
        "score",
        "order_link",
        "matched_rules_table",
        "features_table",
        "rules_version",
    )

    @admin.display(description="player", ordering="user__nickname")
    def player(self, decision: FraudDecision) -> SafeString | str:
        return player_link(decision.user)

    @admin.display(description="matched rules")
    def rules(self, decision: FraudDecision) -> str:
        names = [str(rule.get("name", rule) if isinstance(rule, dict) else rule) for rule in decision.matched_rules]
        return ", ".join(names) or "-"

    @admin.display(description="order")
    def order_link(self, decision: FraudDecision) -> SafeString | str:
        return admin_link(decision.order, decision.order.receipt_code if decision.order else None)

    @admin.display(description="rules version")
    def rules_version_short(self, decision: FraudDecision) -> str:
        return decision.rules_version[:12]

    @admin.display(description="matched rules")
    def matched_rules_table(self, decision: FraudDecision) -> SafeString:
        if not decision.matched_rules:
            return format_html("<p>{}</p>", "No rule matched.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            (
                (rule.get("name", ""), rule.get("points", "")) if isinstance(rule, dict) else (rule, "")
                for rule in decision.matched_rules
            ),
        )
        return format_html(
            '<table class="fraud-rules"><thead><tr><th>Rule</th><th>Points</th></tr></thead>'
            "<tbody>{}</tbody><tfoot><tr><th>Score</th><th>{}</th></tr></tfoot></table>",
            rows,
            decision.score,
        )

    @admin.display(description="features")
    def features_table(self, decision: FraudDecision) -> SafeString:
        if not decision.features:
            return format_html("<p>{}</p>", "None recorded.")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td></tr>",
            ((name, "unknown" if value is None else value) for name, value in sorted(decision.features.items())),
        )
        return format_html(
            '<table class="fraud-features"><thead><tr><th>Feature</th><th>Value</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )


@admin.register(OwnedItem)
class OwnedItemAdmin(ReadOnlyAdmin):
    list_display = ["item_code", "player", "quantity", "updated_at"]
    search_fields = ["user__site_id", "user__nickname", "item_code"]
    list_select_related = ["user"]

    @admin.display(description="player", ordering="user__nickname")
    def player(self, item: OwnedItem) -> SafeString | str:
        return player_link(item.user)
