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
from economy.services.campaign_delivery import campaign_deliver
from economy.services.campaigns import (
    GRANT_CAMPAIGN,
    JOB_KIND,
    MESSAGE_JOB_KIND,
    SEND_CAMPAIGN,
    campaigns_start_due,
)
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


@shared_task(name="economy.tasks.campaigns_start", ignore_result=True)
def campaigns_start() -> dict[str, Any]:
    """Start the scheduled campaigns whose time has come (beat, every minute): each moves
    ``scheduled -> sending`` once, however many beats run, and queues its job."""
    started = campaigns_start_due()
    if started:
        logger.info("started campaign(s) %s", ", ".join(f"#{pk}" for pk in started))
    return {"started": started}


# --- Back-office jobs (casino.jobs): the economy's long admin operations ---------------------


def campaign_job(run: JobRun) -> JobOutcome:
    """A campaign's sending (``campaign_deliver``), progress written batch by batch."""
    campaign_id = int(run.params["campaign_id"])
    report = campaign_deliver(campaign_id=campaign_id, progress=run.progress, set_total=run.set_total)
    counts = report.counts
    return JobOutcome(
        result={
            "campaign_id": campaign_id,
            "status": report.status,
            "processed_now": report.processed_now,
            "missing": report.missing,
            "unknown": report.unknown,
            **counts.as_dict(),
            "links": [
                {
                    "label": f"Campaign #{campaign_id}",
                    "url": reverse("admin:economy_campaign_change", args=[campaign_id]),
                }
            ],
        },
        report=report.as_text(),
        errors=counts.failed + report.missing,
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
    # A campaign's job is seen by who may make it: with a reward, grant_campaign; without, send_campaign.
    register_job_kind(
        JobKind(name=JOB_KIND, label="Campaign with a reward", permission=GRANT_CAMPAIGN, run=campaign_job)
    )
    register_job_kind(JobKind(name=MESSAGE_JOB_KIND, label="Campaign", permission=SEND_CAMPAIGN, run=campaign_job))
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


# --- Player segments (economy.services.segments) -----------------------------------------------

SEGMENTS_JOB_KIND = "segments_compute"


@shared_task(name="economy.tasks.segments_compute")
def segments_compute() -> dict[str, Any]:
    """Every player's RFM segment (beat: nightly at ``SEGMENT_COMPUTE_HOUR``)."""
    from economy.services.segments import segments_compute as segments_compute_service

    run = segments_compute_service()
    return {"run_id": run.pk, "source": run.source, "players": run.players, "sizes": run.sizes}


def segments_compute_job(run: JobRun) -> JobOutcome:
    """The "Recompute now" job (the segment runs page, the jobs page): the nightly
    computation, its progress shown on the job's page."""
    from economy.services.segments import segments_compute as segments_compute_service

    def progress(done: int, total: int) -> None:
        if run.total != total:
            run.set_total(total)
        run.progress(done)

    lines: list[str] = []
    segment_run = segments_compute_service(progress=progress, say=lines.append)
    return JobOutcome(
        result={
            "run_id": segment_run.pk,
            "source": segment_run.source,
            "players": segment_run.players,
            "sizes": segment_run.sizes,
            "links": [
                {
                    "label": f"Segment run #{segment_run.pk}",
                    "url": reverse("admin:economy_segmentrun_change", args=[segment_run.pk]),
                }
            ],
        },
        report="\n".join(lines),
    )


def register_segment_jobs() -> None:
    """The segments' job kind (from ``EconomyConfig.ready()``)."""
    register_job_kind(
        JobKind(
            name=SEGMENTS_JOB_KIND,
            label="Recompute player segments",
            permission="economy.compute_segments",
            run=segments_compute_job,
            startable=True,
            description="Every player's RFM group, now, as the nightly run does.",
        )
    )
