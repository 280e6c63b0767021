"""Daily streak: check-in (tick), the once-a-day claim, and the repair.

Locking: the player's ``DailyStreak`` row is locked first, then (for a
claim) the wallet inside ``wallet_grant`` -- always in that order, so a tick
and a claim of the same player serialise instead of deadlocking.

Transactions: :func:`streak_tick` and :func:`streak_claim` are entry points
(views call them) and open a durable transaction; :func:`streak_repair` is a
batch entry point (task, command) that opens one short durable transaction
per player-day it fixes. None of them runs inside a caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

import realtime
from accounts.models import User
from casino.db import row_get, row_insert_new, row_update_later, rows_insert_later, service_transaction
from economy.enums import Currency, LedgerReason, StreakDayKind
from economy.exceptions import AlreadyClaimed
from economy.models import DailyStreak, LedgerEntry, StreakDay, StreakRepairReport
from economy.services.ledger import user_id_of, wallet_grant
from economy.streaks import (
    DAYS_PER_PROTECTION_TOKEN,
    MAX_PROTECTION_TOKENS,
    next_count,
    recount,
    streak_reward,
    utc_today,
)


def streak_claim_key(user_id: int, day: date) -> str:
    return f"streak:{user_id}:{day.isoformat()}"


@dataclass(frozen=True)
class CheckinResult:
    streak: DailyStreak
    day: StreakDay
    checked_in_now: bool
    protected_days: tuple[date, ...]


@dataclass(frozen=True)
class StreakClaimResult:
    streak_count: int
    awarded_gold: int
    awarded_xp: int
    new_gold_balance: int
    claimed_at: datetime
    idempotent: bool


def _locked_streak(user_id: int, now: datetime) -> DailyStreak:
    """The player's streak row, locked; created on their first check-in."""
    streak = row_get(DailyStreak, lock=True, pk=user_id)
    if streak is None:
        streak = DailyStreak(user_id=user_id, updated_at=now)
        if not row_insert_new(streak):  # a parallel first check-in created it: wait for it, then lock it
            streak = row_get(DailyStreak, lock=True, pk=user_id)
    if streak is None:
        raise RuntimeError(f"the streak row of player {user_id} vanished")  # only a deleted user does that
    return streak


def _checkin(user_id: int, today: date, now: datetime, *, claiming: bool = False) -> CheckinResult:
    """Record today's attendance; the caller holds a transaction. ``claiming``:
    the caller pays today's reward in this transaction, so a day recorded now
    is recorded as claimed (one write instead of two)."""
    streak = _locked_streak(user_id, now)
    existing = row_get(StreakDay, user=user_id, date=today)
    if existing is not None:
        return CheckinResult(streak=streak, day=existing, checked_in_now=False, protected_days=())
    count, bridged = next_count(
        current_count=streak.current_count,
        last_checkin=streak.last_checkin_date,
        tokens=streak.protection_tokens,
        today=today,
    )
    last_checkin = streak.last_checkin_date
    protected: tuple[date, ...] = ()
    if bridged and last_checkin is not None:  # next_count bridges only after an earlier check-in
        protected = tuple(last_checkin + timedelta(days=i) for i in range(1, bridged + 1))
    tokens = streak.protection_tokens - bridged
    if count % DAYS_PER_PROTECTION_TOKEN == 0:
        tokens = min(MAX_PROTECTION_TOKENS, tokens + 1)
    StreakDay.objects.bulk_create(
        [
            StreakDay(
                user_id=user_id,
                date=day,
                kind=StreakDayKind.PROTECTED,
                streak_count=streak.current_count,
                created_at=now,
            )
            for day in protected
        ]
    )
    day = StreakDay(
        user_id=user_id,
        date=today,
        kind=StreakDayKind.CHECKIN,
        streak_count=count,
        claimed_at=now if claiming else None,
        created_at=now,
    )
    rows_insert_later([day])  # nothing reads it back in this transaction: written with its events
    streak.current_count = count
    streak.longest_count = max(streak.longest_count, count)
    streak.last_checkin_date = today
    streak.protection_tokens = tokens
    streak.updated_at = now
    row_update_later(  # locked above, read no more here
        streak, ["current_count", "longest_count", "last_checkin_date", "protection_tokens", "updated_at"]
    )
    realtime.emit(
        "streak_update",
        user_id,
        {
            "count": count,
            "date": today.isoformat(),
            "protection_tokens": tokens,
            "protected_days": [d.isoformat() for d in protected],
        },
    )
    return CheckinResult(streak=streak, day=day, checked_in_now=True, protected_days=protected)


