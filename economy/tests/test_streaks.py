from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from economy.enums import Currency, LedgerReason, StreakDayKind
from economy.exceptions import AlreadyClaimed
from economy.models import DailyStreak, LedgerEntry, StreakDay, StreakRepairReport, Wallet
from economy.services import streak_claim, streak_repair, streak_tick
from economy.streaks import count_from_days, streak_reward
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db


def at(day: str, clock: str = "12:00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("n", "gold", "xp"),
    [(1, 1123, 55), (2, 1227, 59), (3, 1315, 63), (7, 1551, 73), (14, 1722, 83), (30, 1795, 89)],
)
def test_reward_formula_values(n: int, gold: int, xp: int) -> None:
    # gold = round(1000 + 800*(1 - e^(-n/6))), xp = round(50 + 40*(1 - e^(-n/8)))
    assert (streak_reward(n).gold, streak_reward(n).xp) == (gold, xp)


def test_claims_at_235959_and_000001_utc_are_two_days_and_streak_plus_one() -> None:
    user = player_with_wallet()

    with time_machine.travel(at("2026-03-10", "23:59:59"), tick=False):
        first = streak_claim(user=user)
    with time_machine.travel(at("2026-03-11", "00:00:01"), tick=False):
        second = streak_claim(user=user)

    assert (first.streak_count, second.streak_count) == (1, 2)
    assert not first.idempotent and not second.idempotent
    assert (first.awarded_gold, second.awarded_gold) == (streak_reward(1).gold, streak_reward(2).gold)
    assert Wallet.objects.get(pk=user.pk).gold == streak_reward(1).gold + streak_reward(2).gold


def test_second_claim_the_same_day_is_refused_carrying_the_first_result() -> None:
    user = player_with_wallet()
    with time_machine.travel(at("2026-03-10", "08:00:00"), tick=False):
        first = streak_claim(user=user)
    with time_machine.travel(at("2026-03-10", "20:00:00"), tick=False), pytest.raises(AlreadyClaimed) as refused:
        streak_claim(user=user)

    assert refused.value.details["first_claim"] == {
        "streak_count": first.streak_count,
        "awarded_gold": first.awarded_gold,
        "awarded_xp": first.awarded_xp,
        "new_gold_balance": first.new_gold_balance,
        "claimed_at": first.claimed_at.isoformat().replace("+00:00", "Z"),
    }
    assert LedgerEntry.objects.filter(reason=LedgerReason.STREAK_DAILY, currency=Currency.GOLD).count() == 1


def test_tick_then_claim_counts_one_day_not_two() -> None:
    user = player_with_wallet()
    with time_machine.travel(at("2026-03-10"), tick=False):
        tick = streak_tick(user=user)
        again = streak_tick(user=user)
        claim = streak_claim(user=user)

    assert tick.checked_in_now and not again.checked_in_now
    assert claim.streak_count == 1


def test_a_claim_writes_its_day_and_the_streak_with_its_events_in_the_last_statement() -> None:
    from casino.tests.statements import statements_sent

    user = player_with_wallet()
    with time_machine.travel(at("2026-03-10"), tick=False):
        streak_claim(user=user)  # the first day creates the streak row
    with time_machine.travel(at("2026-03-11"), tick=False), statements_sent() as sent:
        claim = streak_claim(user=user)

    day_and_streak = [sql for sql in sent if "economy_streakday" in sql and "INSERT" in sql]
    assert len(day_and_streak) == 1 and day_and_streak[0].startswith("WITH ")
    assert 'UPDATE "economy_dailystreak"' in day_and_streak[0] and "realtime_outboxevent" in day_and_streak[0]
    assert not [sql for sql in sent if sql.startswith('UPDATE "economy_dailystreak"')]
    streak = DailyStreak.objects.get(user=user)
    assert (claim.streak_count, streak.current_count, streak.last_checkin_date) == (2, 2, date(2026, 3, 11))
    day = StreakDay.objects.get(user=user, date=date(2026, 3, 11))
    assert (day.streak_count, day.claimed_at is not None) == (2, True)


def test_a_tick_then_a_claim_marks_the_day_claimed() -> None:
    user = player_with_wallet()
    with time_machine.travel(at("2026-03-10"), tick=False):
        streak_tick(user=user)
        assert StreakDay.objects.get(user=user).claimed_at is None
        streak_claim(user=user)

    assert StreakDay.objects.get(user=user).claimed_at is not None
    assert DailyStreak.objects.get(user=user).current_count == 1


