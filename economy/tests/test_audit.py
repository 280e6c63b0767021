"""The ledger audit (promise 1), its command, the scheduled tasks and the streak-repair command."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import user_signup
from accounts.tests.factories import InviteCodeFactory
from economy import tasks
from economy.enums import Currency, LedgerReason
from economy.models import LedgerAuditRun, LedgerEntry, StreakDay, StreakRepairReport, Wallet
from economy.services import audit as audit_module
from economy.services import streak_claim, wallet_grant, wallet_spend
from economy.services.audit import audit_violation_total, ledger_audit_run
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db

GOLD, GEMS, XP, VIP_POINTS = Currency.GOLD, Currency.GEMS, Currency.XP, Currency.VIP_POINTS


def sign_up(index: int) -> Any:
    InviteCodeFactory(code=f"AUDIT{index:03d}")
    return user_signup(
        site_id=f"audited{index}",
        nickname=f"Audited{index}",
        phone_number=f"+1555444{index:04d}",
        password="Correct-Horse-9",
        invite_code=f"AUDIT{index:03d}",
    ).user


def busy_ledger(players: int = 3) -> list[Any]:
    """Signed-up players (1000 gold bonus each) with grants and spends in every currency."""
    users = [sign_up(i) for i in range(players)]
    for i, user in enumerate(users):
        wallet_grant(
            user=user,
            bundle={GOLD: 500 + i, GEMS: 20, XP: 300, VIP_POINTS: 7},
            reason=LedgerReason.EVENT_REWARD,
            idempotency_key=f"ev:{i}",
        )
        wallet_spend(user=user, bundle={GOLD: 250, GEMS: 5}, reason=LedgerReason.PURCHASE, idempotency_key=f"buy:{i}")
        wallet_grant(user=user, bundle={XP: 41}, reason=LedgerReason.GAME_WIN, idempotency_key=f"win:{i}")
    return users


def corrupt_gold(user: Any, by: int = 7) -> None:
    # Wallet rows may be updated (only ledger rows are immutable): a balance drifting from its ledger.
    Wallet.objects.filter(pk=user.pk).update(gold=F("gold") + by)


# --- ledger_audit_run -----------------------------------------------------------------


def test_audit_passes_on_a_clean_ledger_with_several_players() -> None:
    users = busy_ledger(3)
    player_with_wallet()  # a wallet without a single entry is consistent too

    run = ledger_audit_run()

    assert run.ok is True
    assert run.violations == []
    assert run.wallets_checked == 4
    # per player: sign-up bonus 1 + event 4 currencies + purchase 2 + win 1 = 8 entries
    assert run.entries_checked == 8 * len(users) == LedgerEntry.objects.count()
    assert run.started_at <= run.finished_at
    assert LedgerAuditRun.objects.get() == run


def test_audit_names_the_wallet_and_currency_of_a_corrupted_balance() -> None:
    victim, bystander = busy_ledger(2)
    gold = Wallet.objects.get(pk=victim.pk).gold
    corrupt_gold(victim)

    run = ledger_audit_run()

    assert run.ok is False
    assert audit_violation_total(run) == 2
    assert {
        (v["user_id"], v["site_id"], v["currency"], v["kind"], v["expected"], v["actual"]) for v in run.violations
    } == {
        (victim.pk, victim.site_id, GOLD, "balance_mismatch", gold, gold + 7),
        (victim.pk, victim.site_id, GOLD, "latest_mismatch", gold, gold + 7),
    }
    assert all(v["user_id"] != bystander.pk for v in run.violations)


def test_audit_finds_a_broken_chain_even_when_the_sum_agrees() -> None:
    (user,) = busy_ledger(1)
    gold = Wallet.objects.get(pk=user.pk).gold
    # An entry whose balance_after does not continue the chain, and a wallet that
    # moved by its delta: the sum agrees, the chain and its end do not.
    bad = LedgerEntry.objects.create(
        wallet_id=user.pk,
        currency=GOLD,
        delta=5,
        balance_after=gold + 500,
        reason=LedgerReason.GAME_WIN,
        idempotency_key="forged",
        created_at=timezone.now(),
    )
    corrupt_gold(user, by=5)

    run = ledger_audit_run()

    kinds = {(v["kind"], v["expected"], v["actual"], v.get("entry_id")) for v in run.violations}
    assert kinds == {
        ("latest_mismatch", gold + 500, gold + 5, bad.pk),
        ("chain_break", gold + 5, gold + 500, bad.pk),
    }


def test_audit_checks_duplicates_and_negative_balances_even_without_the_database_constraints() -> None:
    """The constraints make these impossible today; the audit must not rely on them."""
    # Before any row is written (no deferred FK checks pending); DDL is transactional,
    # so the test's rollback restores both constraints.
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE economy_ledgerentry DROP CONSTRAINT ledger_unique_key_currency")
        cursor.execute("ALTER TABLE economy_wallet DROP CONSTRAINT wallet_gems_non_negative")
    (user,) = busy_ledger(1)
    gold = Wallet.objects.get(pk=user.pk).gold
    # A second entry under an existing key, continuing the chain correctly, wallet moved with it:
    # only the duplicate is wrong.
    LedgerEntry.objects.create(
        wallet_id=user.pk,
        currency=GOLD,
        delta=100,
        balance_after=gold + 100,
        reason=LedgerReason.EVENT_REWARD,
        idempotency_key="ev:0",
        created_at=timezone.now(),
    )
    corrupt_gold(user, by=100)
    Wallet.objects.filter(pk=user.pk).update(gems=-3)

    run = ledger_audit_run()

    found = {(v["kind"], v["currency"], v["expected"], v["actual"]) for v in run.violations}
    assert ("duplicate_key", GOLD, 1, 2) in found
    assert ("negative_balance", GEMS, 0, -3) in found
    assert not any(kind in {"balance_mismatch", "chain_break"} and currency == GOLD for kind, currency, _, _ in found)
    assert [v["idempotency_key"] for v in run.violations if v["kind"] == "duplicate_key"] == ["ev:0"]


def test_audit_stores_at_most_the_cap_and_counts_every_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit_module, "MAX_STORED_VIOLATIONS", 3)
    users = busy_ledger(3)
    for user in users:
        corrupt_gold(user)  # two violations each

    run = ledger_audit_run()

    assert run.ok is False
    assert len(run.violations) == 4  # three stored + the marker
    assert run.violations[-1] == {"kind": "truncated", "omitted": 3}
    assert audit_violation_total(run) == 6


def test_audit_runs_the_same_number_of_queries_for_few_and_many_wallets() -> None:
    def queries_for_audit() -> int:
        with CaptureQueriesContext(connection) as captured:
            ledger_audit_run()
        return len(captured)

    busy_ledger(2)
    few = queries_for_audit()
    for _ in range(10):
        player_with_wallet(gold=50, gems=2)
    many = queries_for_audit()

    assert few == many
    assert few <= 12


# --- the command ------------------------------------------------------------------------


def test_audit_command_on_a_clean_ledger_prints_the_summary_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    busy_ledger(2)

    call_command("audit_ledger")

    out = capsys.readouterr().out
    assert "2 wallets, 16 entries, 0 violation(s)" in out
    assert "OK" in out
    assert LedgerAuditRun.objects.get().ok is True


def test_audit_command_exits_non_zero_naming_the_corrupted_wallet_and_currency(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    victim, _ = busy_ledger(2)
    gold = Wallet.objects.get(pk=victim.pk).gold
    corrupt_gold(victim)
    # run_from_argv closes every connection when it ends; the test's transaction must survive it.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "audit_ledger"])

    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert "2 violation(s)" in captured.out
    assert (
        f"wallet {victim.pk} ({victim.site_id}) gold: balance_mismatch expected {gold}, actual {gold + 7}"
        in captured.out
    )
    assert "found 2 violation(s)" in captured.err
    assert LedgerAuditRun.objects.get().ok is False


def test_audit_command_raises_command_error_when_called_from_code() -> None:
    (victim,) = busy_ledger(1)
    corrupt_gold(victim)

    with pytest.raises(CommandError, match="violation"):
        call_command("audit_ledger")


# --- tasks ------------------------------------------------------------------------------


def test_ledger_audit_task_runs_the_audit_and_returns_a_summary() -> None:
    (victim,) = busy_ledger(1)
    assert tasks.ledger_audit.name == "economy.tasks.ledger_audit"

    clean = tasks.ledger_audit.apply().get()
    corrupt_gold(victim)
    dirty = tasks.ledger_audit.apply().get()

    assert clean["ok"] is True and clean["violations"] == 0 and clean["wallets_checked"] == 1
    assert dirty["ok"] is False and dirty["violations"] == 2
    assert LedgerAuditRun.objects.count() == 2


def claim_then_forget(user: Any, days_ago: int) -> None:
    """A streak claim paid ``days_ago`` whose day then lost its "claimed" mark."""
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=False):
        streak_claim(user=user)
    StreakDay.objects.filter(user=user).update(claimed_at=None)


def test_streak_repair_task_looks_back_seven_days_only() -> None:
    assert tasks.streak_repair.name == "economy.tasks.streak_repair"
    old, recent = busy_ledger(2)
    claim_then_forget(old, days_ago=10)
    claim_then_forget(recent, days_ago=3)

    summary = tasks.streak_repair.apply().get()

    assert summary["since"] == (timezone.now().date() - timedelta(days=7)).isoformat()
    assert (summary["claims_checked"], summary["days_repaired"]) == (1, 1)
    assert StreakDay.objects.get(user=recent).claimed_at is not None
    assert StreakDay.objects.get(user=old).claimed_at is None
    assert StreakRepairReport.objects.get(pk=summary["report_id"]).details[0]["user_id"] == recent.pk


def test_streak_repair_command_with_days_reaches_older_claims(capsys: pytest.CaptureFixture[str]) -> None:
    (user,) = busy_ledger(1)
    claim_then_forget(user, days_ago=10)

    call_command("streak_repair", "--days", "30")

    out = capsys.readouterr().out
    assert "1 claim(s) checked, 1 day(s) repaired" in out
    assert f"user {user.pk}" in out and "not marked claimed" in out
    assert StreakDay.objects.get(user=user).claimed_at is not None


def test_streak_repair_command_with_since_skips_earlier_days(capsys: pytest.CaptureFixture[str]) -> None:
    (user,) = busy_ledger(1)
    claim_then_forget(user, days_ago=10)
    since = timezone.now().date() - timedelta(days=5)

    call_command("streak_repair", "--since", since.isoformat())

    assert f"since {since.isoformat()}" in capsys.readouterr().out
    assert StreakDay.objects.get(user=user).claimed_at is None
    assert StreakRepairReport.objects.get().days_repaired == 0


def test_streak_repair_command_refuses_a_malformed_date() -> None:
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("streak_repair", "--since", "last tuesday")
    assert not StreakRepairReport.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_audit_outside_a_transaction_reads_one_snapshot_and_still_records_the_run() -> None:
    """The production path: no outer transaction, so the checks run in their own
    REPEATABLE READ, READ ONLY transaction and the run row is written after it."""
    (victim,) = busy_ledger(1)
    corrupt_gold(victim)

    with CaptureQueriesContext(connection) as captured:
        run = ledger_audit_run()

    assert any("REPEATABLE READ" in query["sql"] for query in captured.captured_queries)
    assert LedgerAuditRun.objects.get(pk=run.pk).ok is False
    assert audit_violation_total(run) == 2
