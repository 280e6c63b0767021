"""Economy reads shared by the API, the dashboard, the WebSocket and other apps.

Reads never write: a player without a wallet yet (an account created without
signing up: staff, createsuperuser) reads as an empty wallet
(:func:`wallet_or_empty`); the wallet row is opened by the first write
(``economy.services.wallet_get_or_open``). The ledger read as the player's history
(entries, recent actions) is ``economy.ledger_selectors``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from casino.db import RowLookup, column_name, row_get, rows_get, rows_get_together
from casino.reads import shared, shared_reads, shared_seed
from economy.dashboard_cache import DashboardPage, dashboard_page
from economy.enums import Currency, LedgerReason, StreakDayKind, VipTier
from economy.levels import level_progress
from economy.models import DailyStreak, LedgerEntry, StreakDay, Wallet
from economy.streaks import effective_count, next_count, streak_reward, utc_today, week_start
from economy.vip import VIP_TIERS


def wallet_for(user_id: int) -> Wallet | None:
    """The player's wallet, or None while the player has none (read once per
    initial state, ``casino.reads``)."""
    return shared(("economy.wallet", user_id), lambda: row_get(Wallet, pk=user_id))


def _streak_row(user_id: int) -> DailyStreak | None:
    return shared(("economy.streak", user_id), lambda: row_get(DailyStreak, pk=user_id))


def wallet_or_empty(*, user_id: int) -> Wallet:
    """The player's wallet, or an unsaved one with the defaults (zero
    balances, the base VIP tier) for a player who has none yet."""
    return wallet_for(user_id) or Wallet(user_id=user_id)


def wallet_vip_tier(*, user_id: int) -> str:
    """The player's VIP tier (``STANDARD`` for a player without a wallet yet)."""
    wallet = row_get(Wallet, fields=("vip_tier",), pk=user_id)  # every gacha pull's daily limit: written out
    return str(wallet.vip_tier) if wallet is not None else VipTier.STANDARD.value


def wallet_balances(*, user_id: int) -> dict[str, int]:
    """``{"gold": .., "gems": ..}`` of the player's wallet, or ``{}`` without one."""
    currencies = (Currency.GOLD.value, Currency.GEMS.value)
    wallet = row_get(Wallet, fields=currencies, pk=user_id)  # written out: every money buy's answer reads it
    return {currency: int(getattr(wallet, currency)) for currency in currencies} if wallet is not None else {}


def ledger_entries_for_reference(*, user_id: int, reference: str) -> QuerySet[LedgerEntry]:
    """The player's ledger entries posted under one business reference (``order:R…``)."""
    return LedgerEntry.objects.filter(reference=reference, wallet_id=user_id)


def balances_payload(wallet: Wallet) -> dict[str, Any]:
    """A wallet under every name the client reads (docs/client-contract.md,
    "Currency and profile field names"): gold as ``cyber_token_balance``,
    ``gold_balance`` and ``gold``; gems as ``gems_balance`` and ``gems``; total
    XP as ``experience_points`` and ``exp``. ``experience`` is the XP into the
    current level, the numerator of ``max_experience`` (the XP the level needs):
    the client's progress bar reads that pair, and its alias lookup reads
    ``experience_points`` first, which is always present."""
    progress = level_progress(wallet.xp)
    return {
        "cyber_token_balance": wallet.gold,
        "gold_balance": wallet.gold,
        "gold": wallet.gold,
        "gems_balance": wallet.gems,
        "gems": wallet.gems,
        "vip_points": wallet.vip_points,
        "vip_tier": wallet.vip_tier,
        "level": progress.level,
        "experience": progress.xp_into_level,
        "max_experience": progress.xp_for_next_level,
        "experience_points": wallet.xp,
        "exp": wallet.xp,
    }


# What counts as gold *spent*: paid out of the wallet for a purchase or a bet.
SPENDING_REASONS: tuple[str, ...] = (LedgerReason.PURCHASE.value, LedgerReason.GAME_BET.value)


def gold_spent_totals(*, user_ids: list[int]) -> dict[int, int]:
    """``total_spent`` of each player: the gold paid for purchases and bets
    (refunds are not subtracted), one query. Players who spent nothing are 0."""
    if len(user_ids) == 1:  # one player's (an initial state reads it for two sections)
        return shared(("economy.gold_spent", user_ids[0]), lambda: _gold_spent(user_ids))
    return _gold_spent(user_ids)


