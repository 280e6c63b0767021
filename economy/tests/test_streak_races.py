"""A streak claim straddling UTC midnight (Saleor-style run_before/run_after).

The claim decides its day when it starts. Whatever the clock says by the time
its transaction reaches the grant or commits, it pays once, for that day, under
that day's key; a claim made after midnight is the next day's claim.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.db import connection

from casino.tests.race_condition import run_after, run_before
from economy.enums import Currency, LedgerReason
from economy.models import LedgerEntry, StreakDay
from economy.services import StreakClaimResult, streak_claim
from economy.streaks import streak_reward
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_MIDNIGHT = datetime(2026, 3, 10, 23, 59, 59, 900_000, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 3, 11, 0, 0, 0, 100_000, tzinfo=UTC)
DAY, NEXT_DAY = date(2026, 3, 10), date(2026, 3, 11)


def streak_grants(user: Any) -> dict[str, int]:
    """Gold streak entries of the player: idempotency key -> amount."""
    entries = LedgerEntry.objects.filter(wallet_id=user.pk, reason=LedgerReason.STREAK_DAILY, currency=Currency.GOLD)
    return dict(entries.values_list("idempotency_key", "delta"))


def test_a_claim_whose_clock_passes_midnight_before_the_grant_pays_once_for_the_day_it_started() -> None:
    player = player_with_wallet()

    with time_machine.travel(BEFORE_MIDNIGHT, tick=False) as clock:
        with run_before("economy.services.streak.wallet_grant", lambda *a, **k: clock.move_to(AFTER_MIDNIGHT)):
            straddling = streak_claim(user=player)
        after_midnight = streak_claim(user=player)

    assert (straddling.streak_count, straddling.idempotent) == (1, False)
    assert (after_midnight.streak_count, after_midnight.idempotent) == (2, False)
    assert streak_grants(player) == {
        f"streak:{player.pk}:{DAY.isoformat()}": streak_reward(1).gold,
        f"streak:{player.pk}:{NEXT_DAY.isoformat()}": streak_reward(2).gold,
    }
    days = dict(StreakDay.objects.filter(user_id=player.pk).values_list("date", "streak_count"))
    assert days == {DAY: 1, NEXT_DAY: 2}


def test_a_claim_after_midnight_waiting_on_a_claim_from_before_is_the_next_days_claim() -> None:
    """The second claim starts after midnight while the first, decided before
    midnight, holds the player's streak row; it waits, then claims its own day."""
    player = player_with_wallet()
    competing: dict[str, Any] = {}
    pid_known = threading.Event()

    def claim_after_midnight() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                competing["pid"] = cursor.fetchone()[0]
            pid_known.set()
            competing["result"] = streak_claim(user=player)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            competing["error"] = exc
        finally:
            pid_known.set()
            connection.close()

    thread = threading.Thread(target=claim_after_midnight)

    def midnight_strikes_and_a_second_claim_queues_up(*_args: Any, **_kwargs: Any) -> None:
        clock.move_to(AFTER_MIDNIGHT)
        thread.start()
        assert pid_known.wait(10)
        assert wait_until_blocked_on_a_lock(competing.get("pid")), "the second claim never queued behind the first"

    with time_machine.travel(BEFORE_MIDNIGHT, tick=False) as clock:
        with run_after("economy.services.streak._locked_streak", midnight_strikes_and_a_second_claim_queues_up):
            first = streak_claim(user=player)
        thread.join(30)

    assert "error" not in competing, competing.get("error")
    second: StreakClaimResult = competing["result"]
    assert (first.streak_count, first.idempotent, first.awarded_gold) == (1, False, streak_reward(1).gold)
    assert (second.streak_count, second.idempotent, second.awarded_gold) == (2, False, streak_reward(2).gold)
    assert streak_grants(player) == {
        f"streak:{player.pk}:{DAY.isoformat()}": streak_reward(1).gold,
        f"streak:{player.pk}:{NEXT_DAY.isoformat()}": streak_reward(2).gold,
    }


def wait_until_blocked_on_a_lock(pid: int | None, *, attempts: int = 200) -> bool:
    """Poll PostgreSQL until backend ``pid`` waits for a lock (at most ~10 s).
    Asked from the first claim's connection, mid-transaction: ``pg_locks`` is
    read fresh on every call (``pg_stat_activity`` would be frozen for the
    rest of the transaction) and reading it takes no lock."""
    if pid is None:
        return False
    for _ in range(attempts):
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [pid])
            row = cursor.fetchone()
        if row and row[0]:
            return True
        time.sleep(0.05)
    return False
