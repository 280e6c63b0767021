"""Back-office jobs (casino.jobs): a long admin operation runs as a Celery task, records its
progress as it goes and its outcome at the end, and the jobs page shows both; starting one
needs its kind's permission; a task delivered again never runs a finished job twice."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.tests.staff import staff_with
from casino import jobs
from casino.jobs import JobKind, JobOutcome, JobRun, job_create, job_launch, job_run
from casino.models import AdminJob, AuditLog
from casino.permissions import StaffPermissionRequired
from economy.models import LedgerAuditRun
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db

JOBS = "/admin/casino/adminjob/"


@pytest.fixture
def counting_kind(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A job kind counting to its ``params["count"]``, recording what the page would have shown
    after each item (the progress written so far)."""
    seen: dict[str, Any] = {"done_seen": [], "runs": 0}

    def count(run: JobRun) -> JobOutcome:
        seen["runs"] += 1
        total = int(run.params["count"])
        run.set_total(total)
        for item in range(1, total + 1):
            run.progress(item)
            seen["done_seen"].append(AdminJob.objects.get(pk=run.job_id).done)
        return JobOutcome(result={"counted": total}, report=f"Counted to {total}.")

    kind = JobKind(name="count", label="Count", permission="economy.run_ledger_audit", run=count, startable=True)
    monkeypatch.setitem(jobs._KINDS, "count", kind)
    return seen


def test_a_job_records_its_progress_every_few_items_and_its_outcome(counting_kind: dict[str, Any]) -> None:
    # Given a queued job of 100 items
    job = job_create(kind="count", actor=None, params={"count": 100})

    # When it runs
    status = job_run(job_id=job.pk)

    # Then its progress was written as it went, every 5 items (100 // 20), not once per item
    assert status == "done"
    seen = counting_kind["done_seen"]
    assert seen[:6] == [1, 1, 1, 1, 1, 6]
    assert seen[-1] == 100
    assert len(set(seen)) == 21  # 1, 6, 11, ..., 96 and the last
    # And the outcome is on the job
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.result, job.report) == (
        "done",
        100,
        100,
        {"counted": 100},
        "Counted to 100.",
    )
    assert job.started_at is not None and job.finished_at is not None and job.started_at <= job.finished_at


def test_a_task_delivered_again_does_not_run_a_finished_job_twice(counting_kind: dict[str, Any]) -> None:
    job = job_create(kind="count", actor=None, params={"count": 3})

    job_run(job_id=job.pk)
    job_run(job_id=job.pk)

    assert counting_kind["runs"] == 1