def streak_tick(*, user: User | int) -> CheckinResult:
    """Record today's attendance (idempotent per UTC day)."""
    with service_transaction():
        return _checkin(user_id_of(user), utc_today(), timezone.now())


def streak_claim(*, user: User | int) -> StreakClaimResult:
    """Check in and take today's reward, once per UTC day.

    The grant's idempotency key is ``streak:{user}:{utc-date}``: of N parallel
    claims one pays; the others (serialised on the streak row) find the
    entries and are refused with ``already_claimed`` (409) carrying the first
    award. A retry of the paying request (same Idempotency-Key) is answered by
    the idempotency layer with the first 200.

    The day is decided once, when the claim starts: a claim whose
    transaction runs past UTC midnight pays for the day it started on, under
    that day's key, and the next claim is the new day's.
    """
    user_id = user_id_of(user)
    today = utc_today()
    with service_transaction():
        now = timezone.now()
        checkin = _checkin(user_id, today, now, claiming=True)
        key = streak_claim_key(user_id, today)
        if checkin.day.claimed_at is not None and not checkin.checked_in_now:
            paid = tuple(LedgerEntry.objects.filter(wallet_id=user_id, idempotency_key=key))
            if paid:  # claimed before: refuse, carrying the original award; nothing is touched
                raise _already_claimed(_claim_result(paid, checkin.day.streak_count, idempotent=True))
        reward = streak_reward(checkin.day.streak_count)
        ledger = wallet_grant(
            user=user_id,
            bundle={Currency.GOLD: reward.gold, Currency.XP: reward.xp},
            reason=LedgerReason.STREAK_DAILY,
            idempotency_key=key,
            reference=f"streak:{today.isoformat()}",
            metadata={"streak_count": checkin.day.streak_count, "date": today.isoformat()},
        )
        if checkin.day.claimed_at is None:  # checked in earlier today (a tick), claimed now
            checkin.day.claimed_at = ledger.entries[0].created_at
            row_update_later(checkin.day, ["claimed_at"])
        if ledger.applied:
            realtime.emit(
                "reward_granted",
                user_id,
                {
                    "source": LedgerReason.STREAK_DAILY.value,
                    "amounts": ledger.deltas,
                    "streak_count": checkin.day.streak_count,
                },
            )
    result = _claim_result(ledger.entries, checkin.day.streak_count, idempotent=not ledger.applied)
    if not ledger.applied:  # a parallel claim paid first (the ledger key decided)
        raise _already_claimed(result)
    return result


def _already_claimed(first: StreakClaimResult) -> AlreadyClaimed:
    return AlreadyClaimed(
        "Today's streak reward is already claimed.",
        first_claim={
            "streak_count": first.streak_count,
            "awarded_gold": first.awarded_gold,
            "awarded_xp": first.awarded_xp,
            "new_gold_balance": first.new_gold_balance,
            "claimed_at": first.claimed_at.isoformat().replace("+00:00", "Z"),
        },
    )


def _claim_result(entries: tuple[LedgerEntry, ...], streak_count: int, *, idempotent: bool) -> StreakClaimResult:
    """The claim's answer, from its ledger entries (identical on every replay)."""
    by_currency = {entry.currency: entry for entry in entries}
    gold, xp = by_currency[Currency.GOLD], by_currency.get(Currency.XP)
    return StreakClaimResult(
        streak_count=int(gold.metadata.get("streak_count", streak_count)),
        awarded_gold=gold.delta,
        awarded_xp=xp.delta if xp else 0,
        new_gold_balance=gold.balance_after,
        claimed_at=gold.created_at,
        idempotent=idempotent,
    )


