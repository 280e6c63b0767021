"""The live-ops back office for achievements: their definitions, and the players' progress
towards them (read-only: it comes from what players do).

Achievements change only through events.services.achievements (permission checked again there,
audited with the columns before and after and the reason staff give here). An achievement is
switched off, never deleted (players' progress and the ledger's references point at it); its
code, metric and game are fixed once it exists; a new threshold applies to every player who has
not unlocked it yet.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.models import User
from casino.admin_tools import ReadOnlyAdmin, player_link
from events.admin_common import DefinitionAdmin, DefinitionForm, DoneFilter, reason_field, switch_actions
from events.exceptions import InvalidAchievement
from events.models import Achievement, AchievementProgress
from events.services.achievements import (
    ACHIEVEMENT_FIELDS,
    CHANGE_ACHIEVEMENT,
    FIXED_AFTER_CREATE,
    achievement_check,
    achievement_create,
    achievement_set_active,
    achievement_update,
)


class AchievementForm(DefinitionForm):
    reason = reason_field("the achievement")
    definition_fields = ACHIEVEMENT_FIELDS
    definition_check = staticmethod(achievement_check)
    definition_invalid = InvalidAchievement

    class Meta:
        model = Achievement
        fields = list(ACHIEVEMENT_FIELDS)
        help_texts = {
            "code": "A stable slug, e.g. first-spin (fixed once created).",
            "game": "slot, crash, rps or gacha: only that game's rounds count (empty: any game; only for "
            "per-game metrics). Fixed once created.",
            "threshold": "The metric's value that unlocks it. A new threshold applies to every player who has not "
            "unlocked it yet (lowered below a player's value: it unlocks at their next counted action).",
            "is_hidden": "A secret: listed to a player only once they unlocked it (others see only how many "
            "secrets remain).",
            "is_active": "Switched off: no longer counted nor listed (players who unlocked it keep it).",
            "reward_items": 'Gacha item codes put in the inventory on unlock, e.g. ["lucky-horseshoe"] (an unknown '
            "code is skipped; an item already owned counts as a duplicate, unpaid).",
        }


@admin.register(Achievement)
class AchievementAdmin(DefinitionAdmin):
    form = AchievementForm
    definition_fields = ACHIEVEMENT_FIELDS
    list_display = [
        "code",
        "title",
        "metric",
        "game",
        "threshold",
        "rewards",
        "is_hidden",
        "is_active",
        "sort_order",
        "unlocked_count",
    ]
    list_filter = ["is_active", "is_hidden", "metric"]
    search_fields = ["code", "title", "description"]
    ordering = ["sort_order", "id"]
    actions = switch_actions(
        noun="achievement",
        permission=CHANGE_ACHIEVEMENT,
        set_active=achievement_set_active,
        key="achievement_id",
        off_note=" (no longer counted nor listed)",
    )
    fieldsets = (
        (None, {"fields": ("code", "title", "description", "icon", "sort_order", "is_hidden", "is_active")}),
        ("What counts", {"fields": ("metric", "game", "threshold")}),
        ("Reward", {"fields": ("reward_gold", "reward_gems", "reward_xp", "reward_items")}),
        ("Why", {"fields": ("reason",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Achievement]:
        return (
            super()
            .get_queryset(request)
            .annotate(unlocked_players=Count("progress", filter=Q(progress__unlocked_at__isnull=False)))
        )

    def get_fieldsets(self, request: HttpRequest, obj: Achievement | None = None) -> Any:
        if obj is None:
            return self.fieldsets
        return (
            *self.fieldsets,
            ("Players", {"fields": ("progress_link",)}),
            ("History", {"fields": ("created_at", "updated_at")}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Achievement | None = None) -> Any:
        return [*FIXED_AFTER_CREATE, "progress_link", "created_at", "updated_at"] if obj is not None else []

    @admin.display(description="unlocked by", ordering="unlocked_players")
    def unlocked_count(self, achievement: Achievement) -> int:
        return int(getattr(achievement, "unlocked_players", 0))

    @admin.display(description="progress")
    def progress_link(self, achievement: Achievement) -> SafeString:
        url = reverse("admin:events_achievementprogress_changelist") + f"?achievement__id__exact={achievement.pk}"
        return format_html('<a href="{}">{} player(s) unlocked it</a>', url, self.unlocked_count(achievement))

    def definition_create(self, *, actor: User, values: dict[str, Any], reason: str) -> Achievement:
        return achievement_create(actor=actor, values=values, reason=reason)

    def definition_update(self, *, actor: User, pk: int, changes: dict[str, Any], reason: str) -> None:
        achievement_update(actor=actor, achievement_id=pk, changes=changes, reason=reason)


class AchievementUnlockedFilter(DoneFilter):
    title = "unlocked"
    parameter_name = "unlocked"
    column = "unlocked_at"


@admin.register(AchievementProgress)
class AchievementProgressAdmin(ReadOnlyAdmin):
    list_display = ["achievement", "player", "progress", "unlocked_at", "updated_at"]
    list_filter = [AchievementUnlockedFilter, "achievement"]
    search_fields = ["user__nickname", "user__site_id", "achievement__code", "achievement__title"]
    search_help_text = "A player's nickname or site id, or an achievement's code or title."
    list_select_related = ["user", "achievement"]
    ordering = ["-updated_at", "-id"]
    show_full_result_count = False  # one row per player and achievement: the table grows fast

    @admin.display(description="player", ordering="user__nickname")
    def player(self, progress: AchievementProgress) -> SafeString | str:
        return player_link(progress.user)

    @admin.display(description="progress")
    def progress(self, progress: AchievementProgress) -> str:
        return f"{progress.value}/{progress.target}"
