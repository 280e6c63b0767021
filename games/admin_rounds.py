"""The games' back office for what play leaves behind: rounds (read-only, with a "verify" view and
action that recompute them from their seeds), the players' fairness seeds and their per-game
statistics.

All of it is read-only. A server seed the player has not revealed is never shown, nor is the
outcome of a round still running, and neither can be probed through the changelist's URL
filters (``lookup_allowed``): staff must not learn a player's future outcomes.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from casino.admin_tools import ReadOnlyAdmin, player_link, staff_action, staff_view
from games.enums import RoundStatus
from games.models import FairnessSeed, GameRound, PlayerGameStats
from games.services.back_office import round_verify

VIEW_ROUND = "games.view_gameround"
# The "verify selected" action recomputes at most this many rounds per click.
VERIFY_AT_ONCE = 500


def _refuses_secret_lookups(lookup: str, secret_roots: tuple[str, ...]) -> bool:
    """A changelist URL filter that reads a server seed or an outcome (``?server_seed__startswith=a``
    would otherwise answer "how many seeds start with a", one character at a time)."""
    parts = lookup.split("__")
    return "server_seed" in parts or parts[0] in secret_roots


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
    def player(self, round_: GameRound) -> SafeString | str:
        return player_link(round_.user)

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
    def player(self, seed: FairnessSeed) -> SafeString | str:
        return player_link(seed.user)

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
    def player(self, stats: PlayerGameStats) -> SafeString | str:
        return player_link(stats.user)
