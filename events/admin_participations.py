"""The live-ops back office for the players' participations in events: read-only (progress comes
from what players do), with each participation's progress per requirement, except the audited
force-claim (``events.force_claim_event``), which pays exactly like the player's own claim, once.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import ReadOnlyAdmin, ReadOnlyMixin, action_with_reason, player_link
from casino.permissions import staff_permission_require
from events.admin_common import ClaimedFilter, CompletedFilter
from events.models import EventParticipation, EventProgress
from events.selectors import requirement_key
from events.services.event_admin import FORCE_CLAIM_EVENT
from events.services.events import event_force_claim


class EventProgressInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = EventProgress
    fields = readonly_fields = ("metric", "game", "value", "target")
    extra = 0
    can_delete = False
    ordering = ["id"]


def _force_claim(request: HttpRequest, participation: EventParticipation, reason: str) -> None:
    actor = request_staff(request)
    staff_permission_require(actor=actor, permission=FORCE_CLAIM_EVENT)  # event_force_claim trusts its caller
    result = event_force_claim(
        actor=actor, user_id=participation.user_id, event_id=participation.event_id, reason=reason
    )
    if result.claimed_now:
        paid = ", ".join([*(f"{amount} {currency}" for currency, amount in result.rewards.items()), *result.items])
        messages.success(
            request, f"{participation.user} in {participation.event}: paid {paid or 'nothing (no reward)'}."
        )
    else:
        claimed_at = result.participation.claimed_at
        messages.info(
            request,
            f"{participation.user} in {participation.event}: already claimed"
            f"{f' on {claimed_at:%Y-%m-%d %H:%M} UTC' if claimed_at else ''}; nothing paid now.",
        )


@admin.register(EventParticipation)
class EventParticipationAdmin(ReadOnlyAdmin):
    list_display = [
        "event",
        "player",
        "joined_at",
        "progress_summary",
        "completed",
        "claimed",
        "progress_version",
    ]
    list_filter = [CompletedFilter, ClaimedFilter, "event"]
    search_fields = ["user__nickname", "user__site_id", "event__title"]
    search_help_text = "A player's nickname or site id, or an event's title."
    list_select_related = ["event", "user"]
    ordering = ["-joined_at", "-id"]
    fields = readonly_fields = ("event", "player", "joined_at", "progress_version", "completed_at", "claimed_at")
    inlines = [EventProgressInline]
    show_full_result_count = False
    actions = [
        action_with_reason(
            name="force_claim",
            description="Force-claim the reward for the selected players (paid once, audited)",
            permission=FORCE_CLAIM_EVENT,
            service=_force_claim,
            success="Force-claim done for {count} participation(s).",
        )
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EventParticipation]:
        return super().get_queryset(request).prefetch_related("progress")

    @admin.display(description="player", ordering="user__nickname")
    def player(self, participation: EventParticipation) -> SafeString | str:
        return player_link(participation.user)

    @admin.display(description="progress")
    def progress_summary(self, participation: EventParticipation) -> str:
        rows = sorted(participation.progress.all(), key=lambda row: row.pk)
        return "; ".join(f"{requirement_key(row.metric, row.game)} {row.value}/{row.target}" for row in rows) or "-"

    @admin.display(description="completed", boolean=True, ordering="completed_at")
    def completed(self, participation: EventParticipation) -> bool:
        return participation.completed_at is not None

    @admin.display(description="claimed", boolean=True, ordering="claimed_at")
    def claimed(self, participation: EventParticipation) -> bool:
        return participation.claimed_at is not None
