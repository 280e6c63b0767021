"""Back office for player segments (``economy.services.segments``):

* **Segments**: saved filters over players (RFM groups, VIP tiers, level range, last seen,
  money spent, phone calling codes), the targets of campaigns. Created, changed and
  deleted through audited services (the model's add/change/delete permissions). The form's
  "Preview" button (``economy.preview_segment``) shows how many players the filter holds
  *as typed* and the first of them, without saving anything.
* **Segment runs**: each computation of every player's RFM group, its group sizes and
  timings, read-only; "Recompute now" (``economy.compute_segments``) runs it as a
  back-office job (``casino.jobs``), audited.
* **Player segments**: every player's current group and figures, read-only, filtered by
  group and searched by player.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import ReadOnlyAdmin, StaffActionsMixin, player_link, request_holds, staff_view
from casino.jobs import job_launch
from casino.models import AdminJob
from economy.enums import VipTier
from economy.models import PlayerSegment, RfmGroup, Segment, SegmentRun
from economy.segment_filters import parse_phone_prefixes
from economy.services.segments import (
    COMPUTE_PERMISSION,
    PREVIEW_PERMISSION,
    SEGMENT_COMPUTED_FIELDS,
    SEGMENT_FIELDS,
    SegmentPreview,
    segment_create,
    segment_delete,
    segment_preview,
    segment_update,
)
from economy.tasks import SEGMENTS_JOB_KIND

ADDED_REASON = "added in the back office (add form)"
CHANGED_REASON = "changed in the back office (change form)"
DELETED_REASON = "deleted in the back office"
RECOMPUTE_REASON = "started from the segment runs list"


# --- Saved segments ------------------------------------------------------------------------


class SegmentForm(forms.ModelForm):  # type: ignore[type-arg]  # django-stubs: ModelForm[Segment]
    rfm_groups = forms.MultipleChoiceField(
        choices=RfmGroup.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="RFM groups",
        help_text="Any of these groups (as of the last segment run); none ticked: any group.",
    )
    vip_tiers = forms.MultipleChoiceField(
        choices=VipTier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="VIP tiers",
        help_text="Any of these tiers; none ticked: any tier.",
    )

    class Meta:
        model = Segment
        fields = list(SEGMENT_FIELDS)
        help_texts = {
            "level_min": "Level at least (levels start at 1).",
            "level_max": "Level at most.",
            "total_spent_min": "Money spent ever, in minor units (cents) of SEGMENT_CURRENCY, at least.",
            "total_spent_max": "... at most. A player not yet scored counts as having spent 0.",
            "phone_prefixes": "Country calling codes, comma separated: +82, +1.",
        }

    def clean_phone_prefixes(self) -> str:
        text = str(self.cleaned_data.get("phone_prefixes") or "")
        try:
            return ", ".join(parse_phone_prefixes(text))
        except ValueError as exc:
            raise forms.ValidationError(
                f"{exc} is not a country calling code: a '+' and 1 to 3 digits (e.g. +82, +1, +44)."
            ) from exc

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        for low, high, what in (
            ("level_min", "level_max", "level"),
            ("total_spent_min", "total_spent_max", "money spent"),
        ):
            if cleaned.get(low) is not None and cleaned.get(high) is not None and cleaned[low] > cleaned[high]:
                self.add_error(high, f"The highest {what} is below the lowest.")
        if cleaned.get("level_min") == 0:
            self.add_error("level_min", "Levels start at 1.")
        for field in ("seen_within_days", "unseen_for_days"):
            if cleaned.get(field) == 0:
                self.add_error(field, "At least 1 day.")
        seen, unseen = cleaned.get("seen_within_days"), cleaned.get("unseen_for_days")
        if seen and unseen and unseen >= seen:
            self.add_error(
                "unseen_for_days",
                f"No player can be seen in the last {seen} days and not for {unseen}: "
                "make this fewer days than 'seen within'.",
            )
        return cleaned


class TargetsRfmGroupFilter(admin.SimpleListFilter):
    title = "RFM group"
    parameter_name = "rfm_group"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(group.value, str(group.label)) for group in RfmGroup]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value not in RfmGroup.values:
            return queryset
        # The JSON list as text holds the quoted value (works on PostgreSQL and SQLite).
        return queryset.filter(rfm_groups__icontains=f'"{value}"')


def segment_criteria(segment: Segment) -> str:
    """The criteria a segment sets, in words ("any player" when none)."""
    parts: list[str] = []
    if segment.rfm_groups:
        parts.append("RFM " + "/".join(str(RfmGroup(g).label) for g in segment.rfm_groups if g in RfmGroup.values))
    if segment.vip_tiers:
        parts.append("VIP " + "/".join(str(t) for t in segment.vip_tiers))
    if segment.level_min is not None or segment.level_max is not None:
        parts.append(f"level {segment.level_min or 1}-{segment.level_max if segment.level_max is not None else ''}")
    if segment.seen_within_days is not None:
        parts.append(f"seen within {segment.seen_within_days} d")
    if segment.unseen_for_days is not None:
        parts.append(f"unseen for {segment.unseen_for_days} d")
    if segment.total_spent_min is not None or segment.total_spent_max is not None:
        low = segment.total_spent_min or 0
        high = segment.total_spent_max if segment.total_spent_max is not None else ""
        parts.append(f"spent {low}-{high}")
    if segment.phone_prefixes:
        parts.append(f"phone {segment.phone_prefixes}")
    return "; ".join(parts) or "any player"


@admin.register(Segment)
class SegmentAdmin(StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    form = SegmentForm
    change_form_template = "admin/economy/segment/change_form.html"
    list_display = ["name", "criteria", "created_by", "updated_at"]
    list_filter = [TargetsRfmGroupFilter, ("updated_at", admin.DateFieldListFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["created_by"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        (
            "Who is in it (every criterion set must hold; empty ones match everyone)",
            {
                "fields": (
                    "rfm_groups",
                    "vip_tiers",
                    ("level_min", "level_max"),
                    ("seen_within_days", "unseen_for_days"),
                    ("total_spent_min", "total_spent_max"),
                    "phone_prefixes",
                )
            },
        ),
        ("History", {"fields": ("created_by", "created_at", "updated_at")}),
    )

    @admin.display(description="criteria")
    def criteria(self, segment: Segment) -> str:
        return segment_criteria(segment)

    def has_preview_permission(self, request: HttpRequest) -> bool:
        return request_holds(request, PREVIEW_PERMISSION)

    # --- writes go through the audited services ---

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        if change:
            segment_update(
                actor=request_staff(request), segment=obj, changed_fields=form.changed_data, reason=CHANGED_REASON
            )
        else:
            segment_create(actor=request_staff(request), segment=obj, reason=ADDED_REASON)

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        segment_delete(actor=request_staff(request), segment=obj, reason=DELETED_REASON)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        for segment in queryset.order_by("pk"):
            segment_delete(actor=request_staff(request), segment=segment, reason=DELETED_REASON)

    # --- "Preview": the form as typed, nothing saved ---

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {"can_preview": self.has_preview_permission(request), **(extra_context or {})}
        if request.method == "POST" and "_preview" in request.POST:
            return self.preview_view(request, object_id, form_url, context)
        return super().changeform_view(request, object_id, form_url, extra_context=context)

    @staff_view(permission=PREVIEW_PERMISSION)
    def preview_view(
        self, request: HttpRequest, object_id: str | None, form_url: str, extra_context: dict[str, Any]
    ) -> HttpResponse:
        """The change (or add) form again, with what it holds as typed: how many players
        match and the first of them. Nothing is saved; an invalid form shows its errors."""
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if object_id and obj is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]  # Django's own redirect
                request, self.opts, object_id
            )
        if obj is None and not self.has_add_permission(request):
            raise PermissionDenied
        fieldsets = self.get_fieldsets(request, obj)
        model_form = self.get_form(request, obj, change=obj is not None)
        if obj is not None and not self.has_change_permission(request, obj):
            # A read-only page: the segment as saved, whatever was posted.
            form = model_form(instance=obj)
            readonly = flatten_fieldsets(fieldsets)
            preview: SegmentPreview | None = segment_preview(actor=request_staff(request), segment=obj)
        else:
            form = model_form(request.POST, request.FILES, instance=obj)
            readonly = list(self.get_readonly_fields(request, obj))
            preview = None
            if form.is_valid():
                preview = segment_preview(actor=request_staff(request), segment=form.save(commit=False))
        admin_form = helpers.AdminForm(form, list(fieldsets), {}, readonly, model_admin=self)  # type: ignore[arg-type]
        adding = obj is None
        context = {
            **self.admin_site.each_context(request),
            "title": ("Add segment" if adding else f"Change segment: {obj}") + " (preview)",
            "subtitle": None,
            "adminform": admin_form,
            "object_id": object_id,
            "original": None if adding else obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "segment_preview": preview,
            "segment_preview_players": (
                [player_link(player) for player in preview.players] if preview is not None else []
            ),
            **extra_context,
        }
        return self.render_change_form(
            request, context, add=adding, change=not adding, obj=None if adding else obj, form_url=form_url
        )


# --- Runs and every player's group (read-only) ---------------------------------------------


def _sizes_table(run: SegmentRun) -> SafeString:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td></tr>",
        ((group.label, (run.sizes or {}).get(group.value, 0)) for group in RfmGroup),
    )
    return format_html('<table class="segment-sizes"><tbody>{}</tbody></table>', rows)


@admin.register(SegmentRun)
class SegmentRunAdmin(ReadOnlyAdmin):
    change_list_template = "admin/economy/segmentrun/change_list.html"
    list_display = ["started_at", "source", "window_days", "players", *[f"size_{g.value}" for g in RfmGroup], "took"]
    list_filter = ["source", ("started_at", admin.DateFieldListFilter)]
    date_hierarchy = "started_at"
    fields = ("started_at", "finished_at", "source", "window_days", "players", "sizes_table", "timings_text")
    readonly_fields = fields

    @admin.display(description="took")
    def took(self, run: SegmentRun) -> str:
        seconds = (run.timings or {}).get("total_seconds")
        return "-" if seconds is None else f"{float(seconds):.2f} s"

    @admin.display(description="players per RFM group")
    def sizes_table(self, run: SegmentRun) -> SafeString:
        return _sizes_table(run)

    @admin.display(description="timings")
    def timings_text(self, run: SegmentRun) -> str:
        timings = run.timings or {}
        return (
            ", ".join(f"{name.replace('_seconds', '')} {float(value):.3f} s" for name, value in timings.items()) or "-"
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"can_recompute": request_holds(request, COMPUTE_PERMISSION), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def get_urls(self) -> list[Any]:
        return [
            path("recompute/", self.admin_site.admin_view(self.recompute_view), name="economy_segmentrun_recompute"),
            *super().get_urls(),
        ]

    @staff_view(permission=COMPUTE_PERMISSION)
    def recompute_view(self, request: HttpRequest) -> HttpResponse:
        """POST only: the nightly computation now, as a back-office job (audited by
        ``job_launch``). Done already (embedded mode runs it inline): its run; still running
        on a worker: the job's page, which shows it finish."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = job_launch(actor=request_staff(request), kind=SEGMENTS_JOB_KIND, reason=RECOMPUTE_REASON)
        job.refresh_from_db()
        run_id = int((job.result or {}).get("run_id") or 0)
        if job.status == AdminJob.Status.DONE and run_id:
            self.message_user(
                request, job.report.splitlines()[-1] if job.report else "Segments recomputed.", messages.SUCCESS
            )
            return HttpResponseRedirect(reverse("admin:economy_segmentrun_change", args=[run_id]))
        if job.status == AdminJob.Status.FAILED:
            self.message_user(request, f"Recomputing the segments failed: {job.report}", messages.ERROR)
        else:
            self.message_user(request, f"Recomputing the segments as job #{job.pk}.", messages.INFO)
        return HttpResponseRedirect(reverse("admin:casino_adminjob_change", args=[job.pk]))


