"""The live-ops back office for missions: the daily and weekly mission templates, and the
players' instances of them (read-only: progress comes from what players do).

Templates change only through events.services.missions (permission checked again there, audited
with the columns before and after and the reason staff give here). A template is switched off,
never deleted (players' instances and the ledger's references point at it); its code, period,
metric and game are fixed once it exists.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from accounts.models import User
from casino.admin_tools import ReadOnlyAdmin, player_link
from events.admin_common import (
    ClaimedFilter,
    CompletedFilter,
    DefinitionAdmin,
    DefinitionForm,
    reason_field,
    switch_actions,
)
from events.exceptions import InvalidMissionTemplate
from events.models import MissionProgress, MissionTemplate
from events.services.missions import (
    CHANGE_TEMPLATE,
    FIXED_AFTER_CREATE,
    TEMPLATE_FIELDS,
    mission_template_check,
    mission_template_create,
    mission_template_set_active,
    mission_template_update,
)


class MissionTemplateForm(DefinitionForm):
    reason = reason_field("the template")
    definition_fields = TEMPLATE_FIELDS
    definition_check = staticmethod(mission_template_check)
    definition_invalid = InvalidMissionTemplate

    class Meta:
        model = MissionTemplate
        fields = list(TEMPLATE_FIELDS)
        help_texts = {
            "code": "A stable slug, e.g. daily-play-10 (fixed once created).",
            "game": "slot, crash, rps or gacha: only that game's rounds count (empty: any game; only for "
            "per-game metrics). Fixed once created.",
            "period": "Daily: the UTC day. Weekly: the ISO week, Monday to Sunday (UTC). Fixed once created.",
            "target": "A new target applies from the next period (an instance keeps the target it began with).",
        }


@admin.register(MissionTemplate)
class MissionTemplateAdmin(DefinitionAdmin):
    form = MissionTemplateForm
    definition_fields = TEMPLATE_FIELDS
    list_display = [
        "code",
        "title",
        "period",
        "metric",
        "game",
        "target",
        "rewards",
        "category",
        "sort_order",
        "is_active",
    ]
    list_filter = ["period", "category", "is_active", "metric"]
    search_fields = ["code", "title", "description", "category"]
    ordering = ["period", "sort_order", "id"]
    actions = switch_actions(
        noun="mission", permission=CHANGE_TEMPLATE, set_active=mission_template_set_active, key="template_id"
    )
    fieldsets = (
        (None, {"fields": ("code", "title", "description", "category", "icon", "sort_order", "is_active")}),
        ("What counts", {"fields": ("period", "metric", "game", "target")}),
        ("Reward", {"fields": ("reward_gold", "reward_gems", "reward_xp", "reward_items")}),
        ("Why", {"fields": ("reason",)}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: MissionTemplate | None = None) -> Any:
        if obj is None:
            return self.fieldsets
        return (*self.fieldsets, ("History", {"fields": ("created_at", "updated_at")}))

    def get_readonly_fields(self, request: HttpRequest, obj: MissionTemplate | None = None) -> Any:
        return [*FIXED_AFTER_CREATE, "created_at", "updated_at"] if obj is not None else []

    def definition_create(self, *, actor: User, values: dict[str, Any], reason: str) -> MissionTemplate:
        return mission_template_create(actor=actor, values=values, reason=reason)

    def definition_update(self, *, actor: User, pk: int, changes: dict[str, Any], reason: str) -> None:
        mission_template_update(actor=actor, template_id=pk, changes=changes, reason=reason)


@admin.register(MissionProgress)
class MissionProgressAdmin(ReadOnlyAdmin):
    list_display = ["period_start", "player", "template", "progress", "completed_at", "claimed_at", "updated_at"]
    list_filter = ["template__period", CompletedFilter, ClaimedFilter, "template"]
    search_fields = ["user__nickname", "user__site_id", "template__code", "template__title"]
    search_help_text = "A player's nickname or site id, or a mission's code or title."
    list_select_related = ["user", "template"]
    date_hierarchy = "period_start"
    ordering = ["-period_start", "-id"]
    show_full_result_count = False  # one row per player, mission and period: the table grows fast

    @admin.display(description="player", ordering="user__nickname")
    def player(self, instance: MissionProgress) -> SafeString | str:
        return player_link(instance.user)

    @admin.display(description="progress")
    def progress(self, instance: MissionProgress) -> str:
        return f"{instance.value}/{instance.target}"
