"""What economy shows on the staff dashboard (``casino.dashboard``; registered in
``economy/apps.py``): the ledger audit."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from casino.dashboard import DashboardContext, Figure
from economy.models import LedgerAuditRun

# The audit runs daily (casino/beat.py); a last run older than this means the schedule stopped.
LEDGER_AUDIT_STALE_AFTER = timedelta(hours=36)


def dashboard_ledger_audit(context: DashboardContext) -> Figure:
    """The last ledger audit: every balance equal to the sum of its entries, or how many were not."""
    run = LedgerAuditRun.objects.order_by("-started_at", "-id").first()
    if run is None:
        return Figure(
            value=None,
            text="never run",
            note="manage.py audit_ledger, or the daily task",
            url=reverse("admin:economy_ledgerauditrun_changelist"),
            tone="warn",
        )
    stale = context.now - run.finished_at > LEDGER_AUDIT_STALE_AFTER
    violations = len(run.violations)
    return Figure(
        value=run.ok,
        text="balanced" if run.ok else f"{violations:,} violation{'s' if violations != 1 else ''}",
        note=f"{run.finished_at:%Y-%m-%d %H:%M} UTC{' (stale)' if stale else ''}: "
        f"{run.wallets_checked:,} wallets, {run.entries_checked:,} entries",
        url=reverse("admin:economy_ledgerauditrun_change", args=[run.pk]),
        tone="bad" if not run.ok else "warn" if stale else "good",
    )
