"""The economy's sections of the player's page (``accounts.admin_story``):
balances and debt, level, VIP, the daily streak, and the latest ledger entries."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin_story import Figure, PlayerSection, StoryAction, register_player_section
from accounts.models import User
from casino.admin_tools import request_holds
from casino.db import one_or_none
from economy.levels import level_progress
from economy.models import DailyStreak, LedgerEntry, Wallet
from economy.services.grants import GRANT_PERMISSION

ADJUST_PERMISSION = "economy.adjust_balance"
LEDGER_ROWS = 10


def balances_section(user: User, request: HttpRequest) -> PlayerSection:
    """Wallet and streak: two queries (the streak's only for staff who may see streaks)."""
    wallet = one_or_none(Wallet.objects.filter(pk=user.pk))
    actions = [
        StoryAction("Grant reward bundle", reverse("admin:economy_wallet_grant", args=[user.pk]), GRANT_PERMISSION)
    ]
    if wallet is None:
        return PlayerSection(
            figures=(Figure("Wallet", "none yet"),),
            note="An account that never signed up has no wallet: the first grant opens one.",
            actions=tuple(actions),
        )
    actions.insert(
        0, StoryAction("Adjust balance", reverse("admin:economy_wallet_adjust", args=[wallet.pk]), ADJUST_PERMISSION)
    )
    level = level_progress(wallet.xp)
    figures = [
        Figure("Gold", f"{wallet.gold:,}"),
        Figure("Gems", f"{wallet.gems:,}"),
        Figure("Gold debt", f"{wallet.gold_debt:,}", state="danger" if wallet.gold_debt else ""),
        Figure("Gems debt", f"{wallet.gems_debt:,}", state="danger" if wallet.gems_debt else ""),
        Figure("Level", f"{level.level} ({level.xp_into_level:,}/{level.xp_for_next_level:,} XP)"),
        Figure("XP", f"{wallet.xp:,}"),
        Figure("VIP tier", wallet.get_vip_tier_display()),
        Figure("VIP points", f"{wallet.vip_points:,}"),
    ]
    if request_holds(request, "economy.view_dailystreak"):
        streak = one_or_none(DailyStreak.objects.filter(pk=user.pk))
        if streak is None:
            figures.append(Figure("Streak", "never checked in"))
        else:
            last = streak.last_checkin_date.isoformat() if streak.last_checkin_date else "never"
            figures += [
                Figure("Streak", f"{streak.current_count} (best {streak.longest_count}, last {last})"),
                Figure("Protection tokens", streak.protection_tokens),
            ]
    return PlayerSection(
        figures=tuple(figures),
        see_all_url=reverse("admin:economy_wallet_change", args=[wallet.pk]),
        see_all_label="Wallet",
        actions=tuple(actions),
    )


def ledger_section(user: User, request: HttpRequest) -> PlayerSection:
    """The latest entries: one query."""
    entries = list(LedgerEntry.objects.filter(wallet_id=user.pk).order_by("-created_at", "-id")[:LEDGER_ROWS])
    rows = [
        (
            format_html(
                '<a href="{}">{}</a>',
                reverse("admin:economy_ledgerentry_change", args=[entry.pk]),
                timezone.localtime(entry.created_at).strftime("%Y-%m-%d %H:%M:%S"),
            ),
            entry.get_reason_display(),
            entry.currency,
            f"{entry.delta:+,}",
            f"{entry.balance_after:,}",
            entry.reference,
        )
        for entry in entries
    ]
    return PlayerSection(
        columns=("When", "Reason", "Currency", "Change", "Balance after", "Reference"),
        rows=tuple(rows),
        see_all_url=reverse("admin:economy_ledgerentry_changelist") + f"?wallet__exact={user.pk}",
        see_all_label="All ledger entries",
        empty="No ledger entry yet.",
    )


def register() -> None:
    """Called by ``EconomyConfig.ready``."""
    register_player_section(
        "balances", "Balances", order=40, provider=balances_section, permission="economy.view_wallet"
    )
    register_player_section(
        "ledger", "Ledger (latest)", order=50, provider=ledger_section, permission="economy.view_ledgerentry"
    )
