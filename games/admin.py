"""The games' back office: game switches and limits, the slot tables with their computed RTP,
gacha banners with their odds and pity, rounds (read-only, with a "verify" view) and inventories.
Every change of odds, paytables or limits goes through an audited service (who, before, after,
why)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import (
    ReadOnlyAdmin,
    StaffActionsMixin,
    action_with_reason,
    player_link,
    request_holds,
    staff_action,
    staff_view,
)
from games.enums import Game, RoundStatus
from games.exceptions import InvalidGameConfig
from games.fairness import RPS_MOVES, crash_rtp, rps_rtp
from games.models import FairnessSeed, GameConfig, GameDailyLimit, GameRound, PlayerGameStats
from games.services.back_office import (
    CONFIGURE_GAME,
    GAMES_WITH_MULTIPLIER,
    SWITCH_GAME,
    game_config_check,
    game_config_update,
    game_daily_limit_set,
    round_verify,
)

# --- game configuration, daily limits, rounds, inventories, stats (back office) ------------------
#
# Changes go through games.services.back_office (audited, permission-checked again there). Rounds,
# seeds and stats are read-only. A server seed the player has not revealed is never shown, nor is
# the outcome of a round still running, and neither can be probed through the changelist's URL
# filters (``lookup_allowed``): staff must not learn a player's future outcomes.

VIEW_ROUND = "games.view_gameround"
CONFIG_FIELDS = ("is_enabled", "min_bet", "max_bet", "win_multiplier")
# The "verify selected" action recomputes at most this many rounds per click.
VERIFY_AT_ONCE = 500


def _player_link(user: Any) -> SafeString:
    return format_html("{}", player_link(user))  # the nickname, linking to the player's page (casino.admin_tools)


def _refuses_secret_lookups(lookup: str, secret_roots: tuple[str, ...]) -> bool:
    """A changelist URL filter that reads a server seed or an outcome (``?server_seed__startswith=a``
    would otherwise answer "how many seeds start with a", one character at a time)."""
    parts = lookup.split("__")
    return "server_seed" in parts or parts[0] in secret_roots


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
class GameConfigAdmin(StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
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

    @csrf_protect_m
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The service owns its (durable) transaction: Django's wrapper around the form is left out.
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

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
class GameDailyLimitAdmin(StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
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

    @csrf_protect_m
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

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


@admin.register(GameRound)
class GameRoundAdmin(ReadOnlyAdmin):
    list_display = ["id", "player", "game", "status", "result", "bet_amount", "payout", "created_at", "verify_link"]
    list_filter = ["game", "status", "result", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__nickname", "user__site_id"]
    search_help_text = "A round id, or a player's nickname or site id."
    list_select_related = ["user"]
    ordering = ["-id"]
    # Rounds grow without bound: no COUNT(*) of the whole table per page.
    show_full_result_count = False
    fields = (
        "id",
        "player",
        "game",
        "status",
        "result",
        "currency",
        "bet_amount",
        "payout",
        "created_at",
        "settle_due_at",
        "settled_at",
        "seed",
        "nonce",
        "client_seed",
        "inputs",
        "shown_outcome",
        "idempotency_key",
        "verify_link",
    )
    readonly_fields = fields
    actions = ["verify_rounds"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[GameRound]:
        return super().get_queryset(request).select_related("user", "seed")

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if _refuses_secret_lookups(lookup, ("outcome",)):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().removeprefix("#")
        if term.isdigit() and len(term) <= 18:
            found = found | queryset.filter(pk=int(term))
        return found, may_have_duplicates

    @admin.display(description="player", ordering="user__nickname")
    def player(self, round_: GameRound) -> SafeString:
        return _player_link(round_.user)

    @admin.display(description="outcome")
    def shown_outcome(self, round_: GameRound) -> Any:
        if round_.status == RoundStatus.OPEN:
            return "withheld while the round is running"
        return round_.outcome

    @admin.display(description="verify")
    def verify_link(self, round_: GameRound) -> SafeString:
        return format_html('<a href="{}">verify</a>', reverse("admin:games_gameround_verify", args=[round_.pk]))

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/verify/", self.admin_site.admin_view(self.verify_view), name="games_gameround_verify"
            ),
            *super().get_urls(),
        ]

    @staff_view(permission=VIEW_ROUND)
    def verify_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Recompute the round from its seed (games.fairness) and show the verdict. The values
        are shown only for a revealed seed; before that only the verdict (see RoundVerification)."""
        round_ = self.get_object(request, unquote(object_id))
        if round_ is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]  # Django's own 404 redirect
                request, self.opts, object_id
            )
        verification = round_verify(round_=round_)
        show_values = verification.seed_revealed
        stored = round_.outcome if round_.status != RoundStatus.OPEN else None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Verify {round_}",
            "opts": self.opts,
            "original": round_,
            "verification": verification,
            "show_values": show_values,
            "server_seed": round_.seed.server_seed if show_values else None,
            "stored_outcome": json.dumps(stored, indent=2, sort_keys=True) if show_values else None,
            "recomputed": json.dumps(verification.recomputed, indent=2, sort_keys=True) if show_values else None,
            "change_url": reverse("admin:games_gameround_change", args=[round_.pk]),
        }
        return TemplateResponse(request, "admin/games/gameround/verify.html", context)

    @staff_action(permission=VIEW_ROUND, description="Verify the selected rounds (recompute from their seeds)")
    def verify_rounds(self, request: HttpRequest, queryset: QuerySet[GameRound]) -> None:
        rounds = list(queryset.select_related("seed").order_by("pk")[:VERIFY_AT_ONCE])
        failed = [r.pk for r in rounds if not round_verify(round_=r).matches]
        if failed:
            self.message_user(
                request,
                f"{len(failed)} of {len(rounds)} round(s) do NOT match their recomputation: "
                + ", ".join(f"#{pk}" for pk in failed),
                messages.ERROR,
            )
        else:
            self.message_user(request, f"All {len(rounds)} round(s) match their recomputation.", messages.SUCCESS)


