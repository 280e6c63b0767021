"""The games' back office, one module per subject (importing them registers the model admins):

- here: the game switches, bet limits and multipliers with the declared RTP, and the daily
  limits per VIP tier;
- ``admin_rounds``: rounds (read-only, with a "verify" view), fairness seeds, players' stats;
- ``admin_slots``: the slot machine page (tables in play, their computed RTP, publishing);
- ``admin_gacha``: gacha banners with their odds and pity, inventories and pity counters.

Every change of odds, paytables or limits goes through an audited service (who, before, after,
why), permission-checked again there.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts.authentication import request_staff
from casino.admin_tools import ServiceOwnsTransactionMixin, StaffActionsMixin, action_with_reason, request_holds
from games import admin_gacha, admin_rounds, admin_slots  # noqa: F401  (their model admins)
from games.enums import Game
from games.exceptions import InvalidGameConfig
from games.fairness import RPS_MOVES, crash_rtp, rps_rtp
from games.models import GameConfig, GameDailyLimit
from games.services.back_office import (
    CONFIGURE_GAME,
    GAMES_WITH_MULTIPLIER,
    SWITCH_GAME,
    game_config_check,
    game_config_update,
    game_daily_limit_set,
)

CONFIG_FIELDS = ("is_enabled", "min_bet", "max_bet", "win_multiplier")


class GameConfigForm(forms.ModelForm):
    reason = forms.CharField(
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the audit log with the configuration before and after (required for any change).",
    )

    class Meta:
        model = GameConfig
        fields = ["is_enabled", "min_bet", "max_bet", "win_multiplier"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        config = self.instance
        if any(name in self.fields and name in cleaned for name in ("min_bet", "max_bet", "win_multiplier")):
            try:
                game_config_check(
                    game=config.game,
                    min_bet=cleaned.get("min_bet", config.min_bet),
                    max_bet=cleaned.get("max_bet", config.max_bet),
                    win_multiplier=cleaned.get("win_multiplier", config.win_multiplier),
                )
            except InvalidGameConfig as exc:
                for name, message in exc.details.get("fields", {}).items():
                    self.add_error(name if name in self.fields else None, message)
        if [name for name in self.changed_data if name != "reason"] and not cleaned.get("reason", "").strip():
            self.add_error("reason", "Give a reason: it is kept in the audit log.")
        return cleaned


def _switch(on: bool) -> Any:
    def service(request: HttpRequest, config: GameConfig, reason: str) -> GameConfig:
        return game_config_update(actor=request_staff(request), game=config.game, is_enabled=on, reason=reason)

    return action_with_reason(
        name="switch_on" if on else "switch_off",
        description="Switch the selected games on" if on else "Switch the selected games off (bets refused at once)",
        permission=SWITCH_GAME,
        service=service,
        success=f"Switched {{count}} game(s) {'on' if on else 'off'}.",
    )


@admin.register(GameConfig)
class GameConfigAdmin(ServiceOwnsTransactionMixin, StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = GameConfigForm
    list_display = ["game", "is_enabled", "min_bet", "max_bet", "currency", "win_multiplier", "declared_rtp"]
    ordering = ["game"]
    actions = [_switch(True), _switch(False)]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # one row per game, from migration 0002

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request_holds(request, SWITCH_GAME) or request_holds(request, CONFIGURE_GAME)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_change_permission(request, obj)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["game", "is_enabled", "min_bet", "max_bet", "win_multiplier", "currency", "declared_rtp", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: GameConfig | None = None) -> Any:
        readonly = ["game", "currency", "declared_rtp", "updated_at"]
        if not request_holds(request, SWITCH_GAME):
            readonly.append("is_enabled")
        if not request_holds(request, CONFIGURE_GAME):
            readonly += ["min_bet", "max_bet", "win_multiplier"]
        elif obj is not None and obj.game not in GAMES_WITH_MULTIPLIER:
            readonly.append("win_multiplier")
        return readonly

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(self.get_fields(request, obj))
        if self.has_change_permission(request, obj):
            fields.append("reason")
        return [(None, {"fields": fields})]

    @admin.display(description="declared RTP")
    def declared_rtp(self, config: GameConfig) -> str:
        return game_declared_rtp(config)

    def save_model(self, request: HttpRequest, obj: GameConfig, form: Any, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in CONFIG_FIELDS}
        if not changes:
            return
        game_config_update(
            actor=request_staff(request), game=obj.game, reason=form.cleaned_data.get("reason", ""), **changes
        )


def game_declared_rtp(config: GameConfig) -> str:
    """The game's return to player as its rules declare it (exact, from the live configuration)."""
    if config.game == Game.RPS and config.win_multiplier is not None:
        rtp = max(rps_rtp(config.win_multiplier, choice) for choice in RPS_MOVES)
        return f"{float(rtp):.2%}"
    if config.game == Game.CRASH:
        return f"{float(crash_rtp(200)):.2%} at every target"
    if config.game == Game.SLOT:
        from games.services.slots import slot_table_current

        version = slot_table_current()  # the table in play (a revert may make an older one live)
        return f"{float(version.rtp):.2%} (table v{version.pk})"
    return "items (see the banners' odds)"


class GameDailyLimitForm(forms.ModelForm):
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the audit log with the limit before and after.",
    )

    class Meta:
        model = GameDailyLimit
        fields = ["game", "vip_tier", "limit"]


@admin.register(GameDailyLimit)
class GameDailyLimitAdmin(ServiceOwnsTransactionMixin, StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = GameDailyLimitForm
    list_display = ["game", "vip_tier", "limit"]
    list_filter = ["game", "vip_tier"]
    ordering = ["game", "vip_tier"]
    actions = [
        action_with_reason(
            name="remove_limits",
            description="Remove the selected daily limits (no limit for that tier)",
            permission=CONFIGURE_GAME,
            service=lambda request, row, reason: game_daily_limit_set(
                actor=request_staff(request), game=row.game, vip_tier=row.vip_tier, limit=None, reason=reason
            ),
            success="Removed {count} daily limit(s).",
        )
    ]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request_holds(request, CONFIGURE_GAME)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request_holds(request, CONFIGURE_GAME)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or self.has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the "remove" action asks for a reason and is audited

    def get_readonly_fields(self, request: HttpRequest, obj: GameDailyLimit | None = None) -> Any:
        return ["game", "vip_tier"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: GameDailyLimit, form: Any, change: bool) -> None:
        saved = game_daily_limit_set(
            actor=request_staff(request),
            game=obj.game,
            vip_tier=obj.vip_tier,
            limit=obj.limit,
            reason=form.cleaned_data["reason"],
        )
        if saved is not None and not change:  # the admin goes on with ``obj``: make it the row saved
            obj.pk, obj._state.adding, obj._state.db = saved.pk, False, saved._state.db