# --- Repair -----------------------------------------------------------------------


def _parse_claim_key(key: str) -> tuple[int, date] | None:
    try:
        prefix, user_id, day = key.split(":")
        return (int(user_id), date.fromisoformat(day)) if prefix == "streak" else None
    except ValueError:
        return None


def streak_repair(*, since: date | None = None) -> StreakRepairReport:
    """Make streak records agree with the ledger, which is the truth.

    For every streak claim in the ledger (from ``since``, default: all) the
    day must exist as a claimed check-in; for every day marked claimed there
    must be a claim. Days that disagree are fixed, the players' streaks are
    recounted from their days, and a report row records it all. Running it
    again finds nothing to fix.

    Each fix is its own short transaction (durable: a batch never runs inside
    a caller's), so a long repair never holds many players' locks at once.
    """
    started = timezone.now()
    claims = LedgerEntry.objects.filter(reason=LedgerReason.STREAK_DAILY, currency=Currency.GOLD)
    marked = StreakDay.objects.filter(claimed_at__isnull=False)
    if since is not None:
        claims = claims.filter(created_at__date__gte=since)
        marked = marked.filter(date__gte=since)
    details: list[dict[str, Any]] = []
    affected: set[int] = set()
    checked = 0
    paid: set[tuple[int, date]] = set()
    for key, created_at in claims.values_list("idempotency_key", "created_at").iterator():
        parsed = _parse_claim_key(key)
        if parsed is None:
            continue
        checked += 1
        paid.add(parsed)
        user_id, day = parsed
        with transaction.atomic(durable=True):
            _locked_streak(user_id, started)
            record = StreakDay.objects.filter(user_id=user_id, date=day).first()
            if record is None:
                StreakDay.objects.create(
                    user_id=user_id,
                    date=day,
                    kind=StreakDayKind.CHECKIN,
                    streak_count=0,
                    claimed_at=created_at,
                    created_at=started,
                )
                problem = "claim paid but no streak day recorded"
            elif record.kind != StreakDayKind.CHECKIN or record.claimed_at is None:
                record.kind = StreakDayKind.CHECKIN
                record.claimed_at = record.claimed_at or created_at
                record.save(update_fields=["kind", "claimed_at"])
                problem = "claim paid but the day was not marked claimed"
            else:
                continue
        affected.add(user_id)
        details.append({"user_id": user_id, "date": day.isoformat(), "problem": problem})
    for user_id, day in marked.values_list("user_id", "date").iterator():
        if (user_id, day) in paid:
            continue
        with transaction.atomic(durable=True):
            _locked_streak(user_id, started)
            StreakDay.objects.filter(user_id=user_id, date=day).update(claimed_at=None)
        affected.add(user_id)
        details.append({"user_id": user_id, "date": day.isoformat(), "problem": "marked claimed but nothing was paid"})
    recounted = sum(1 for user_id in sorted(affected) if _recount_user(user_id, started))
    return StreakRepairReport.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        claims_checked=checked,
        days_repaired=len(details),
        streaks_recounted=recounted,
        details=details,
    )


def _recount_user(user_id: int, now: datetime) -> bool:
    """Rebuild a player's day counts and streak from the days; True if anything changed."""
    with transaction.atomic(durable=True):
        streak = _locked_streak(user_id, now)
        days = list(StreakDay.objects.filter(user_id=user_id).order_by("date"))
        changed = False
        counted = recount((day.date, day.kind) for day in days)
        for day, (_, _, count) in zip(days, counted, strict=True):
            if day.streak_count != count:
                day.streak_count = count
                day.save(update_fields=["streak_count"])
                changed = True
        checkins = [(d, c) for d, kind, c in counted if kind == StreakDayKind.CHECKIN]
        last_date, last_count = checkins[-1] if checkins else (None, 0)
        longest = max([streak.longest_count, *(c for _, c in checkins)])
        if (streak.current_count, streak.last_checkin_date, streak.longest_count) != (last_count, last_date, longest):
            streak.current_count, streak.last_checkin_date, streak.longest_count = last_count, last_date, longest
            streak.updated_at = now
            streak.save()
            changed = True
        return changed