def _gold_spent_sql(user_ids: list[int], *, by_player: bool = True) -> tuple[str, list[Any]]:
    """The SUM behind ``total_spent``: per player (``wallet``, sum), or one sum."""
    column = partial(column_name, LedgerEntry)
    sql = (  # on every dashboard and initial state: written out, not compiled each time
        f"SELECT {column('wallet') + ', ' if by_player else ''}SUM({column('delta')})"  # noqa: S608
        f" FROM {LedgerEntry._meta.db_table}"
        f" WHERE {column('wallet')} IN ({', '.join(['%s'] * len(user_ids))}) AND {column('currency')} = %s"
        f" AND {column('reason')} IN ({', '.join(['%s'] * len(SPENDING_REASONS))}) AND {column('delta')} < 0"
        f"{' GROUP BY ' + column('wallet') if by_player else ''}"
    )
    return sql, [*user_ids, Currency.GOLD.value, *SPENDING_REASONS]


def _gold_spent(user_ids: list[int]) -> dict[int, int]:
    totals = {user_id: 0 for user_id in user_ids}
    if not user_ids:
        return totals
    sql, params = _gold_spent_sql(user_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for wallet_id, spent in cursor.fetchall():
            totals[int(wallet_id)] = -int(spent or 0)
    return totals


def balances_for_user(user: User) -> dict[str, Any]:
    """The WebSocket's initial ``balances`` (zeros for a player without a wallet)."""
    return balances_payload(wallet_or_empty(user_id=user.pk))


def balance_summary(user: User) -> dict[str, Any]:
    """``GET /api/users/balance``: the balances with who and the streak count."""
    today = utc_today()
    return {
        **balances_payload(wallet_or_empty(user_id=user.pk)),
        "user_id": user.pk,
        "nickname": user.nickname,
        "daily_streak": _streak_count_now(_streak_row(user.pk), today),
    }


def streak_for_user(user: User) -> dict[str, Any]:
    """The WebSocket's initial ``streak`` (and, under the client's other name, ``streaks``)."""
    return shared(("economy.streak_status", user.pk), lambda: streak_status(user.pk))


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
    """Economy fields of the player profile (registered with accounts), three
    queries: every balance alias (:func:`balances_payload`), ``daily_streak``,
    ``total_spent`` and ``tier`` (the VIP tier, the name the WebSocket's
    ``initial_state.profile`` is read under). A player without a wallet yet
    reads as an empty wallet, so the client always finds its gold."""
    ids = [user.pk for user in users]
    if len(ids) == 1:  # one player (a socket's initial state): the reads its other sections share
        wallets = {ids[0]: wallet_for(ids[0])}
        streaks = {ids[0]: _streak_row(ids[0])}
    else:
        wallets = {wallet.pk: wallet for wallet in Wallet.objects.filter(pk__in=ids)}
        streaks = {streak.pk: streak for streak in DailyStreak.objects.filter(pk__in=ids)}
    spent = gold_spent_totals(user_ids=ids)
    today = utc_today()
    fields: dict[int, dict[str, Any]] = {}
    for user_id in ids:
        payload = balances_payload(wallets.get(user_id) or Wallet(user_id=user_id))
        payload["tier"] = payload["vip_tier"]
        payload["daily_streak"] = _streak_count_now(streaks.get(user_id), today)
        payload["total_spent"] = spent[user_id]
        fields[user_id] = payload
    return fields


def streak_status(user_id: int, *, today: date | None = None) -> dict[str, Any]:
    """Everything the streak screens show, in two queries."""
    today = today or utc_today()
    streak = _streak_row(user_id)
    sunday = week_start(today)
    first_of_month = today.replace(day=1)
    since = min(sunday, first_of_month)
    days = {day.date: day for day in rows_get(StreakDay, user=user_id, between={"date": (since, today)})}
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
    count = _streak_count_now(streak, today)
    last_checkin = streak.last_checkin_date if streak else None
    return {
        "count": count,
        "current_count": count,
        "claimed_today": claimed_today,
        "checked_in_today": today_record is not None,
        "claimable": not claimed_today,
        "today_reward_gold": today_reward.gold,
        "today_reward_xp": today_reward.xp,
        "next_day_reward_gold": tomorrow_reward.gold,
        "next_day_reward_xp": tomorrow_reward.xp,
        "longest": streak.longest_count if streak else 0,
        "protection_tokens": streak.protection_tokens if streak else 0,
        "last_checkin_date": last_checkin,
        "last_action_date": last_checkin,
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


def _vip_claim_lookup(user_id: int) -> RowLookup:
    """The player's last VIP claim (its ledger entry's time): every dashboard built reads it."""
    return RowLookup(
        LedgerEntry,
        {"wallet": user_id, "reason": LedgerReason.VIP_DAILY},
        fields=("created_at",),
        order_by=("-created_at", "-id"),
    )


def vip_status(user_id: int, *, wallet: Wallet | None = None, today: date | None = None) -> dict[str, Any]:
    today = today or utc_today()
    wallet = wallet or wallet_or_empty(user_id=user_id)
    claim = shared(("economy.vip_claim", user_id), _vip_claim_lookup(user_id).get)
    last: datetime | None = getattr(claim, "created_at", None)  # the entry's time, or None without a claim
    return {
        "vip_tier": wallet.vip_tier,
        "vip_points": wallet.vip_points,
        "daily_points": VIP_TIERS[wallet.vip_tier].daily_points,
        "claimed_today": bool(last and last.date() == today),
        "last_claim_at": last,
    }


def streaks_for_user(user: User) -> dict[str, Any]:
    """The WebSocket's initial ``streaks`` (the client's name), keyed by action type."""
    return {"DAILY_LOGIN": streak_for_user(user)}


def economy_stats_for_user(user: User) -> dict[str, Any]:
    """The WebSocket's initial ``stats``: what the economy knows (games add theirs later)."""
    wallet = wallet_or_empty(user_id=user.pk)
    progress = level_progress(wallet.xp)
    return {
        "level": progress.level,
        "experience_points": wallet.xp,
        "total_spent": gold_spent_totals(user_ids=[user.pk])[user.pk],
        "vip_tier": wallet.vip_tier,
        "vip_points": wallet.vip_points,
    }


# --- Dashboard ------------------------------------------------------------------
# Later domains (events, missions, shop) add their section without the economy
# importing them: register a function user -> list.
DashboardSection = Callable[[User], list[dict[str, Any]]]
DASHBOARD_SECTIONS: dict[str, DashboardSection | None] = {"events": None, "missions": None, "shop_highlights": None}


def register_dashboard_section(name: str, section: DashboardSection) -> None:
    DASHBOARD_SECTIONS[name] = section


DASHBOARD_BALANCE_FIELDS = ("cyber_token_balance", "gold_balance", "gold", "gems_balance", "gems", "vip_points")


def _dashboard_rows_read(user_id: int) -> None:
    """The dashboard's one-row reads in one statement (``casino.db.rows_get_together``):
    the wallet, the streak row, the last VIP claim and the gold spent, handed to the
    selectors that read them (``casino.reads.shared_seed``; inside ``shared_reads``)."""
    (wallet, streak, last_claim), (spent,) = rows_get_together(
        [RowLookup(Wallet, {"pk": user_id}), RowLookup(DailyStreak, {"pk": user_id}), _vip_claim_lookup(user_id)],
        [_gold_spent_sql([user_id], by_player=False)],
    )
    shared_seed(("economy.wallet", user_id), wallet)
    shared_seed(("economy.streak", user_id), streak)
    shared_seed(("economy.vip_claim", user_id), last_claim)
    shared_seed(("economy.gold_spent", user_id), {user_id: -int(spent or 0)})


def dashboard(user: User) -> dict[str, Any]:
    """The home screen in one payload: two statements (the rows of
    :func:`_dashboard_rows_read`, then the streak's days) plus what the
    registered sections read."""
    with shared_reads():
        _dashboard_rows_read(user.pk)
        return _dashboard(user)


def _dashboard(user: User) -> dict[str, Any]:
    from accounts.selectors import user_profiles

    today = utc_today()
    wallet = wallet_or_empty(user_id=user.pk)
    streak = streak_status(user.pk, today=today)
    balances = balances_payload(wallet)
    profile = user_profiles([user], contributed=False)[user.pk]
    profile.update(balances)
    profile["daily_streak"] = streak["count"]
    profile["total_spent"] = gold_spent_totals(user_ids=[user.pk])[user.pk]
    progress = level_progress(wallet.xp)
    return {
        "profile": profile,
        "balances": {key: balances[key] for key in DASHBOARD_BALANCE_FIELDS},
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
