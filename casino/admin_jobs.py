"""The jobs page of the back office: every long admin operation (``casino.jobs``) with its
progress while it runs and its result when done, and buttons starting the jobs that need no
input (a ledger audit, a leaderboard rebuild), each offered only to staff holding its kind's
permission.

A job's page reloads itself every :data:`REFRESH_SECONDS` while the job is queued or running
(``<meta http-equiv="refresh">`` in the head: no script, so nothing the Content-Security-Policy
blocks); the bar is an HTML ``<progress>`` element, styled by ``casino/admin/jobs.css``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from casino.admin_tools import ReadOnlyAdmin, request_holds, require_staff_permission, staff_member, staff_view
from casino.jobs import VIEW_JOBS, job_kind, job_kinds, job_launch
from casino.models import AdminJob

REFRESH_SECONDS = 2
STARTED_FROM_JOBS_PAGE = "started from the jobs page"


def job_progress_bar(job: AdminJob) -> SafeString:
    """``<progress>`` with its numbers; without a known total the bar is indeterminate."""
    if job.status == AdminJob.Status.DONE and not job.total:
        return format_html('<progress class="job-progress" value="1" max="1"></progress> {}', "done")
    if not job.total:
        return format_html('<progress class="job-progress"></progress> {}', job.get_status_display())
    percent = min(100, job.done * 100 // job.total)
    return format_html(
        '<progress class="job-progress" value="{}" max="{}"></progress> {} / {} ({}%)',
        job.done,
        job.total,
        job.done,
        job.total,
        percent,
    )


def job_url(job: AdminJob) -> str:
    return reverse("admin:casino_adminjob_change", args=[job.pk])


class AdminJobAdmin(ReadOnlyAdmin):
    change_list_template = "admin/casino/job_list.html"
    change_form_template = "admin/casino/job_detail.html"
    list_display = ["id", "name", "status", "progress", "errors", "created_by", "created_at", "finished_at"]
    list_display_links = ["id", "name"]
    list_filter = ["status", "kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["title", "kind", "created_by__site_id"]
    list_select_related = ["created_by"]
    fields = (
        "name",
        "kind",
        "status",
        "progress",
        "errors",
        "report_text",
        "result_links",
        "result",
        "params",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields  # a tuple: shown, never edited

    @admin.display(description="job", ordering="title")
    def name(self, job: AdminJob) -> str:
        kind = job_kind(job.kind)
        return job.title or (kind.label if kind else job.kind)

    @admin.display(description="progress")
    def progress(self, job: AdminJob) -> SafeString:
        return job_progress_bar(job)

    @admin.display(description="report")
    def report_text(self, job: AdminJob) -> SafeString:
        if not job.report:
            return format_html("<p>{}</p>", "Not finished yet." if job.status != AdminJob.Status.DONE else "None.")
        return format_html('<pre class="job-report">{}</pre>', job.report)

    @admin.display(description="see also")
    def result_links(self, job: AdminJob) -> SafeString:
        links = [link for link in (job.result or {}).get("links", []) if isinstance(link, dict)]
        if not links:
            return format_html("{}", "-")
        return format_html_join(
            " | ", '<a href="{}">{}</a>', ((link.get("url", ""), link.get("label", "")) for link in links)
        )

    # --- pages ---

    def get_queryset(self, request: HttpRequest) -> QuerySet[AdminJob]:
        """A staff member sees the jobs of the kinds they may start, and their own: a job's
        report may name players (an import's rows, an audit's wallets)."""
        jobs = super().get_queryset(request)
        user = request.user
        if getattr(user, "is_superuser", False):
            return jobs
        kinds = [kind.name for kind in job_kinds() if request_holds(request, kind.permission)]
        return jobs.filter(Q(kind__in=kinds) | Q(created_by_id=getattr(user, "pk", None)))

    def get_urls(self) -> list[Any]:
        return [
            path("start/<str:kind>/", self.admin_site.admin_view(self.start_view), name="casino_adminjob_start"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        startable = [
            {"kind": kind, "url": reverse("admin:casino_adminjob_start", args=[kind.name])}
            for kind in job_kinds()
            if kind.startable and request_holds(request, kind.permission)
        ]
        return super().changelist_view(request, extra_context={"startable_jobs": startable, **(extra_context or {})})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        job = AdminJob.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        context = {
            "job": job,
            "job_unfinished": job is not None and job.status in (AdminJob.Status.QUEUED, AdminJob.Status.RUNNING),
            "refresh_seconds": REFRESH_SECONDS,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    @staff_view(permission=VIEW_JOBS)
    def start_view(self, request: HttpRequest, kind: str) -> HttpResponse:
        """POST only: start a job of ``kind`` (the service checks the kind's own permission)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        registered = job_kind(kind)
        if registered is None or not registered.startable:
            raise Http404("no such job")
        require_staff_permission(request, registered.permission)  # 403; the service checks it again
        job = job_launch(actor=staff_member(request), kind=kind, reason=STARTED_FROM_JOBS_PAGE)
        self.message_user(request, f"Started job #{job.pk}: {job.title}.", messages.SUCCESS)
        return HttpResponseRedirect(job_url(job))