@admin.register(FairnessSeed)
class FairnessSeedAdmin(ReadOnlyAdmin):
    list_display = ["id", "player", "server_seed_hash", "client_seed", "next_nonce", "created_at", "revealed_at"]
    list_filter = [("revealed_at", admin.EmptyFieldListFilter), ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__nickname", "user__site_id", "=server_seed_hash"]
    list_select_related = ["user"]
    ordering = ["-id"]
    show_full_result_count = False
    fields = (
        "player",
        "server_seed_hash",
        "shown_server_seed",
        "client_seed",
        "next_nonce",
        "created_at",
        "revealed_at",
    )
    readonly_fields = fields

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if _refuses_secret_lookups(lookup, ()):
            return False
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="player", ordering="user__nickname")
    def player(self, seed: FairnessSeed) -> SafeString:
        return _player_link(seed.user)

    @admin.display(description="server seed")
    def shown_server_seed(self, seed: FairnessSeed) -> str:
        if seed.is_revealed:
            return seed.server_seed
        return "secret until the player rotates it (it decides the player's next rounds)"


@admin.register(PlayerGameStats)
class PlayerGameStatsAdmin(ReadOnlyAdmin):
    list_display = [
        "player",
        "game",
        "plays",
        "wins",
        "losses",
        "draws",
        "total_bet",
        "total_won",
        "max_win",
        "best_win_streak",
        "updated_at",
    ]
    list_display_links = ["game"]  # the player column links to the player's page
    list_filter = ["game"]
    search_fields = ["user__nickname", "user__site_id"]
    list_select_related = ["user"]
    ordering = ["-updated_at"]
    show_full_result_count = False

    @admin.display(description="player", ordering="user__nickname")
    def player(self, stats: PlayerGameStats) -> SafeString:
        return _player_link(stats.user)


# --- slots ---------------------------------------------------------------------------------------
# The slot machine page (Slot table versions > "Slot machine") shows the weights and the paytable
# in play with their exact RTP, hit frequency and jackpot odds, and lets staff holding
# games.configure_game preview and publish new ones through the audited service
# games.services.slots.slot_tables_publish (who, before, after, why). Symbols, weights, pay rules
# and versions are read-only here: nothing edits them around that service.

from decimal import Decimal as SlotDecimal  # noqa: E402

from django import forms as slot_forms  # noqa: E402
from django.contrib import admin as slot_admin  # noqa: E402
from django.contrib import messages as slot_messages  # noqa: E402
from django.core.exceptions import PermissionDenied as SlotPermissionDenied  # noqa: E402
from django.http import HttpRequest as SlotRequest  # noqa: E402
from django.http import HttpResponse as SlotResponse  # noqa: E402
from django.http import HttpResponseRedirect as SlotRedirect  # noqa: E402
from django.template.response import TemplateResponse as SlotTemplateResponse  # noqa: E402
from django.urls import path as slot_path  # noqa: E402
from django.urls import reverse as slot_reverse  # noqa: E402
from django.utils.html import format_html as slot_format_html  # noqa: E402

