from django.contrib import admin

from casino.admin_tools import ReadOnlyAdmin
from realtime.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "type", "user_id", "status", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["status", "type", ("occurred_at", admin.DateFieldListFilter)]
    search_fields = ["=event_id", "=user_id"]
    date_hierarchy = "occurred_at"
