"""Back office for payments: the webhook deliveries (a failed verified one can
be re-processed, audited by ``shop.services.webhook_process``) and the sandbox
provider's own books."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import ReadOnlyAdmin, staff_action
from casino.errors import ApplicationError
from shop import services
from shop.admin.common import ProviderFilter, admin_link, json_block, price_label
from shop.exceptions import WebhookRejected
from shop.models import PriceType, SandboxPayment, WebhookEvent, WebhookStatus

# Webhook events are read-only rows; re-processing one has its own permission
# (shop.WebhookEvent's Meta.permissions), checked again by ``webhook_process``.
REPROCESS_PERMISSION = "shop.reprocess_webhook"

REPROCESSABLE = (WebhookStatus.FAILED, WebhookStatus.RECEIVED)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "provider",
        "external_id",
        "event_type",
        "status",
        "error_code",
        "signature_valid",
        "attempts",
        "order_link",
    ]
    list_filter = [
        "status",
        ProviderFilter,
        "error_code",
        "signature_valid",
        ("received_at", admin.DateFieldListFilter),
    ]
    search_fields = ["external_id"]
    list_select_related = ["order"]
    show_full_result_count = False
    fields = readonly_fields = (
        "provider",
        "external_id",
        "event_type",
        "status",
        "error_code",
        "last_error",
        "signature_valid",
        "attempts",
        "order_link",
        "received_at",
        "processed_at",
        "payload_pretty",
        "raw_body_pretty",
    )
    actions = ["reprocess"]

    @admin.display(description="order", ordering="order__receipt_code")
    def order_link(self, event: WebhookEvent) -> SafeString | str:
        return admin_link(event.order, event.order.receipt_code if event.order else None)

    @admin.display(description="payload")
    def payload_pretty(self, event: WebhookEvent) -> SafeString:
        return json_block(event.payload)

    @admin.display(description="raw body")
    def raw_body_pretty(self, event: WebhookEvent) -> SafeString:
        return format_html("<pre>{}</pre>", event.raw_body)

    @staff_action(permission=REPROCESS_PERMISSION, description="Re-process selected webhooks")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        """Apply stored verified deliveries again (``webhook_process`` audits
        each one). Unverified deliveries are never applied: their payload is
        not trusted."""
        done = 0
        for event in queryset.order_by("pk"):
            if not event.signature_valid or event.status not in REPROCESSABLE:
                why = "its signature was not verified" if not event.signature_valid else f"it is {event.status}"
                self.message_user(request, f"{event}: skipped, {why}.", messages.WARNING)
                continue
            try:  # one transaction per event, owned by the service
                result = services.webhook_process(event=event, actor=request_staff(request))
            except WebhookRejected as exc:
                self.message_user(request, f"{event.external_id}: refused ({exc.code}): {exc.message}", messages.ERROR)
            except ApplicationError as exc:
                self.message_user(request, f"{event.external_id}: {exc.message}", messages.ERROR)
            else:
                done += 1
                self.message_user(request, f"{event.external_id}: {result.label}.", messages.INFO)
        if done:
            self.message_user(request, f"Re-processed {done} webhook(s).", messages.SUCCESS)


@admin.register(SandboxPayment)
class SandboxPaymentAdmin(ReadOnlyAdmin):
    """The sandbox provider's own books (a stand-in for the provider's dashboard)."""

    list_display = [
        "created_at",
        "reference",
        "merchant_reference",
        "amount_display",
        "status",
        "payment_instrument",
        "refunded_amount",
        "updated_at",
    ]
    list_filter = ["status", "currency"]
    search_fields = ["reference", "merchant_reference"]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, payment: SandboxPayment) -> str:
        return price_label(payment.amount, PriceType.MONEY, payment.currency)