from accounts.authentication import request_staff as slot_request_staff  # noqa: E402
from casino.admin_tools import ReadOnlyAdmin as SlotReadOnlyAdmin  # noqa: E402
from casino.admin_tools import request_holds as slot_request_holds  # noqa: E402
from casino.admin_tools import staff_view as slot_staff_view  # noqa: E402
from casino.errors import ApplicationError as SlotApplicationError  # noqa: E402
from games.exceptions import InvalidSlotTable  # noqa: E402
from games.models import SlotSymbol  # noqa: E402
from games.models import SlotTableVersion as SlotVersionModel  # noqa: E402
from games.services import slots as slot_services  # noqa: E402

SLOT_VIEW_PERMISSION = "games.view_slottableversion"
SLOT_CONFIGURE_PERMISSION = slot_services.CONFIGURE_GAME


class SlotTablesForm(slot_forms.Form):
    """One weight per reel and symbol, and one multiplier (blank: no such rule) and jackpot flag
    per symbol and count; the field names are ``weight_{reel}_{symbol}``, ``multiplier_{symbol}_{count}``
    and ``jackpot_{symbol}_{count}``."""

    reason = slot_forms.CharField(
        required=False,
        max_length=1000,
        widget=slot_forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the audit log with the tables before and after. Needed to publish.",
    )

    def __init__(self, *args: Any, table: slot_services.SlotTable, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table
        rules = {(rule.symbol, rule.count): rule for rule in table.paytable}
        for symbol in table.symbols:
            for reel in range(slot_services.REELS):
                self.fields[f"weight_{reel}_{symbol.code}"] = slot_forms.IntegerField(
                    min_value=0,
                    max_value=slot_services.MAX_STOPS_PER_REEL,
                    initial=table.weights[reel].get(symbol.code, 0),
                    widget=slot_forms.NumberInput(attrs={"style": "width: 5em"}),
                )
            for count in range(1, slot_services.REELS + 1):
                rule = rules.get((symbol.code, count))
                self.fields[f"multiplier_{symbol.code}_{count}"] = slot_forms.DecimalField(
                    required=False,
                    min_value=SlotDecimal("0.01"),
                    max_value=slot_services.MAX_MULTIPLIER,
                    decimal_places=2,
                    initial=slot_services.multiplier_text(rule.multiplier) if rule else None,
                    widget=slot_forms.TextInput(attrs={"style": "width: 6em"}),
                )
                self.fields[f"jackpot_{symbol.code}_{count}"] = slot_forms.BooleanField(
                    required=False, initial=bool(rule and rule.is_jackpot)
                )

    def tables(self) -> tuple[dict[int, dict[str, int]], list[dict[str, Any]]]:
        """The weights and the paytable of the (valid) form, as the service takes them."""
        data = self.cleaned_data
        weights = {
            reel: {symbol.code: data[f"weight_{reel}_{symbol.code}"] for symbol in self.table.symbols}
            for reel in range(slot_services.REELS)
        }
        paytable = [
            {
                "symbol": symbol.code,
                "count": count,
                "multiplier": str(data[f"multiplier_{symbol.code}_{count}"]),
                "is_jackpot": bool(data[f"jackpot_{symbol.code}_{count}"]),
            }
            for symbol in self.table.symbols
            for count in range(1, slot_services.REELS + 1)
            if data.get(f"multiplier_{symbol.code}_{count}") is not None
        ]
        return weights, paytable

    def grid(self) -> dict[str, Any]:
        """Rows for the template: per symbol, its weight fields per reel and its rule fields per count."""
        return {
            "weights": [
                (symbol, [self[f"weight_{reel}_{symbol.code}"] for reel in range(slot_services.REELS)])
                for symbol in self.table.symbols
            ],
            "rules": [
                (
                    symbol,
                    [
                        (count, self[f"multiplier_{symbol.code}_{count}"], self[f"jackpot_{symbol.code}_{count}"])
                        for count in range(1, slot_services.REELS + 1)
                    ],
                )
                for symbol in self.table.symbols
            ],
        }


def _slot_figures(math: Any, weights: dict[int, dict[str, int]] | None = None) -> dict[str, Any]:
    jackpot = math.jackpot_probability
    return {
        "rtp": slot_services.percent_text(math.rtp),
        "rtp_exact": str(math.rtp),
        "hit_frequency": slot_services.percent_text(math.hit_frequency),
        "jackpot_odds": f"1 in {float(1 / jackpot):,.2f}" if jackpot else "never",
        "combinations": math.combinations,
        "rules": [
            {
                "label": f"{stats.rule.count} x {stats.rule.symbol}",
                "multiplier": slot_services.multiplier_text(stats.rule.multiplier),
                "is_jackpot": stats.rule.is_jackpot,
                "probability": f"{float(stats.probability):.6%}",
                "rtp_share": slot_services.percent_text(stats.rtp_contribution),
            }
            for stats in math.rules
        ],
    }


@slot_admin.register(SlotVersionModel)
class SlotTableVersionAdmin(SlotReadOnlyAdmin):
    readonly_fields = ["id", "created_at", "rtp", "hit_frequency", "digest", "reel_strips", "paytable"]
    change_list_template = "admin/games/slottableversion/change_list.html"

    def get_list_display(self, request: SlotRequest) -> list[Any]:
        try:
            live_id: int | None = slot_services.slot_table_current().pk
        except SlotApplicationError:
            live_id = None

        @slot_admin.display(description="in play", boolean=True)
        def in_play(version: SlotVersionModel) -> bool:
            return version.pk == live_id

        return ["id", "created_at", "rtp_percent", "hit_frequency_percent", in_play, "digest_short"]

    @slot_admin.display(description="RTP", ordering="rtp")
    def rtp_percent(self, version: SlotVersionModel) -> str:
        return f"{version.rtp * 100:.4f}%"

    @slot_admin.display(description="hit frequency", ordering="hit_frequency")
    def hit_frequency_percent(self, version: SlotVersionModel) -> str:
        return f"{version.hit_frequency * 100:.4f}%"

    @slot_admin.display(description="digest")
    def digest_short(self, version: SlotVersionModel) -> str:
        return f"{version.digest[:12]}…"

    def changelist_view(self, request: SlotRequest, extra_context: dict[str, Any] | None = None) -> SlotResponse:
        context = {"slot_machine_url": slot_reverse("admin:games_slottableversion_machine"), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[Any]:
        return [
            slot_path("machine/", self.admin_site.admin_view(self.machine_view), name="games_slottableversion_machine"),
            *super().get_urls(),
        ]

    @slot_staff_view(permission=SLOT_VIEW_PERMISSION)
    def machine_view(self, request: SlotRequest) -> SlotResponse:
        """GET: the table in play and its figures. POST (games.configure_game): "_preview" computes
        the figures of the submitted tables, "_publish" publishes them through the service."""
        may_publish = slot_request_holds(request, SLOT_CONFIGURE_PERMISSION)
        table = slot_services.slot_table_live()
        preview: dict[str, Any] | None = None
        if request.method == "POST":
            if not may_publish:
                raise SlotPermissionDenied
            form = SlotTablesForm(request.POST, table=table)
            if form.is_valid():
                weights, paytable = form.tables()
                try:
                    if "_publish" in request.POST:
                        reason = form.cleaned_data["reason"]
                        if not reason:
                            form.add_error("reason", "Say why: it is kept in the audit log.")
                        else:
                            version = slot_services.slot_tables_publish(
                                actor=slot_request_staff(request), reason=reason, weights=weights, paytable=paytable
                            )
                            self.message_user(
                                request,
                                f"Published slot table v{version.pk}: RTP {version.rtp * 100:.4f}%, hit frequency "
                                f"{version.hit_frequency * 100:.4f}%. Spins use it from now on.",
                                slot_messages.SUCCESS,
                            )
                            return SlotRedirect(slot_reverse("admin:games_slottableversion_machine"))
                    else:
                        draft = slot_services.slot_tables_check(weights=weights, paytable=paytable)
                        preview = _slot_figures(draft.math)
                        preview["changed"] = draft.changed
                except InvalidSlotTable as exc:
                    for problem in exc.details.get("problems", []):
                        form.add_error(None, problem)
                except SlotApplicationError as exc:
                    form.add_error(None, exc.message)
        else:
            form = SlotTablesForm(table=table)
        context = {
            **self.admin_site.each_context(request),
            "title": "Slot machine",
            "opts": self.opts,
            "table": table,
            "version": table.version,
            "current": _slot_figures(table.math),
            "reel_numbers": list(range(slot_services.REELS)),
            "strip_lengths": [sum(table.weights[reel].values()) for reel in range(slot_services.REELS)],
            "form": form,
            "grid": form.grid(),
            "preview": preview,
            "may_publish": may_publish,
            "versions_url": slot_reverse("admin:games_slottableversion_changelist"),
            "media": self.media + form.media,
        }
        return SlotTemplateResponse(request, "admin/games/slottableversion/machine.html", context)


@slot_admin.register(SlotSymbol)
class SlotSymbolAdmin(SlotReadOnlyAdmin):
    list_display = ["sort_order", "code", "name", "emoji", "edit_tables"]
    ordering = ["sort_order", "id"]

    @slot_admin.display(description="weights and paytable")
    def edit_tables(self, symbol: SlotSymbol) -> str:
        return slot_format_html(
            '<a href="{}">Slot machine page</a>', slot_reverse("admin:games_slottableversion_machine")
        )


# --- gacha ---------------------------------------------------------------------------------------
# Banners are edited with their rarity table and items on one page; the save goes through the
# audited service games.services.gacha_banner_save (who, before, after, why), which needs
# games.configure_game. The forms ask the service's own rules first, so errors show on the page.

from django import forms as gacha_forms  # noqa: E402
from django.db.models import QuerySet as GachaQuerySet  # noqa: E402
from django.db.models import URLField as GachaURLField  # noqa: E402
from django.forms.models import BaseInlineFormSet  # noqa: E402
from django.http import HttpRequest as GachaRequest  # noqa: E402
from django.utils.html import format_html as gacha_format_html  # noqa: E402
from django.utils.html import format_html_join as gacha_html_join  # noqa: E402

from accounts.authentication import request_staff as gacha_request_staff  # noqa: E402
from casino.admin_tools import ReadOnlyAdmin as GachaReadOnlyAdmin  # noqa: E402
from casino.admin_tools import request_holds as gacha_request_holds  # noqa: E402
from games.models import GachaBanner, GachaItem, GachaPity, GachaRarityWeight, InventoryItem  # noqa: E402
from games.selectors import GachaBannerSpec, gacha_banner_spec  # noqa: E402
from games.services.gacha import (  # noqa: E402
    BANNER_FIELDS,
    CONFIGURE_PERMISSION,
    gacha_banner_rows_validate,
    gacha_banner_save,
    gacha_banner_terms_validate,
)


def _gacha_may_configure(request: GachaRequest) -> bool:
    return gacha_request_holds(request, CONFIGURE_PERMISSION)


def _gacha_may_view(request: GachaRequest) -> bool:
    return gacha_request_holds(request, "games.view_gachabanner") or _gacha_may_configure(request)


def _gacha_rows(formset: BaseInlineFormSet | None) -> list:  # type: ignore[type-arg]
    """The rows a formset leaves: stored rows not deleted, plus filled-in new ones."""
    if formset is None:
        return []
    deleted = set(map(id, formset.deleted_forms))
    return [
        form.instance
        for form in formset.forms
        if id(form) not in deleted and (form.instance.pk is not None or form.has_changed())
    ]


class GachaBannerForm(gacha_forms.ModelForm):  # type: ignore[type-arg]
    change_reason = gacha_forms.CharField(
        widget=gacha_forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=1000,
        strip=True,
        help_text="Why the banner changes (kept in the audit log with the before and after).",
    )

    class Meta:
        model = GachaBanner
        fields = list(BANNER_FIELDS)

    def clean(self) -> dict:  # type: ignore[type-arg]
        cleaned: dict = super().clean() or {}  # type: ignore[type-arg]
        try:
            gacha_banner_terms_validate(
                currency=cleaned.get("currency"),
                cost_single=cleaned.get("cost_single"),
                cost_ten=cleaned.get("cost_ten"),
                starts_at=cleaned.get("starts_at"),
                ends_at=cleaned.get("ends_at"),
            )
        except gacha_forms.ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


class GachaItemsFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """The last inline validated: checks the banner's rarity table and items together."""

    rarity_formset: BaseInlineFormSet | None = None  # type: ignore[type-arg]

    def clean(self) -> None:
        super().clean()
        rarities = self.rarity_formset
        if any(self.errors) or rarities is None or not rarities.is_valid():
            return
        try:
            gacha_banner_rows_validate(banner=self.instance, rarities=_gacha_rows(rarities), items=_gacha_rows(self))
        except gacha_forms.ValidationError as exc:
            raise gacha_forms.ValidationError([m for messages in exc.message_dict.values() for m in messages]) from exc


class _GachaInline(admin.TabularInline):  # type: ignore[type-arg]
    extra = 0

    def has_view_permission(self, request: GachaRequest, obj: object = None) -> bool:
        return _gacha_may_view(request)

    def has_add_permission(self, request: GachaRequest, obj: object = None) -> bool:
        return _gacha_may_configure(request)

    def has_change_permission(self, request: GachaRequest, obj: object = None) -> bool:
        return _gacha_may_configure(request)

    def has_delete_permission(self, request: GachaRequest, obj: object = None) -> bool:
        return _gacha_may_configure(request)


class GachaRarityInline(_GachaInline):
    model = GachaRarityWeight
    fields = ["rarity", "rank", "weight", "odds", "duplicate_value"]
    readonly_fields = ["odds"]
    ordering = ["rank"]
    verbose_name = "rarity (rank 0 = the top rarity, the one pity guarantees)"

    @admin.display(description="odds (as published, from the saved table)")
    def odds(self, rarity: GachaRarityWeight) -> str:
        if rarity.pk is None:
            return "-"
        spec = gacha_banner_spec(rarity.banner)
        probability = spec.odds().get(rarity.rarity)
        if probability is None:
            return "not drawn (no active item)"
        return f"{float(probability):.4%} ({probability})"


class GachaItemInline(_GachaInline):
    model = GachaItem
    formset = GachaItemsFormSet
    formfield_overrides = {GachaURLField: {"assume_scheme": "https"}}
    fields = ["code", "name", "rarity", "sort_order", "is_active", "image_url"]
    ordering = ["rarity", "sort_order", "id"]


@admin.register(GachaBanner)
class GachaBannerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = GachaBannerForm
    inlines = [GachaRarityInline, GachaItemInline]
    list_display = ["code", "name", "is_active", "costs", "pity_threshold", "top_odds", "expected_pulls", "window"]
    list_filter = ["is_active", "currency"]
    search_fields = ["code", "name"]
    ordering = ["sort_order", "id"]
    readonly_fields = ["odds_table", "updated_at"]
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "is_active", "sort_order")}),
        ("Price", {"fields": ("currency", "cost_single", "cost_ten")}),
        ("Pity and duplicates", {"fields": ("pity_threshold", "duplicate_currency")}),
        ("Window (empty: always)", {"fields": ("starts_at", "ends_at")}),
        ("Published odds (of the saved table)", {"fields": ("odds_table",)}),
        ("Why", {"fields": ("change_reason",)}),
        ("History", {"fields": ("updated_at",)}),
    )

    def get_queryset(self, request: GachaRequest) -> GachaQuerySet[GachaBanner]:
        return super().get_queryset(request).prefetch_related("rarities", "items")

    def has_view_permission(self, request: GachaRequest, obj: object = None) -> bool:
        return _gacha_may_view(request)

    def has_add_permission(self, request: GachaRequest) -> bool:
        return _gacha_may_configure(request)

    def has_change_permission(self, request: GachaRequest, obj: object = None) -> bool:
        return _gacha_may_configure(request)

    def has_delete_permission(self, request: GachaRequest, obj: object = None) -> bool:
        return False  # a banner is switched off (is_active), never deleted: rounds and inventories name it

    def _spec(self, banner: GachaBanner) -> GachaBannerSpec | None:
        spec = gacha_banner_spec(banner)
        return spec if spec.rarities else None

    @admin.display(description="cost 1 / 10")
    def costs(self, banner: GachaBanner) -> str:
        return f"{banner.cost_single} / {banner.cost_ten} {banner.currency}"

    @admin.display(description="top rarity odds")
    def top_odds(self, banner: GachaBanner) -> str:
        spec = self._spec(banner)
        if spec is None:
            return "nothing to draw"
        top = spec.rarities[0]
        return f"{top.code} {float(spec.odds()[top.code]):.3%}"

    @admin.display(description="expected pulls to top (with pity)")
    def expected_pulls(self, banner: GachaBanner) -> str:
        spec = self._spec(banner)
        return "-" if spec is None else f"{float(spec.expected_pulls_to_top()):.1f}"

    @admin.display(description="window")
    def window(self, banner: GachaBanner) -> str:
        if not banner.starts_at and not banner.ends_at:
            return "always"
        return f"{banner.starts_at or '...'} to {banner.ends_at or '...'}"

    @admin.display(description="odds")
    def odds_table(self, banner: GachaBanner) -> str:
        spec = self._spec(banner) if banner.pk else None
        if spec is None:
            return "Nothing to draw yet: add rarities and active items, then save."
        odds = spec.odds()
        rows = gacha_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    rarity.code,
                    rarity.weight,
                    f"{float(odds[rarity.code]):.4%} ({odds[rarity.code]})",
                    len(rarity.items),
                    f"{rarity.duplicate_value} {spec.duplicate_currency}",
                )
                for rarity in spec.rarities
            ),
        )
        summary = (
            f"The top rarity ({spec.rarities[0].code}) is guaranteed by pull {spec.pity_threshold}; with pity, "
            f"E[pulls to it] = {float(spec.expected_pulls_to_top()):.2f}."
        )
        return gacha_format_html(
            "<table><tr><th>rarity</th><th>weight</th><th>P(one pull)</th><th>items</th>"
            "<th>a duplicate converts to</th></tr>{}</table><p>{}</p>",
            rows,
            summary,
        )

    def _create_formsets(self, request: GachaRequest, obj: GachaBanner, change: bool) -> tuple:  # type: ignore[type-arg]
        formsets, inline_instances = super()._create_formsets(request, obj, change)  # type: ignore[misc]
        rarity_formsets = [formset for formset in formsets if formset.model is GachaRarityWeight]
        for formset in formsets:
            if isinstance(formset, GachaItemsFormSet):
                formset.rarity_formset = rarity_formsets[0] if rarity_formsets else None
        return formsets, inline_instances

    def save_model(self, request: GachaRequest, obj: GachaBanner, form: gacha_forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        """Nothing here: the banner is saved with its rows, in save_related, by the audited service."""

    def save_related(self, request: GachaRequest, form: gacha_forms.ModelForm, formsets: list, change: bool) -> None:  # type: ignore[type-arg]
        by_model = {formset.model: formset for formset in formsets}
        for formset in formsets:
            # Writes nothing; fills new/changed/deleted_objects, which the admin's history entry reads.
            formset.save(commit=False)
        gacha_banner_save(
            actor=gacha_request_staff(request),
            banner=form.instance,
            rarities=_gacha_rows(by_model.get(GachaRarityWeight)),
            items=_gacha_rows(by_model.get(GachaItem)),
            reason=form.cleaned_data["change_reason"],
        )


@admin.register(InventoryItem)
class InventoryItemAdmin(GachaReadOnlyAdmin):
    list_display = ["id", "player", "item_name", "rarity", "banner", "duplicates", "acquired_at", "round_id"]
    list_filter = ["item__banner", "item__rarity"]
    search_fields = ["user__nickname", "user__site_id", "item__code", "item__name"]
    list_select_related = ["user", "item__banner"]
    ordering = ["-acquired_at", "-id"]

    @admin.display(description="player", ordering="user__nickname")
    def player(self, inventory: InventoryItem) -> SafeString | str:
        return _player_link(inventory.user)

    @admin.display(description="item", ordering="item__name")
    def item_name(self, inventory: InventoryItem) -> str:
        return inventory.item.name

    @admin.display(description="rarity", ordering="item__rarity")
    def rarity(self, inventory: InventoryItem) -> str:
        return inventory.item.rarity

    @admin.display(description="banner", ordering="item__banner__code")
    def banner(self, inventory: InventoryItem) -> str:
        return inventory.item.banner.code


@admin.register(GachaPity)
class GachaPityAdmin(GachaReadOnlyAdmin):
    list_display = ["banner", "player", "pulls_since_top", "total_pulls", "updated_at"]
    list_filter = ["banner"]
    search_fields = ["user__nickname", "user__site_id"]
    list_select_related = ["user", "banner"]

    @admin.display(description="player", ordering="user__nickname")
    def player(self, pity: GachaPity) -> SafeString | str:
        return _player_link(pity.user)