def _add_size_columns() -> None:
    for group in RfmGroup:

        def size(self: SegmentRunAdmin, run: SegmentRun, value: str = group.value) -> int:
            return int((run.sizes or {}).get(value, 0))

        size.short_description = str(group.label)  # type: ignore[attr-defined]
        setattr(SegmentRunAdmin, f"size_{group.value}", size)


_add_size_columns()


PLAYER_SEGMENT_COLUMNS = ("player", *SEGMENT_COMPUTED_FIELDS)  # what the nightly computation writes, by player


@admin.register(PlayerSegment)
class PlayerSegmentAdmin(ReadOnlyAdmin):
    list_display = list(PLAYER_SEGMENT_COLUMNS)
    list_filter = ["rfm_group", "recency_score", "frequency_score", "monetary_score", "source"]
    search_fields = ["user__site_id", "user__nickname"]
    list_select_related = ["user"]
    show_full_result_count = False  # one row per player: the unfiltered count is not worth a scan
    fields = (
        "player",
        "rfm_group",
        ("recency_score", "frequency_score", "monetary_score"),
        ("recency_days", "frequency", "monetary"),
        "total_spent",
        "source",
        "computed_at",
    )
    readonly_fields = list(PLAYER_SEGMENT_COLUMNS)

    @admin.display(description="player", ordering="user__nickname")
    def player(self, row: PlayerSegment) -> SafeString | str:
        return player_link(row.user)
