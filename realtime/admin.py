from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from casino.admin_tools import ReadOnlyAdmin, action_with_reason, staff_member
from realtime.models import Notification, OutboxEvent, PushSubscription
from realtime.relay import outbox_retry_dead


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "occurred_at",
        "type",
        "user_id",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "type", ("occurred_at", admin.DateFieldListFilter)]
    search_fields = ["=event_id", "=user_id"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False  # the outbox can be large
    actions = [
        action_with_reason(
            name="retry_dead",
            description="Retry selected dead rows",
            permission="realtime.retry_outbox",
            service=lambda request, row, reason: outbox_retry_dead(
                actor=staff_member(request), event_ids=[row.pk], reason=reason
            ),
            success="Queued {count} row(s) for the relay again (rows that were not dead are unchanged).",
        )
    ]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        # "=user_id" on a number column: ignore terms that are not numbers or UUIDs instead of erroring.
        import uuid

        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(user_id=int(term)), False
        try:
            return queryset.filter(event_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "user_id", "kind", "title", "read_at"]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=user__id"]
    show_full_result_count = False


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["id", "user_id", "updated_at", "last_success_at"]
    search_fields = ["=user__id"]
    exclude = ["p256dh", "auth"]  # the browser's keys: not for staff eyes