def test_a_failing_job_is_marked_failed_with_its_error_and_the_task_does_not_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(run: JobRun) -> JobOutcome:
        run.progress(3, 1, force=True)
        raise RuntimeError("the disk is full")

    monkeypatch.setitem(jobs._KINDS, "broken", JobKind(name="broken", label="Broken", permission="x.y", run=broken))
    job = job_create(kind="broken", actor=None, total=10)

    assert job_run(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert (job.status, job.done, job.errors, job.report) == ("failed", 3, 0, "Failed: the disk is full")
    assert job.result == {"error": "RuntimeError"}


def test_a_job_of_a_kind_nobody_registered_fails_saying_so() -> None:
    job = job_create(kind="vanished", actor=None)

    assert job_run(job_id=job.pk) == "failed"

    job.refresh_from_db()
    assert "No runner is registered for jobs of kind 'vanished'" in job.report


def test_launching_a_job_needs_its_kinds_permission_and_without_it_nothing_is_created(
    counting_kind: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    _, viewer = staff_with("casino.view_adminjob")

    with django_capture_on_commit_callbacks() as queued, pytest.raises(StaffPermissionRequired):
        job_launch(actor=viewer, kind="count", reason="testing", params={"count": 1})

    assert not AdminJob.objects.exists()
    assert not AuditLog.objects.exists()
    assert queued == []


def test_launching_a_job_audits_it_and_runs_it_on_commit(
    counting_kind: dict[str, Any], eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    _, auditor = staff_with("economy.run_ledger_audit")

    with django_capture_on_commit_callbacks(execute=True):
        job = job_launch(actor=auditor, kind="count", reason="testing", params={"count": 2})

    job.refresh_from_db()
    assert (job.status, job.created_by, job.title) == ("done", auditor, "Count")
    record = AuditLog.objects.get()
    assert (record.action, record.actor, record.target_id, record.data["kind"]) == (
        "job_launch",
        auditor,
        str(job.pk),
        "count",
    )


# --- the jobs page ----------------------------------------------------------------------------


def test_the_jobs_page_shows_progress_and_a_running_jobs_page_refreshes_itself() -> None:
    client, _ = staff_with("casino.view_adminjob", "economy.grant_campaign", "economy.run_ledger_audit")
    running = job_create(kind="reward_campaign", actor=None, title="Reward campaign #1: Spring", total=1000)
    AdminJob.objects.filter(pk=running.pk).update(status="running", done=250)
    finished = job_create(kind="ledger_audit", actor=None, total=0)
    AdminJob.objects.filter(pk=finished.pk).update(status="done", report="Ledger audit #1: OK.")

    listing = client.get(JOBS).content.decode()
    running_page = client.get(reverse("admin:casino_adminjob_change", args=[running.pk])).content.decode()
    finished_page = client.get(reverse("admin:casino_adminjob_change", args=[finished.pk])).content.decode()

    assert '<progress class="job-progress" value="250" max="1000"></progress> 250 / 1000 (25%)' in listing
    assert "casino/admin/jobs.css" in listing
    assert '<meta http-equiv="refresh" content="2">' in running_page
    assert "Reward campaign #1: Spring" in running_page
    assert 'http-equiv="refresh"' not in finished_page
    assert '<pre class="job-report">Ledger audit #1: OK.</pre>' in finished_page
    assert " style=" not in running_page + finished_page


def test_the_jobs_page_offers_to_start_only_the_jobs_the_staff_member_may_start() -> None:
    finance, _ = staff_with("casino.view_adminjob", "economy.run_ledger_audit")
    viewer, _ = staff_with("casino.view_adminjob")
    audit_url = reverse("admin:casino_adminjob_start", args=["ledger_audit"])
    rebuild_url = reverse("admin:casino_adminjob_start", args=["leaderboard_rebuild"])

    finance_page = finance.get(JOBS).content.decode()
    viewer_page = viewer.get(JOBS).content.decode()

    assert audit_url in finance_page and rebuild_url not in finance_page
    assert audit_url not in viewer_page
    # A start posted anyway is refused, and nothing runs
    assert viewer.post(audit_url).status_code == 403
    assert viewer.post(rebuild_url).status_code == 403
    assert not AdminJob.objects.exists()
    assert not LedgerAuditRun.objects.exists()
    assert staff_with("economy.run_ledger_audit")[0].get(JOBS).status_code == 403  # the page needs view_adminjob


def test_staff_start_a_ledger_audit_from_the_jobs_page_and_land_on_its_result(
    eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    player_with_wallet(gold=40)
    finance, clerk = staff_with("casino.view_adminjob", "economy.run_ledger_audit")

    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(reverse("admin:casino_adminjob_start", args=["ledger_audit"]))

    job = AdminJob.objects.get()
    run = LedgerAuditRun.objects.get()
    assert response["Location"] == reverse("admin:casino_adminjob_change", args=[job.pk])
    assert (job.kind, job.status, job.created_by, job.result["run_id"]) == ("ledger_audit", "done", clerk, run.pk)
    page = finance.get(response["Location"]).content.decode()
    assert f"Ledger audit #{run.pk}: OK, 1 wallets and 1 entries agree." in page
    assert reverse("admin:economy_ledgerauditrun_change", args=[run.pk]) in page
    assert AuditLog.objects.get(action="job_launch").actor == clerk


def test_the_leaderboard_rebuild_runs_as_a_job_for_staff_who_configure_games(
    eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    live_ops, manager = staff_with("casino.view_adminjob", "games.configure_game")

    with django_capture_on_commit_callbacks(execute=True):
        live_ops.post(reverse("admin:casino_adminjob_start", args=["leaderboard_rebuild"]))

    job = AdminJob.objects.get()
    assert (job.kind, job.status, job.created_by) == ("leaderboard_rebuild", "done", manager)
    assert job.total == job.done == job.result["boards"] > 0
    assert f"{job.total} boards rebuilt" in job.report


def test_the_wallet_lists_audit_button_with_a_worker_lands_on_the_queued_jobs_page() -> None:
    # Given Celery with a worker (not eager): the task waits in the broker
    finance, _ = staff_with("casino.view_adminjob", "economy.view_wallet", "economy.run_ledger_audit")

    response = finance.post(reverse("admin:economy_wallet_audit"))

    job = AdminJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:casino_adminjob_change", args=[job.pk])
    assert job.status == "queued"
    assert '<meta http-equiv="refresh"' in finance.get(response["Location"]).content.decode()


def test_staff_see_the_jobs_of_the_kinds_they_may_start_and_their_own() -> None:
    # Given a campaign job, a ledger audit job and a player import (whose reports may name players)
    finance, clerk = staff_with("casino.view_adminjob", "economy.run_ledger_audit")
    live_ops, _ = staff_with("casino.view_adminjob", "economy.grant_campaign")
    campaign = job_create(kind="reward_campaign", actor=None, title="Spring campaign")
    audit = job_create(kind="ledger_audit", actor=None, title="Nightly audit")
    own_import = job_create(kind="player_import", actor=clerk, title="Clerk's own import")

    # Then each sees only those they may start, and their own
    assert {job.pk for job in finance.get(JOBS).context["cl"].result_list} == {audit.pk, own_import.pk}
    assert {job.pk for job in live_ops.get(JOBS).context["cl"].result_list} == {campaign.pk}
    hidden = live_ops.get(reverse("admin:casino_adminjob_change", args=[audit.pk]))
    assert hidden.status_code == 302  # "does not exist", like any object out of reach
    assert live_ops.get(reverse("admin:casino_adminjob_change", args=[campaign.pk])).status_code == 200
