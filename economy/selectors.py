"""Economy reads shared by the API, the dashboard, the WebSocket and other apps.

Reads never write: a player without a wallet yet (an account created without
signing up: staff, createsuperuser) reads as an empty wallet
(:func:`wallet_or_empty`); the wallet row is opened by the first write
(``economy.services.wallet_get_or_open``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from casino.db import one_or_none
from economy.dashboard_cache import DashboardPage, dashboard_page
from economy.enums import Currency, LedgerReason, StreakDayKind, VipTier
from economy.levels import level_progress
from economy.models import DailyStreak, LedgerEntry, StreakDay, Wallet
from economy.streaks import effective_count, next_count, streak_reward, utc_today, week_start
from economy.vip import VIP_TIERS


def wallet_for(user_id: int) -> Wallet | None:
    """The player's wallet, or None while the player has none."""
    return one_or_none(Wallet.objects.filter(pk=user_id))


def wallet_or_empty(*, user_id: int) -> Wallet:
    """The player's wallet, or an unsaved one with the defaults (zero
    balances, the base VIP tier) for a player who has none yet."""
    return wallet_for(user_id) or Wallet(user_id=user_id)


def wallet_vip_tier(*, user_id: int) -> str:
    """The player's VIP tier (``STANDARD`` for a player without a wallet yet)."""
    # Sliced, not .first(): a unique-key lookup needs no ORDER BY.
    tiers = list(Wallet.objects.filter(pk=user_id).values_list("vip_tier", flat=True)[:1])
    return str(tiers[0]) if tiers else VipTier.STANDARD.value


def wallet_balances(*, user_id: int) -> dict[str, int]:
    """``{"gold": .., "gems": ..}`` of the player's wallet, or ``{}`` without one."""
    currencies = (Currency.GOLD.value, Currency.GEMS.value)
    rows = list(Wallet.objects.filter(pk=user_id).values(*currencies)[:1])
    return {currency: int(rows[0][currency]) for currency in currencies} if rows else {}


def ledger_entries_for_reference(*, user_id: int, reference: str) -> QuerySet[LedgerEntry]:
    """The player's ledger entries posted under one business reference (``order:R…``)."""
    return LedgerEntry.objects.filter(reference=reference, wallet_id=user_id)


def balances_payload(wallet: Wallet) -> dict[str, Any]:
    progress = level_progress(wallet.xp)
    return {
        "gold_balance": wallet.gold,
        "gems_balance": wallet.gems,
        "vip_points": wallet.vip_points,
        "vip_tier": wallet.vip_tier,
        "level": progress.level,
        "experience": progress.xp_into_level,
        "max_experience": progress.xp_for_next_level,
        "experience_points": wallet.xp,
    }


def balances_for_user(user: User) -> dict[str, Any]:
    """The WebSocket's initial ``balances`` (zeros for a player without a wallet)."""
    return balances_payload(wallet_or_empty(user_id=user.pk))


def balance_summary(user: User) -> dict[str, Any]:
    """``GET /api/users/balance``: the balances with who and the streak count."""
    return {
        **balances_payload(wallet_or_empty(user_id=user.pk)),
        "user_id": user.pk,
        "nickname": user.nickname,
        "daily_streak": streak_status(user.pk)["count"],
    }


def streak_for_user(user: User) -> dict[str, Any]:
    return streak_status(user.pk)


def _streak_count_now(streak: DailyStreak | None, today: date) -> int:
    if streak is None:
        return 0
    return effective_count(
        current_count=streak.current_count,
        last_checkin=streak.last_checkin_date,
        tokens=streak.protection_tokens,
        today=today,
    )


def profile_fields(users: list[User]) -> dict[int, dict[str, Any]]:
    """Economy fields of the player profile (registered with accounts), two queries."""
    ids = [user.pk for user in users]
    wallets = {wallet.pk: wallet for wallet in Wallet.objects.filter(pk__in=ids)}
    streaks = {streak.pk: streak for streak in DailyStreak.objects.filter(pk__in=ids)}
    today = utc_today()
    fields: dict[int, dict[str, Any]] = {}
    for user_id in ids:
        wallet = wallets.get(user_id)
        if wallet is None:
            continue
        payload = balances_payload(wallet)
        payload.pop("experience_points")
        payload["daily_streak"] = _streak_count_now(streaks.get(user_id), today)
        fields[user_id] = payload
    return fields


