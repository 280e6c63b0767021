"""Back-office jobs: long admin operations (a campaign, a player import, a ledger audit, a
leaderboard rebuild) that run as a Celery task and record how far they got in an
:class:`~casino.models.AdminJob`, so the admin shows their progress while they run and their
result when they are done.

How a job runs:

1. An admin page calls :func:`job_launch` (a job that needs no input: the buttons of the jobs
   page) or, inside its own service's transaction, :func:`job_create` then :func:`job_enqueue`
   (a campaign creates its campaign row and its job together). The row starts ``queued``;
   the Celery task ``casino.tasks.admin_job_run(job_id)`` is queued on commit, so a rolled-back
   launch queues nothing. In embedded mode Celery is eager: the job runs right after the commit,
   inside the request.
2. The task calls :func:`job_run`: it marks the job ``running`` and calls the runner its kind
   registered with a :class:`JobRun` handle; the runner's :class:`JobOutcome` becomes the job's
   result and report (``done``), an exception its report (``failed``).
3. The runner reports progress through :meth:`JobRun.progress`, which writes one cheap
   ``UPDATE`` at most every :attr:`JobRun.every` items, not one per item.

``casino`` imports no domain app: each app registers its kinds from its ``AppConfig.ready()``
(:func:`register_job_kind`), as it does with ``realtime.registry``; a job of a kind nobody
registered fails with a report saying so.

**A job may run twice** (Celery redelivers a task whose worker died, ``task_acks_late``; a retry;
two workers given the same message): runners are idempotent per item (a campaign grants through
the ledger under one key per player), so a second run finishes what the first began and changes
nothing the first already did. A job already ``done`` is not run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from casino.models import AdminJob
from casino.permissions import staff_permission_require
from casino.services import audit_record

logger = logging.getLogger(__name__)

# The view permission of the jobs page; starting a job needs its kind's own permission.
VIEW_JOBS = "casino.view_adminjob"
# A progress UPDATE at most every this many items (fewer for small jobs, so the bar still moves).
PROGRESS_EVERY = 50
REPORT_MAX_CHARS = 20_000


@dataclass(frozen=True)
class JobOutcome:
    """What a runner hands back: ``result`` (JSON, machine-readable counts; a ``links`` list of
    ``{"label", "url"}`` is shown as links on the job's page) and ``report`` (text for staff)."""

    result: dict[str, Any]
    report: str
    errors: int = 0


class JobRun:
    """The runner's handle on its job: what to work on (:attr:`params`), and progress."""

    def __init__(self, job: AdminJob, *, every: int | None = None) -> None:
        self.job_id: int = job.pk
        self.params: dict[str, Any] = dict(job.params or {})
        self.actor_id: int | None = job.created_by_id
        self.total: int = job.total
        self.every: int = every or _progress_every(job.total)
        self._written = -1

    def set_total(self, total: int) -> None:
        """The number of items, once the runner knows it (one UPDATE)."""
        self.total = total
        self.every = _progress_every(total)
        AdminJob.objects.filter(pk=self.job_id).update(total=total)

    def progress(self, done: int, errors: int = 0, *, force: bool = False) -> None:
        """``done`` items processed so far (``errors`` of them failed). Written only every
        :attr:`every` items (or when ``force``d), as one UPDATE of its own (autocommit), so the
        admin sees it while the job runs."""
        if not force and self._written >= 0 and done - self._written < self.every and done != self.total:
            return
        job_progress(job_id=self.job_id, done=done, errors=errors)
        self._written = done


Runner = Callable[[JobRun], JobOutcome]


@dataclass(frozen=True)
class JobKind:
    """A kind of job an app can run. ``permission`` ("app_label.codename") is needed to start
    one, and to see those jobs on the jobs page (besides one's own); ``startable`` kinds need
    no input and are offered as buttons on the jobs page. A kind without ``run`` is only
    recorded: it runs in the request that made it (a small player import)."""

    name: str
    label: str
    permission: str
    run: Runner | None = field(default=None, compare=False)
    startable: bool = False
    description: str = ""


_KINDS: dict[str, JobKind] = {}


def register_job_kind(kind: JobKind) -> None:
    """Make ``kind`` runnable (from an ``AppConfig.ready()``; registering again replaces it)."""
    _KINDS[kind.name] = kind


def job_kind(name: str) -> JobKind | None:
    return _KINDS.get(name)


def job_kinds() -> list[JobKind]:
    return sorted(_KINDS.values(), key=lambda kind: kind.label)


def _progress_every(total: int) -> int:
    return max(1, min(PROGRESS_EVERY, total // 20)) if total else PROGRESS_EVERY


# --- Writes ---------------------------------------------------------------------------------


def job_create(
    *,
    kind: str,
    actor: AbstractBaseUser | None,
    title: str = "",
    params: dict[str, Any] | None = None,
    total: int = 0,
) -> AdminJob:
    """A ``queued`` job row, in the caller's transaction (a helper: it opens none)."""
    return AdminJob.objects.create(
        kind=kind,
        title=title[:255],
        params=params or {},
        total=max(0, total),
        created_by_id=getattr(actor, "pk", None),
        created_at=timezone.now(),
    )


def job_enqueue(*, job: AdminJob) -> None:
    """Queue the job's task when the caller's transaction commits (never for a rolled-back
    launch). A broker that does not answer is logged, not raised: the row stays ``queued``
    and visible, and the commit it follows is kept (design promise 9)."""
    job_id = job.pk

    def send() -> None:
        from casino.tasks import admin_job_run  # the task module imports this one

        admin_job_run.delay(job_id)

    transaction.on_commit(send, robust=True)


def job_launch(
    *,
    actor: AbstractBaseUser,
    kind: str,
    reason: str,
    title: str = "",
    params: dict[str, Any] | None = None,
    total: int = 0,
) -> AdminJob:
    """Start a job of ``kind`` for a staff member holding the kind's permission (403
    ``staff_permission_required`` otherwise): the row, an audit record and the queued task
    commit together. An entry point (the jobs page's buttons, the ledger audit button)."""
    registered = job_kind(kind)
    if registered is None:
        raise LookupError(f"no job kind {kind!r} is registered")
    staff_permission_require(actor=actor, permission=registered.permission)
    with transaction.atomic(durable=True):
        job = job_create(kind=kind, actor=actor, title=title or registered.label, params=params, total=total)
        audit_record(
            actor=actor, action="job_launch", target=job, reason=reason, data={"kind": kind, "params": job.params}
        )
        job_enqueue(job=job)
    return job


def job_start(*, job_id: int) -> AdminJob | None:
    """Mark the job ``running`` (the first start's time is kept); None when it is already
    ``done`` (a duplicate delivery of its task) or gone. One conditional UPDATE."""
    now = timezone.now()
    started = (
        AdminJob.objects.filter(pk=job_id)
        .exclude(status=AdminJob.Status.DONE)
        .update(status=AdminJob.Status.RUNNING, finished_at=None)
    )
    if not started:
        return None
    AdminJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    return AdminJob.objects.get(pk=job_id)


def job_progress(*, job_id: int, done: int, errors: int = 0) -> None:
    """Record how many items are processed (one UPDATE, autocommit: visible at once)."""
    AdminJob.objects.filter(pk=job_id).update(done=max(0, done), errors=max(0, errors))


def job_finish(*, job_id: int, result: dict[str, Any], report: str, errors: int = 0, failed: bool = False) -> None:
    """Record the outcome: ``done`` (every item processed: ``done`` becomes ``total``) or
    ``failed`` (``done`` stays where the job got)."""
    status = AdminJob.Status.FAILED if failed else AdminJob.Status.DONE
    changes: dict[str, Any] = {
        "status": status,
        "result": result,
        "report": report[:REPORT_MAX_CHARS],
        "errors": max(0, errors),
        "finished_at": timezone.now(),
    }
    jobs = AdminJob.objects.filter(pk=job_id)
    if not failed:
        total = jobs.values_list("total", flat=True).first() or 0
        changes["done"] = total
    jobs.update(**changes)


def job_run(*, job_id: int) -> str:
    """Run the job (the Celery task's body): its kind's runner, then its outcome recorded.
    Returns the job's status after it. Never raises for the runner's failure: it is recorded
    on the job (and logged) for staff to see."""
    job = job_start(job_id=job_id)
    if job is None:
        return AdminJob.Status.DONE
    kind = job_kind(job.kind)
    if kind is None or kind.run is None:
        job_finish(
            job_id=job_id, result={}, report=f"No runner is registered for jobs of kind {job.kind!r}.", failed=True
        )
        return AdminJob.Status.FAILED
    try:
        outcome = kind.run(JobRun(job))
    except Exception as exc:
        logger.exception("back-office job #%s (%s) failed", job_id, job.kind)
        job_finish(job_id=job_id, result={"error": type(exc).__name__}, report=f"Failed: {exc}", failed=True)
        return AdminJob.Status.FAILED
    job_finish(job_id=job_id, result=outcome.result, report=outcome.report, errors=outcome.errors)
    return AdminJob.Status.DONE
