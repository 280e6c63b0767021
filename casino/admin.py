from django.contrib import admin

from casino.admin_tools import ReadOnlyAdmin
from casino.models import AuditLog, IdempotencyRecord


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "target_type", "target_id", "target_label", "reason"]
    list_filter = ["action", "target_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_label", "target_id", "target_label", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "key", "request_method", "request_path", "state", "response_status"]
    list_filter = ["state", "request_method"]
    search_fields = ["key", "user__site_id", "request_path"]
    exclude = ["response_body"]
    list_select_related = ["user"]
