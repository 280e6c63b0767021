from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from casino.admin_tools import ReadOnlyAdmin, action_with_reason, player_link, staff_member
from realtime.models import Notification, OutboxEvent, PushSubscription
from realtime.relay import outbox_retry_dead


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "occurred_at",
        "type",
        "player",
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

    @admin.display(description="player", ordering="user_id")
    def player(self, row: OutboxEvent) -> SafeString | str:
        # Outbox rows keep a bare user id (they outlive users), and realtime reads no user table:
        # the link says "player #id" and opens the player's page.
        return player_link(row.user_id)

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
    list_display = ["id", "created_at", "player", "kind", "title", "read_at"]
    list_filter = ["kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=user__id"]
    list_select_related = ["user"]
    show_full_result_count = False

    @admin.display(description="player", ordering="user__nickname")
    def player(self, notification: Notification) -> SafeString | str:
        return player_link(notification.user)


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["id", "player", "updated_at", "last_success_at"]
    search_fields = ["=user__id"]
    list_select_related = ["user"]
    exclude = ["p256dh", "auth"]  # the browser's keys: not for staff eyes

    @admin.display(description="player", ordering="user__nickname")
    def player(self, subscription: PushSubscription) -> SafeString | str:
        return player_link(subscription.user)
