"""The platform's back office: the audit log, idempotency records, the back-office jobs
(progress and results of long operations), the site-wide CSV export, and django-celery-beat's
schedules with their actions put under a permission."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.safestring import SafeString
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from casino.admin_export import export_as_csv
from casino.admin_jobs import AdminJobAdmin
from casino.admin_tools import ReadOnlyAdmin, StaffActionsMixin, player_link, staff_action, staff_member
from casino.models import AdminJob, AuditLog, IdempotencyRecord
from casino.services import audit_record

# Any changelist, exported as CSV (needs casino.export_data: personal data leaves the system).
admin.site.add_action(export_as_csv)  # type: ignore[arg-type]  # the stubs want a TemplateResponse; any response will do
admin.site.register(AdminJob, AdminJobAdmin)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "target_type", "target_id", "target_label", "reason"]
    list_filter = ["action", "target_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_label", "target_id", "target_label", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["actor"]


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "player", "key", "request_method", "request_path", "state", "response_status"]
    list_filter = ["state", "request_method"]
    search_fields = ["key", "user__site_id", "request_path"]
    exclude = ["response_body"]
    list_select_related = ["user"]

    @admin.display(description="player", ordering="user__nickname")
    def player(self, record: IdempotencyRecord) -> SafeString | str:
        return player_link(record.user)


# --- Periodic tasks (django-celery-beat) ----------------------------------------------------
# The package's own actions check no permission: staff who may only *view* the
# schedules could switch the ledger audit off or run any task. The same actions,
# each needing the change permission and leaving an audit record.

SCHEDULE_PERMISSION = "django_celery_beat.change_periodictask"


def _schedule_action(name: str, description: str, *, atomic: bool = True) -> Any:
    original = getattr(BeatPeriodicTaskAdmin, name)

    @staff_action(permission=SCHEDULE_PERMISSION, description=description)
    def action(modeladmin: Any, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> HttpResponse | None:
        tasks = sorted(queryset.values_list("name", flat=True))

        def record() -> None:
            audit_record(
                actor=staff_member(request),
                action=f"periodic_tasks_{name.removesuffix('_tasks')}",
                target_type="django_celery_beat.periodictask",
                target_id=f"{len(tasks)} task(s)",
                reason="from the back office",
                data={"tasks": tasks},
            )

        if not atomic:  # running a task may open its own durable transaction: record first, then run
            record()
            response: HttpResponse | None = original(modeladmin, request, queryset)
            return response
        with transaction.atomic():
            record()
            response = original(modeladmin, request, queryset)
        return response

    action.__name__ = name
    return action


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(StaffActionsMixin, BeatPeriodicTaskAdmin):  # type: ignore[misc]  # untyped package
    actions = (
        _schedule_action("enable_tasks", "Enable selected tasks"),
        _schedule_action("disable_tasks", "Disable selected tasks"),
        _schedule_action("toggle_tasks", "Toggle activity of selected tasks"),
        _schedule_action("run_tasks", "Run selected tasks", atomic=False),
    )
