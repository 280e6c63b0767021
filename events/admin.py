"""The live-ops back office, one module per subject (importing them registers the model admins):

- here: events, with their requirements, a preview of who already qualifies, and the switch;
- ``admin_participations``: players' participations in events, and the audited force-claim;
- ``admin_missions``: mission templates and players' mission instances;
- ``admin_achievements``: achievements and players' progress towards them;
- ``admin_common``: what they share (the reason box, the switch actions, the filters, the goal
  definitions' form and admin).

save_model and actions call services, one row per transaction, check their own permission and
leave an audit record.

Events change only through events.services.event_admin (permission checked again there, audited
with the event and its requirements before and after, and the reason staff give here); the
requirements are fixed once anyone joined. An event is switched off, never deleted (players'
participations and the ledger's references point at it).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import Count, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from casino.admin_tools import ServiceOwnsTransactionMixin, StaffActionsMixin, staff_view
from events import admin_achievements, admin_missions, admin_participations  # noqa: F401  (their model admins)
from events.admin_common import reason_field, switch_actions
from events.exceptions import EventRequirementsLocked, InvalidEventRequirement
from events.metric_registry import metric_choices
from events.models import Event, EventParticipation, EventRequirement
from events.selectors import PREVIEW_MAX_DAYS, event_preview, event_status, requirement_label
from events.services.event_admin import (
    CHANGE_EVENT,
    EVENT_FIELDS,
    RequirementSpec,
    event_requirements_check,
    event_save,
    event_set_active,
)

VIEW_EVENT = "events.view_event"


class EventForm(forms.ModelForm):  # type: ignore[type-arg]
    reason = reason_field("the event and its requirements")
    image_url = forms.URLField(required=False, max_length=200, assume_scheme="https")

    class Meta:
        model = Event
        fields = list(EVENT_FIELDS)
        help_texts = {
            "is_active": "Switched off: hidden from players and nobody can join (those who joined keep their "
            "progress and may claim). Create an event switched off to preview it before players see it.",
            "starts_at": "UTC. Progress counts from a player's joining, inside the window.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The event must end after it starts.")
        return cleaned


class EventRequirementForm(forms.ModelForm):  # type: ignore[type-arg]
    metric = forms.ChoiceField(choices=metric_choices, help_text="What is counted (docs/live-ops.md).")

    class Meta:
        model = EventRequirement
        fields = ["metric", "game", "target"]
        help_texts = {"game": "slot, crash, rps or gacha: only that game's rounds count (empty: any game)."}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("metric") and cleaned.get("target") is not None:
            spec = RequirementSpec(cleaned["metric"], cleaned.get("game") or "", cleaned["target"])
            try:
                event_requirements_check(requirements=[spec])
            except InvalidEventRequirement as exc:
                for message in exc.details.get("fields", {}).values():
                    self.add_error(None, message)
        return cleaned


class EventRequirementFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        event = self.instance
        if not event.pk or any(form.errors for form in self.forms):
            return
        # Compared with the rows, not has_changed(): a view-only inline (the event is locked) posts
        # no values, and Django gives its forms their initial data as cleaned data.
        current = sorted(
            RequirementSpec(metric, game, target)
            for metric, game, target in EventRequirement.objects.filter(event_id=event.pk).values_list(
                "metric", "game", "target"
            )
        )
        if sorted(self.specs()) != current and EventParticipation.objects.filter(event_id=event.pk).exists():
            raise forms.ValidationError(EventRequirementsLocked.message)

    def specs(self) -> list[RequirementSpec]:
        """The requirements the forms describe (deleted and empty rows left out)."""
        return [
            RequirementSpec(
                form.cleaned_data["metric"], form.cleaned_data.get("game") or "", form.cleaned_data["target"]
            )
            for form in self.forms
            if form.cleaned_data.get("metric") and not form.cleaned_data.get("DELETE")
        ]


class EventRequirementInline(admin.TabularInline):  # type: ignore[type-arg]
    model = EventRequirement
    form = EventRequirementForm
    formset = EventRequirementFormSet
    extra = 1
    ordering = ["id"]

    def _locked(self, obj: Event | None) -> bool:
        return obj is not None and obj.pk is not None and EventParticipation.objects.filter(event_id=obj.pk).exists()

    def get_extra(self, request: HttpRequest, obj: Event | None = None, **kwargs: Any) -> int:
        return 0 if self._locked(obj) or (obj is not None and obj.pk) else 1

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._locked(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._locked(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._locked(obj) and super().has_delete_permission(request, obj)


class EventWindowFilter(admin.SimpleListFilter):
    title = "window"
    parameter_name = "window"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("running", "Running now"), ("upcoming", "Upcoming"), ("ended", "Ended")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        now = timezone.now()
        match self.value():
            case "running":
                return queryset.filter(starts_at__lte=now, ends_at__gt=now)
            case "upcoming":
                return queryset.filter(starts_at__gt=now)
            case "ended":
                return queryset.filter(ends_at__lte=now)
        return queryset


@admin.register(Event)
class EventAdmin(ServiceOwnsTransactionMixin, StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = EventForm
    inlines = [EventRequirementInline]
    list_display = [
        "title",
        "event_type",
        "window",
        "starts_at",
        "ends_at",
        "priority",
        "is_active",
        "requirements_summary",
        "participants",
        "completed_count",
        "claimed_count",
    ]
    list_filter = ["is_active", "event_type", EventWindowFilter]
    search_fields = ["title", "description"]
    ordering = ["-priority", "-starts_at", "id"]
    actions = switch_actions(
        noun="event",
        permission=CHANGE_EVENT,
        set_active=event_set_active,
        key="event_id",
        off_note=" (hidden, no new joins)",
    )
    fieldsets = (
        (None, {"fields": ("title", "description", "event_type", "image_url", "priority", "is_active")}),
        ("Window", {"fields": ("starts_at", "ends_at")}),
        ("Reward", {"fields": ("reward_gold", "reward_gems", "reward_xp", "reward_items")}),
        ("Why", {"fields": ("reason",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                participant_count=Count("participations"),
                completed_participants=Count("participations", filter=Q(participations__completed_at__isnull=False)),
                claimed_participants=Count("participations", filter=Q(participations__claimed_at__isnull=False)),
            )
            .prefetch_related("requirements")
        )

    def get_fieldsets(self, request: HttpRequest, obj: Event | None = None) -> Any:
        if obj is None:
            return self.fieldsets
        return (
            *self.fieldsets,
            ("Players", {"fields": ("participations_link", "preview_link")}),
            ("History", {"fields": ("created_at", "updated_at")}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Event | None = None) -> Any:
        return ["participations_link", "preview_link", "created_at", "updated_at"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # switched off instead (the "deactivate" action asks why and is audited)

    @admin.display(description="window")
    def window(self, event: Event) -> str:
        return event_status(event, timezone.now())

    @admin.display(description="requirements")
    def requirements_summary(self, event: Event) -> str:
        requirements = sorted(event.requirements.all(), key=lambda r: r.pk)
        return "; ".join(requirement_label(r.metric, r.game, r.target) for r in requirements) or "-"

    @admin.display(description="joined", ordering="participant_count")
    def participants(self, event: Event) -> int:
        return int(getattr(event, "participant_count", 0))

    @admin.display(description="completed")
    def completed_count(self, event: Event) -> int:
        return int(getattr(event, "completed_participants", 0))

    @admin.display(description="claimed")
    def claimed_count(self, event: Event) -> int:
        return int(getattr(event, "claimed_participants", 0))

    @admin.display(description="participations")
    def participations_link(self, event: Event) -> SafeString:
        url = reverse("admin:events_eventparticipation_changelist") + f"?event__id__exact={event.pk}"
        return format_html(
            '<a href="{}" id="participations-link">{} joined, {} completed, {} claimed</a>',
            url,
            self.participants(event),
            self.completed_count(event),
            self.claimed_count(event),
        )

    @admin.display(description="preview")
    def preview_link(self, event: Event) -> SafeString:
        return format_html(
            '<a href="{}" id="preview-link">How many players these requirements would already match</a>',
            reverse("admin:events_event_preview", args=[event.pk]),
        )

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/preview/", self.admin_site.admin_view(self.preview_view), name="events_event_preview"
            ),
            *super().get_urls(),
        ]

    @staff_view(permission=VIEW_EVENT)
    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Who already qualifies (events.selectors.event_preview): replays the domain events of the
        last N days (the event's length) through the metric registry."""
        event = self.get_object(request, unquote(object_id))
        if event is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]  # Django's own 404 redirect
                request, self.opts, object_id
            )
        preview = event_preview(event)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview: {event}",
            "opts": self.opts,
            "original": event,
            "preview": preview,
            "days": round((preview.until - preview.since).total_seconds() / 86400),
            "max_days": PREVIEW_MAX_DAYS,
            "incomplete": preview.complete_since > preview.since,
            "change_url": reverse("admin:events_event_change", args=[event.pk]),
        }
        return TemplateResponse(request, "admin/events/event/preview.html", context)

    def save_model(self, request: HttpRequest, obj: Event, form: Any, change: bool) -> None:
        """Nothing here: the event and its requirements are saved together by ``save_related``
        (one audited service call, which needs the requirements' formset)."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        requirements: list[RequirementSpec] | None = None  # no inline (no permission to see it): unchanged
        for formset in formsets:
            if isinstance(formset, EventRequirementFormSet):
                requirements = formset.specs()
            # The service saved the rows, not formset.save(): the admin's history message reads these
            # (the audit record has the requirements before and after).
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        event_save(
            actor=request_staff(request),
            event=form.instance,
            requirements=requirements,
            reason=form.cleaned_data["reason"],
        )