def streak_status(user_id: int, *, today: date | None = None) -> dict[str, Any]:
    """Everything the streak screens show, in two queries."""
    today = today or utc_today()
    streak = one_or_none(DailyStreak.objects.filter(pk=user_id))
    sunday = week_start(today)
    first_of_month = today.replace(day=1)
    since = min(sunday, first_of_month)
    days = {day.date: day for day in StreakDay.objects.filter(user_id=user_id, date__gte=since, date__lte=today)}
    today_record = days.get(today)
    claimed_today = bool(today_record and today_record.claimed_at)
    if today_record is not None:
        today_count = today_record.streak_count
    elif streak is not None:
        today_count, _ = next_count(
            current_count=streak.current_count,
            last_checkin=streak.last_checkin_date,
            tokens=streak.protection_tokens,
            today=today,
        )
    else:
        today_count = 1
    today_reward, tomorrow_reward = streak_reward(today_count), streak_reward(today_count + 1)
    week = []
    for offset in range(7):
        day = sunday + timedelta(days=offset)
        record = days.get(day)
        week.append(
            {
                "date": day,
                "checked_in": bool(record and record.kind == StreakDayKind.CHECKIN),
                "protected": bool(record and record.kind == StreakDayKind.PROTECTED),
                "claimed": bool(record and record.claimed_at),
            }
        )
    return {
        "count": _streak_count_now(streak, today),
        "claimed_today": claimed_today,
        "checked_in_today": today_record is not None,
        "claimable": not claimed_today,
        "today_reward_gold": today_reward.gold,
        "today_reward_xp": today_reward.xp,
        "next_day_reward_gold": tomorrow_reward.gold,
        "next_day_reward_xp": tomorrow_reward.xp,
        "longest": streak.longest_count if streak else 0,
        "protection_tokens": streak.protection_tokens if streak else 0,
        "last_checkin_date": streak.last_checkin_date if streak else None,
        "attendance_week": week,
        "month_count": sum(
            1 for day, record in days.items() if day >= first_of_month and record.kind == StreakDayKind.CHECKIN
        ),
    }


def streak_history(user_id: int, *, year: int | None = None, month: int | None = None) -> dict[str, Any]:
    """The month's days (default: the current UTC month)."""
    today = utc_today()
    year, month = year or today.year, month or today.month
    first = date(year, month, 1)
    after = date(year + (month == 12), month % 12 + 1, 1)
    records = list(StreakDay.objects.filter(user_id=user_id, date__gte=first, date__lt=after).order_by("date"))
    return {
        "year": year,
        "month": month,
        "days": [r.date for r in records if r.kind == StreakDayKind.CHECKIN],
        "protected_days": [r.date for r in records if r.kind == StreakDayKind.PROTECTED],
        "claimed_days": [r.date for r in records if r.claimed_at],
    }


def vip_status(user_id: int, *, wallet: Wallet | None = None, today: date | None = None) -> dict[str, Any]:
    today = today or utc_today()
    wallet = wallet or wallet_or_empty(user_id=user_id)
    last: datetime | None = (
        LedgerEntry.objects.filter(wallet_id=user_id, reason=LedgerReason.VIP_DAILY)
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    return {
        "vip_tier": wallet.vip_tier,
        "vip_points": wallet.vip_points,
        "daily_points": VIP_TIERS[wallet.vip_tier].daily_points,
        "claimed_today": bool(last and last.date() == today),
        "last_claim_at": last,
    }


def ledger_for(
    user_id: int,
    *,
    currency: str | None = None,
    reason: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[LedgerEntry]:
    entries = LedgerEntry.objects.filter(wallet_id=user_id).order_by("-created_at", "-id")
    if currency:
        entries = entries.filter(currency=currency)
    if reason:
        entries = entries.filter(reason=reason)
    if since:
        entries = entries.filter(created_at__gte=since)
    if until:
        entries = entries.filter(created_at__lt=until)
    return entries


# --- Dashboard ------------------------------------------------------------------
# Later domains (events, missions, shop) add their section without the economy
# importing them: register a function user -> list.
DashboardSection = Callable[[User], list[dict[str, Any]]]
DASHBOARD_SECTIONS: dict[str, DashboardSection | None] = {"events": None, "missions": None, "shop_highlights": None}


def register_dashboard_section(name: str, section: DashboardSection) -> None:
    DASHBOARD_SECTIONS[name] = section


def dashboard(user: User) -> dict[str, Any]:
    """The home screen in one payload: five queries plus one per registered section."""
    from accounts.selectors import user_profiles

    today = utc_today()
    wallet = wallet_or_empty(user_id=user.pk)
    streak = streak_status(user.pk, today=today)
    balances = balances_payload(wallet)
    profile = user_profiles([user], contributed=False)[user.pk]
    profile.update({key: value for key, value in balances.items() if key != "experience_points"})
    profile["daily_streak"] = streak["count"]
    progress = level_progress(wallet.xp)
    return {
        "profile": profile,
        "balances": {key: balances[key] for key in ("gold_balance", "gems_balance", "vip_points")},
        "level": {
            "level": progress.level,
            "experience": progress.xp_into_level,
            "max_experience": progress.xp_for_next_level,
            "total_experience": progress.total_xp,
        },
        "streak": {
            "count": streak["count"],
            "claimed_today": streak["claimed_today"],
            "next_reward": {"gold": streak["today_reward_gold"], "xp": streak["today_reward_xp"]}
            if not streak["claimed_today"]
            else {"gold": streak["next_day_reward_gold"], "xp": streak["next_day_reward_xp"]},
            "attendance_week": streak["attendance_week"],
            "protection_tokens": streak["protection_tokens"],
        },
        "vip": vip_status(user.pk, wallet=wallet, today=today),
        **{name: section(user) if section else [] for name, section in DASHBOARD_SECTIONS.items()},
    }


def dashboard_cached(user: User, *, render: Callable[[dict[str, Any]], bytes]) -> DashboardPage:
    """The player's dashboard as rendered bytes with their ETag, from the
    per-player cache (``economy.dashboard_cache``); on a miss it is built with
    :func:`dashboard` and ``render`` (the API's serializer) and cached."""
    return dashboard_page(user.pk, lambda: render(dashboard(user)))
