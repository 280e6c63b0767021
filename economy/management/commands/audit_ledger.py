"""``manage.py audit_ledger``: prove every balance equals the sum of its entries.

Exit status 0 when the ledger is clean, 1 (``CommandError``) on any violation,
so cron, CI and deploy checks can rely on it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from economy.services.audit import audit_violation_line, audit_violation_total, ledger_audit_run


class Command(BaseCommand):
    help = "Check that every wallet balance equals the sum of its ledger entries; record a LedgerAuditRun."

    def handle(self, *args: Any, **options: Any) -> None:
        run = ledger_audit_run()
        total = audit_violation_total(run)
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            f"Ledger audit #{run.pk} at {run.started_at:%Y-%m-%d %H:%M:%S} UTC ({seconds:.2f} s): "
            f"{run.wallets_checked} wallets, {run.entries_checked} entries, {total} violation(s)."
        )
        for violation in run.violations:
            self.stdout.write(f"  {audit_violation_line(violation)}")
        if total:
            raise CommandError(f"ledger audit #{run.pk} found {total} violation(s)")
        self.stdout.write(self.style.SUCCESS("OK: every balance equals the sum of its entries."))
