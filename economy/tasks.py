"""Celery entry points of the economy: each calls the same service as its
management command (scheduled by ``CELERY_BEAT_SCHEDULE``)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import shared_task
from django.urls import reverse

from casino.jobs import JobKind, JobOutcome, JobRun, register_job_kind
from economy.services.audit import audit_violation_line, audit_violation_total, ledger_audit_run
from economy.services.campaigns import GRANT_CAMPAIGN, campaign_run
from economy.services.campaigns import JOB_KIND as CAMPAIGN_JOB_KIND
from economy.services.streak import streak_repair as streak_repair_service
from economy.streaks import utc_today

logger = logging.getLogger(__name__)

STREAK_REPAIR_DAYS = 7
LEDGER_AUDIT_JOB_KIND = "ledger_audit"


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


# --- Back-office jobs (casino.jobs): the economy's long admin operations ---------------------


def reward_campaign_job(run: JobRun) -> JobOutcome:
    """A reward campaign's grants (``campaign_run``), progress written as it goes."""
    campaign_id = int(run.params["campaign_id"])
    report = campaign_run(campaign_id=campaign_id, progress=run.progress)
    return JobOutcome(
        result={
            "campaign_id": campaign_id,
            "players": report.players,
            "granted_now": report.granted_now,
            "already_granted": report.already_granted,
            "unknown": report.unknown,
            "missing": report.missing,
            "failed": report.failed,
            "paid_total": report.paid_total,
            "links": [
                {
                    "label": f"Reward campaign #{campaign_id}",
                    "url": reverse("admin:economy_rewardcampaign_change", args=[campaign_id]),
                }
            ],
        },
        report=report.as_text(),
        errors=report.failed + report.missing,
    )


def ledger_audit_job(run: JobRun) -> JobOutcome:
    """The ledger audit of the jobs page and the wallet list's button (``ledger_audit_run``)."""
    audit = ledger_audit_run()
    violations = audit_violation_total(audit)
    if violations:
        logger.error("ledger audit #%s found %s violation(s)", audit.pk, violations)
        report = (
            f"Ledger audit #{audit.pk}: {violations} violation(s) in {audit.wallets_checked} wallets / "
            f"{audit.entries_checked} entries.\n" + "\n".join(audit_violation_line(v) for v in audit.violations[:50])
        )
    else:
        report = (
            f"Ledger audit #{audit.pk}: OK, {audit.wallets_checked} wallets and {audit.entries_checked} entries agree."
        )
    return JobOutcome(
        result={
            "run_id": audit.pk,
            "ok": audit.ok,
            "wallets_checked": audit.wallets_checked,
            "entries_checked": audit.entries_checked,
            "violations": violations,
            "links": [
                {
                    "label": f"Ledger audit #{audit.pk}",
                    "url": reverse("admin:economy_ledgerauditrun_change", args=[audit.pk]),
                }
            ],
        },
        report=report,
    )


def register_admin_jobs() -> None:
    """The economy's job kinds (from ``EconomyConfig.ready()``)."""
    register_job_kind(
        JobKind(
            name=CAMPAIGN_JOB_KIND,
            label="Reward campaign",
            permission=GRANT_CAMPAIGN,
            run=reward_campaign_job,
        )
    )
    register_job_kind(
        JobKind(
            name=LEDGER_AUDIT_JOB_KIND,
            label="Run a ledger audit",
            permission="economy.run_ledger_audit",
            run=ledger_audit_job,
            startable=True,
            description="Every balance against the sum of its ledger entries.",
        )
    )
