"""Celery entry points of the economy: each calls the same service as its
management command (scheduled by ``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task

from economy.services.audit import audit_violation_total, ledger_audit_run
from economy.services.streak import streak_repair as streak_repair_service
from economy.streaks import utc_today

logger = logging.getLogger(__name__)

STREAK_REPAIR_DAYS = 7


@shared_task(name="economy.tasks.ledger_audit")
def ledger_audit() -> dict[str, Any]:
    run = ledger_audit_run()
    violations = audit_violation_total(run)
    if violations:
        # An error log is what alerting watches; the details are on the run (admin).
        logger.error("ledger audit #%s found %s violation(s)", run.pk, violations)
    return {
        "run_id": run.pk,
        "ok": run.ok,
        "wallets_checked": run.wallets_checked,
        "entries_checked": run.entries_checked,
        "violations": violations,
    }


@shared_task(name="economy.tasks.streak_repair")
def streak_repair() -> dict[str, Any]:
    """Repair from :data:`STREAK_REPAIR_DAYS` UTC days ago up to today."""
    since = utc_today() - timedelta(days=STREAK_REPAIR_DAYS)
    report = streak_repair_service(since=since)
    return {
        "report_id": report.pk,
        "since": since.isoformat(),
        "claims_checked": report.claims_checked,
        "days_repaired": report.days_repaired,
        "streaks_recounted": report.streaks_recounted,
    }
