"""The games' section of the player's page (``accounts.admin_story``): the
latest rounds, each linking to its page (and its verification), and how many
items the player owns."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_story import Figure, PlayerSection, register_player_section
from accounts.models import User
from casino.admin_tools import request_holds
from games.models import GameRound, InventoryItem

ROUND_ROWS = 10


def rounds_section(user: User, request: HttpRequest) -> PlayerSection:
    """Two queries: the latest rounds, the inventory count (for staff who may
    see inventories). An open round's outcome is never shown (the crash point)."""
    rounds = list(GameRound.objects.filter(user=user).order_by("-created_at", "-id")[:ROUND_ROWS])
    rows = [
        (
            format_html(
                '<a href="{}" class="round-link">#{}</a>', reverse("admin:games_gameround_change", args=[r.pk]), r.pk
            ),
            r.get_game_display(),
            r.get_status_display(),
            r.get_result_display() if r.result else "-",
            f"{r.bet_amount:,} {r.currency}",
            f"{r.payout:,}",
            timezone.localtime(r.created_at).strftime("%Y-%m-%d %H:%M:%S"),
        )
        for r in rounds
    ]
    figures = []
    if request_holds(request, "games.view_inventoryitem"):
        owned = InventoryItem.objects.filter(user=user).count()
        inventory_url = reverse("admin:games_inventoryitem_changelist") + f"?user__id__exact={user.pk}"
        figures.append(Figure("Items owned", owned, url=inventory_url))
    return PlayerSection(
        figures=tuple(figures),
        columns=("Round", "Game", "Status", "Result", "Bet", "Payout", "When"),
        rows=tuple(rows),
        see_all_url=reverse("admin:games_gameround_changelist") + f"?user__id__exact={user.pk}",
        see_all_label="All rounds",
        empty="No round played yet.",
    )


def register() -> None:
    """Called by ``GamesConfig.ready``."""
    register_player_section(
        "rounds", "Game rounds", order=70, provider=rounds_section, permission="games.view_gameround"
    )