def test_a_skipped_day_without_a_token_resets_the_streak() -> None:
    user = player_with_wallet()
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        with time_machine.travel(at(day), tick=False):
            streak_claim(user=user)

    with time_machine.travel(at("2026-03-05"), tick=False):
        after_gap = streak_claim(user=user)

    assert after_gap.streak_count == 1


def test_a_skipped_day_with_a_token_is_bridged_and_the_token_consumed() -> None:
    user = player_with_wallet()
    for offset in range(7):  # a 7-day streak earns one protection token
        with time_machine.travel(at("2026-03-01") + timedelta(days=offset), tick=False):
            streak_claim(user=user)
    assert DailyStreak.objects.get(pk=user.pk).protection_tokens == 1

    with time_machine.travel(at("2026-03-09"), tick=False):  # 2026-03-08 missed
        bridged = streak_claim(user=user)

    assert bridged.streak_count == 8
    streak = DailyStreak.objects.get(pk=user.pk)
    assert streak.protection_tokens == 0
    protected = StreakDay.objects.get(user=user, date=date(2026, 3, 8))
    assert protected.kind == StreakDayKind.PROTECTED


def test_a_gap_longer_than_the_tokens_resets_and_keeps_the_tokens() -> None:
    user = player_with_wallet()
    DailyStreak.objects.create(
        pk=user.pk,
        current_count=20,
        longest_count=20,
        last_checkin_date=date(2026, 3, 1),
        protection_tokens=1,
        updated_at=at("2026-03-01"),
    )

    with time_machine.travel(at("2026-03-04"), tick=False):  # two missed days, one token
        result = streak_claim(user=user)

    assert result.streak_count == 1
    assert DailyStreak.objects.get(pk=user.pk).protection_tokens == 1


def test_tokens_are_capped_at_three() -> None:
    user = player_with_wallet()
    for offset in range(28):
        with time_machine.travel(at("2026-01-01") + timedelta(days=offset), tick=False):
            streak_tick(user=user)

    assert DailyStreak.objects.get(pk=user.pk).protection_tokens == 3


def test_repair_fixes_a_seeded_inconsistency_and_is_a_no_op_the_second_time() -> None:
    user = player_with_wallet()
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        with time_machine.travel(at(day), tick=False):
            streak_claim(user=user)
    # Damage the record: the middle day vanishes and the counts are wrong.
    StreakDay.objects.filter(user=user, date=date(2026, 3, 2)).delete()
    DailyStreak.objects.filter(pk=user.pk).update(current_count=1)
    StreakDay.objects.filter(user=user, date=date(2026, 3, 3)).update(streak_count=1)

    with time_machine.travel(at("2026-03-03", "18:00:00"), tick=False):
        first = streak_repair()
        second = streak_repair()

    assert first.days_repaired == 1
    assert first.details == [
        {"user_id": user.pk, "date": "2026-03-02", "problem": "claim paid but no streak day recorded"}
    ]
    assert first.streaks_recounted == 1
    assert DailyStreak.objects.get(pk=user.pk).current_count == 3
    assert StreakDay.objects.get(user=user, date=date(2026, 3, 3)).streak_count == 3
    assert (second.days_repaired, second.streaks_recounted) == (0, 0)
    assert StreakRepairReport.objects.count() == 2


def test_repair_clears_a_claim_mark_that_nothing_paid() -> None:
    user = player_with_wallet()
    with time_machine.travel(at("2026-03-01"), tick=False):
        streak_tick(user=user)
    StreakDay.objects.filter(user=user).update(claimed_at=at("2026-03-01"))

    with time_machine.travel(at("2026-03-01", "13:00:00"), tick=False):
        report = streak_repair()

    assert report.details[0]["problem"] == "marked claimed but nothing was paid"
    assert StreakDay.objects.get(user=user).claimed_at is None


@pytest.mark.parametrize(
    ("days", "count"),
    [
        ([], 0),
        ([("2026-03-03", "checkin")], 1),
        ([("2026-03-01", "checkin"), ("2026-03-02", "checkin"), ("2026-03-03", "checkin")], 3),
        ([("2026-03-01", "checkin"), ("2026-03-03", "checkin")], 1),
        ([("2026-03-01", "checkin"), ("2026-03-02", "protected"), ("2026-03-03", "checkin")], 2),
    ],
)
def test_count_from_days(days: list[tuple[str, str]], count: int) -> None:
    assert count_from_days((date.fromisoformat(d), kind) for d, kind in days) == count


def test_signup_user_fixture_has_no_streak(user: Any) -> None:
    assert not DailyStreak.objects.filter(pk=user.pk).exists()
