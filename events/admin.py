"""Back office of events/: events (with requirements, participations, force-claim, a preview of
who already qualifies), mission templates, achievements. save_model and actions call services,
one row per transaction, check their own permission and leave an audit record."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import csrf_protect_m
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
from casino.admin_tools import ReadOnlyAdmin, StaffActionsMixin, action_with_reason, player_link, staff_view
from casino.permissions import staff_permission_require
from events.exceptions import EventRequirementsLocked, InvalidEventRequirement, InvalidMissionTemplate
from events.metric_registry import metric_choices
from events.models import (
    Event,
    EventParticipation,
    EventProgress,
    EventRequirement,
    MissionProgress,
    MissionTemplate,
)
from events.selectors import PREVIEW_MAX_DAYS, event_preview, event_status, requirement_key, requirement_label
from events.services.event_admin import (
    CHANGE_EVENT,
    EVENT_FIELDS,
    FORCE_CLAIM_EVENT,
    RequirementSpec,
    event_requirements_check,
    event_save,
    event_set_active,
)
from events.services.events import event_force_claim
from events.services.missions import (
    CHANGE_TEMPLATE,
    FIXED_AFTER_CREATE,
    TEMPLATE_FIELDS,
    mission_template_check,
    mission_template_create,
    mission_template_set_active,
    mission_template_update,
)

# --- events --------------------------------------------------------------------------------------
#
# Events change only through events.services.event_admin (permission checked again there, audited
# with the event and its requirements before and after, and the reason staff give here); the
# requirements are fixed once anyone joined. An event is switched off, never deleted (players'
# participations and the ledger's references point at it). Participations are read-only, except
# the audited force-claim (events.force_claim_event), which pays exactly like the player's claim.

VIEW_EVENT = "events.view_event"
VIEW_USER = "accounts.view_user"


class EventForm(forms.ModelForm):  # type: ignore[type-arg]
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the audit log with the event and its requirements before and after.",
    )
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


def _switch_event(on: bool) -> Any:
    def service(request: HttpRequest, event: Event, reason: str) -> bool:
        return event_set_active(actor=request_staff(request), event_id=event.pk, is_active=on, reason=reason)

    return action_with_reason(
        name="activate_events" if on else "deactivate_events",
        description="Activate the selected events" if on else "Deactivate the selected events (hidden, no new joins)",
        permission=CHANGE_EVENT,
        service=service,
        success=f"{'Activated' if on else 'Deactivated'} {{count}} event(s).",
    )


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
class EventAdmin(StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
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
    actions = [_switch_event(True), _switch_event(False)]
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

    @csrf_protect_m
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The service owns its (durable) transaction: Django's wrapper around the form is left out.
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

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


class _ParticipationDoneFilter(admin.SimpleListFilter):
    column = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.column}__isnull": self.value() == "no"})
        return queryset


class ParticipationCompletedFilter(_ParticipationDoneFilter):
    title = "completed"
    parameter_name = "completed"
    column = "completed_at"


class ParticipationClaimedFilter(_ParticipationDoneFilter):
    title = "claimed"
    parameter_name = "claimed"
    column = "claimed_at"


class EventProgressInline(admin.TabularInline):  # type: ignore[type-arg]
    model = EventProgress
    fields = readonly_fields = ("metric", "game", "value", "target")
    extra = 0
    can_delete = False
    ordering = ["id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _force_claim(request: HttpRequest, participation: EventParticipation, reason: str) -> None:
    actor = request_staff(request)
    staff_permission_require(actor=actor, permission=FORCE_CLAIM_EVENT)  # event_force_claim trusts its caller
    result = event_force_claim(
        actor=actor, user_id=participation.user_id, event_id=participation.event_id, reason=reason
    )
    if result.claimed_now:
        paid = ", ".join([*(f"{amount} {currency}" for currency, amount in result.rewards.items()), *result.items])
        messages.success(
            request, f"{participation.user} in {participation.event}: paid {paid or 'nothing (no reward)'}."
        )
    else:
        claimed_at = result.participation.claimed_at
        messages.info(
            request,
            f"{participation.user} in {participation.event}: already claimed"
            f"{f' on {claimed_at:%Y-%m-%d %H:%M} UTC' if claimed_at else ''}; nothing paid now.",
        )


@admin.register(EventParticipation)
class EventParticipationAdmin(ReadOnlyAdmin):
    list_display = [
        "event",
        "player",
        "joined_at",
        "progress_summary",
        "completed",
        "claimed",
        "progress_version",
    ]
    list_filter = [ParticipationCompletedFilter, ParticipationClaimedFilter, "event"]
    search_fields = ["user__nickname", "user__site_id", "event__title"]
    search_help_text = "A player's nickname or site id, or an event's title."
    list_select_related = ["event", "user"]
    ordering = ["-joined_at", "-id"]
    fields = readonly_fields = ("event", "player", "joined_at", "progress_version", "completed_at", "claimed_at")
    inlines = [EventProgressInline]
    show_full_result_count = False
    actions = [
        action_with_reason(
            name="force_claim",
            description="Force-claim the reward for the selected players (paid once, audited)",
            permission=FORCE_CLAIM_EVENT,
            service=_force_claim,
            success="Force-claim done for {count} participation(s).",
        )
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EventParticipation]:
        return super().get_queryset(request).prefetch_related("progress")

    @admin.display(description="player", ordering="user__nickname")
    def player(self, participation: EventParticipation) -> SafeString | str:
        return player_link(participation.user)

    @admin.display(description="progress")
    def progress_summary(self, participation: EventParticipation) -> str:
        rows = sorted(participation.progress.all(), key=lambda row: row.pk)
        return "; ".join(f"{requirement_key(row.metric, row.game)} {row.value}/{row.target}" for row in rows) or "-"

    @admin.display(description="completed", boolean=True, ordering="completed_at")
    def completed(self, participation: EventParticipation) -> bool:
        return participation.completed_at is not None

    @admin.display(description="claimed", boolean=True, ordering="claimed_at")
    def claimed(self, participation: EventParticipation) -> bool:
        return participation.claimed_at is not None


# --- missions ------------------------------------------------------------------------------------
#
# Templates change only through events.services.missions (permission checked again there, audited
# with the columns before and after and the reason staff give here). A template is switched off,
# never deleted (players' instances and the ledger's references point at it); its code, period,
# metric and game are fixed once it exists. Players' instances are read-only: progress comes from
# what players do.


class MissionTemplateForm(forms.ModelForm):  # type: ignore[type-arg]
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the audit log with the template before and after.",
    )

    class Meta:
        model = MissionTemplate
        fields = list(TEMPLATE_FIELDS)
        help_texts = {
            "code": "A stable slug, e.g. daily-play-10 (fixed once created).",
            "game": "slot, crash, rps or gacha: only that game's rounds count (empty: any game; only for "
            "per-game metrics). Fixed once created.",
            "period": "Daily: the UTC day. Weekly: the ISO week, Monday to Sunday (UTC). Fixed once created.",
            "target": "A new target applies from the next period (an instance keeps the target it began with).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "metric" in self.fields:  # a new template (the metric is read-only afterwards)
            self.fields["metric"] = forms.ChoiceField(
                choices=metric_choices, help_text="What is counted (docs/live-ops.md lists the metrics)."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = {name: cleaned.get(name, getattr(self.instance, name)) for name in TEMPLATE_FIELDS}
        try:
            mission_template_check(values)
        except InvalidMissionTemplate as exc:
            for name, message in exc.details.get("fields", {}).items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, message)
                elif name not in self.fields:
                    self.add_error(None, f"{name}: {message}")
        return cleaned


def _switch_mission(on: bool) -> Any:
    def service(request: HttpRequest, template: MissionTemplate, reason: str) -> MissionTemplate:
        return mission_template_set_active(
            actor=request_staff(request), template_id=template.pk, is_active=on, reason=reason
        )

    return action_with_reason(
        name="activate_missions" if on else "deactivate_missions",
        description="Activate the selected missions" if on else "Deactivate the selected missions",
        permission=CHANGE_TEMPLATE,
        service=service,
        success=f"{'Activated' if on else 'Deactivated'} {{count}} mission(s).",
    )


@admin.register(MissionTemplate)
class MissionTemplateAdmin(StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = MissionTemplateForm
    list_display = [
        "code",
        "title",
        "period",
        "metric",
        "game",
        "target",
        "rewards",
        "category",
        "sort_order",
        "is_active",
    ]
    list_filter = ["period", "category", "is_active", "metric"]
    search_fields = ["code", "title", "description", "category"]
    ordering = ["period", "sort_order", "id"]
    actions = [_switch_mission(True), _switch_mission(False)]
    fieldsets = (
        (None, {"fields": ("code", "title", "description", "category", "icon", "sort_order", "is_active")}),
        ("What counts", {"fields": ("period", "metric", "game", "target")}),
        ("Reward", {"fields": ("reward_gold", "reward_gems", "reward_xp", "reward_items")}),
        ("Why", {"fields": ("reason",)}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: MissionTemplate | None = None) -> Any:
        if obj is None:
            return self.fieldsets
        return (*self.fieldsets, ("History", {"fields": ("created_at", "updated_at")}))

    def get_readonly_fields(self, request: HttpRequest, obj: MissionTemplate | None = None) -> Any:
        return [*FIXED_AFTER_CREATE, "created_at", "updated_at"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # switched off instead (the "deactivate" action asks why and is audited)

    @admin.display(description="reward")
    def rewards(self, template: MissionTemplate) -> str:
        parts = [f"{amount} {currency}" for currency, amount in template.reward_bundle.items()]
        parts += [str(item) for item in template.reward_items]
        return ", ".join(parts) or "-"

    @csrf_protect_m
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The services own their (durable) transaction: Django's wrapper around the form is left out.
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: MissionTemplate, form: Any, change: bool) -> None:
        actor = request_staff(request)
        reason = form.cleaned_data["reason"]
        if not change:
            values = {name: form.cleaned_data[name] for name in TEMPLATE_FIELDS if name in form.cleaned_data}
            created = mission_template_create(actor=actor, values=values, reason=reason)
            # The admin goes on with ``obj`` (history entry, redirect): make it the row created.
            obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
            obj._state.adding, obj._state.db = False, created._state.db
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in TEMPLATE_FIELDS}
        if changes:
            mission_template_update(actor=actor, template_id=obj.pk, changes=changes, reason=reason)


class _DoneFilter(admin.SimpleListFilter):
    column = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.column}__isnull": self.value() == "no"})
        return queryset


class MissionCompletedFilter(_DoneFilter):
    title = "completed"
    parameter_name = "completed"
    column = "completed_at"


class MissionClaimedFilter(_DoneFilter):
    title = "claimed"
    parameter_name = "claimed"
    column = "claimed_at"


@admin.register(MissionProgress)
class MissionProgressAdmin(ReadOnlyAdmin):
    list_display = ["period_start", "player", "template", "progress", "completed_at", "claimed_at", "updated_at"]
    list_filter = ["template__period", MissionCompletedFilter, MissionClaimedFilter, "template"]
    search_fields = ["user__nickname", "user__site_id", "template__code", "template__title"]
    search_help_text = "A player's nickname or site id, or a mission's code or title."
    list_select_related = ["user", "template"]
    date_hierarchy = "period_start"
    ordering = ["-period_start", "-id"]
    show_full_result_count = False  # one row per player, mission and period: the table grows fast

    @admin.display(description="player", ordering="user__nickname")
    def player(self, instance: MissionProgress) -> SafeString | str:
        return player_link(instance.user)

    @admin.display(description="progress")
    def progress(self, instance: MissionProgress) -> str:
        return f"{instance.value}/{instance.target}"


# --- achievements --------------------------------------------------------------------------------
#
# Achievements change only through events.services.achievements (permission checked again there,
# audited with the columns before and after and the reason staff give here). An achievement is
# switched off, never deleted (players' progress and the ledger's references point at it); its
# code, metric and game are fixed once it exists; a new threshold applies to every player who has
# not unlocked it yet. Players' progress is read-only: it comes from what players do.

from events.exceptions import InvalidAchievement  # noqa: E402
from events.models import Achievement, AchievementProgress  # noqa: E402
from events.services.achievements import (  # noqa: E402
    ACHIEVEMENT_FIELDS,
    CHANGE_ACHIEVEMENT,
    achievement_check,
    achievement_create,
    achievement_set_active,
    achievement_update,
)
from events.services.achievements import FIXED_AFTER_CREATE as ACHIEVEMENT_FIXED_AFTER_CREATE  # noqa: E402


class AchievementForm(forms.ModelForm):  # type: ignore[type-arg]
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why: kept in the audit log with the achievement before and after.",
    )

    class Meta:
        model = Achievement
        fields = list(ACHIEVEMENT_FIELDS)
        help_texts = {
            "code": "A stable slug, e.g. first-spin (fixed once created).",
            "game": "slot, crash, rps or gacha: only that game's rounds count (empty: any game; only for "
            "per-game metrics). Fixed once created.",
            "threshold": "The metric's value that unlocks it. A new threshold applies to every player who has not "
            "unlocked it yet (lowered below a player's value: it unlocks at their next counted action).",
            "is_hidden": "A secret: listed to a player only once they unlocked it (others see only how many "
            "secrets remain).",
            "is_active": "Switched off: no longer counted nor listed (players who unlocked it keep it).",
            "reward_items": 'Gacha item codes put in the inventory on unlock, e.g. ["lucky-horseshoe"] (an unknown '
            "code is skipped; an item already owned counts as a duplicate, unpaid).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "metric" in self.fields:  # a new achievement (the metric is read-only afterwards)
            self.fields["metric"] = forms.ChoiceField(
                choices=metric_choices, help_text="What is counted (docs/live-ops.md lists the metrics)."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = {name: cleaned.get(name, getattr(self.instance, name)) for name in ACHIEVEMENT_FIELDS}
        try:
            achievement_check(values)
        except InvalidAchievement as exc:
            for name, message in exc.details.get("fields", {}).items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, message)
                elif name not in self.fields:
                    self.add_error(None, f"{name}: {message}")
        return cleaned


def _switch_achievement(on: bool) -> Any:
    def service(request: HttpRequest, achievement: Achievement, reason: str) -> Achievement:
        return achievement_set_active(
            actor=request_staff(request), achievement_id=achievement.pk, is_active=on, reason=reason
        )

    return action_with_reason(
        name="activate_achievements" if on else "deactivate_achievements",
        description="Activate the selected achievements"
        if on
        else "Deactivate the selected achievements (no longer counted nor listed)",
        permission=CHANGE_ACHIEVEMENT,
        service=service,
        success=f"{'Activated' if on else 'Deactivated'} {{count}} achievement(s).",
    )


@admin.register(Achievement)
class AchievementAdmin(StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    form = AchievementForm
    list_display = [
        "code",
        "title",
        "metric",
        "game",
        "threshold",
        "rewards",
        "is_hidden",
        "is_active",
        "sort_order",
        "unlocked_count",
    ]
    list_filter = ["is_active", "is_hidden", "metric"]
    search_fields = ["code", "title", "description"]
    ordering = ["sort_order", "id"]
    actions = [_switch_achievement(True), _switch_achievement(False)]
    fieldsets = (
        (None, {"fields": ("code", "title", "description", "icon", "sort_order", "is_hidden", "is_active")}),
        ("What counts", {"fields": ("metric", "game", "threshold")}),
        ("Reward", {"fields": ("reward_gold", "reward_gems", "reward_xp", "reward_items")}),
        ("Why", {"fields": ("reason",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Achievement]:
        return (
            super()
            .get_queryset(request)
            .annotate(unlocked_players=Count("progress", filter=Q(progress__unlocked_at__isnull=False)))
        )

    def get_fieldsets(self, request: HttpRequest, obj: Achievement | None = None) -> Any:
        if obj is None:
            return self.fieldsets
        return (
            *self.fieldsets,
            ("Players", {"fields": ("progress_link",)}),
            ("History", {"fields": ("created_at", "updated_at")}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Achievement | None = None) -> Any:
        return [*ACHIEVEMENT_FIXED_AFTER_CREATE, "progress_link", "created_at", "updated_at"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # switched off instead (the "deactivate" action asks why and is audited)

    @admin.display(description="reward")
    def rewards(self, achievement: Achievement) -> str:
        parts = [f"{amount} {currency}" for currency, amount in achievement.reward_bundle.items()]
        parts += [str(item) for item in achievement.reward_items]
        return ", ".join(parts) or "-"

    @admin.display(description="unlocked by", ordering="unlocked_players")
    def unlocked_count(self, achievement: Achievement) -> int:
        return int(getattr(achievement, "unlocked_players", 0))

    @admin.display(description="progress")
    def progress_link(self, achievement: Achievement) -> SafeString:
        url = reverse("admin:events_achievementprogress_changelist") + f"?achievement__id__exact={achievement.pk}"
        return format_html('<a href="{}">{} player(s) unlocked it</a>', url, self.unlocked_count(achievement))

    @csrf_protect_m
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The services own their (durable) transaction: Django's wrapper around the form is left out.
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Achievement, form: Any, change: bool) -> None:
        actor = request_staff(request)
        reason = form.cleaned_data["reason"]
        if not change:
            values = {name: form.cleaned_data[name] for name in ACHIEVEMENT_FIELDS if name in form.cleaned_data}
            created = achievement_create(actor=actor, values=values, reason=reason)
            # The admin goes on with ``obj`` (history entry, redirect): make it the row created.
            obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
            obj._state.adding, obj._state.db = False, created._state.db
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in ACHIEVEMENT_FIELDS}
        if changes:
            achievement_update(actor=actor, achievement_id=obj.pk, changes=changes, reason=reason)


class AchievementUnlockedFilter(_DoneFilter):
    title = "unlocked"
    parameter_name = "unlocked"
    column = "unlocked_at"


@admin.register(AchievementProgress)
class AchievementProgressAdmin(ReadOnlyAdmin):
    list_display = ["achievement", "player", "progress", "unlocked_at", "updated_at"]
    list_filter = [AchievementUnlockedFilter, "achievement"]
    search_fields = ["user__nickname", "user__site_id", "achievement__code", "achievement__title"]
    search_help_text = "A player's nickname or site id, or an achievement's code or title."
    list_select_related = ["user", "achievement"]
    ordering = ["-updated_at", "-id"]
    show_full_result_count = False  # one row per player and achievement: the table grows fast

    @admin.display(description="player", ordering="user__nickname")
    def player(self, progress: AchievementProgress) -> SafeString | str:
        return player_link(progress.user)

    @admin.display(description="progress")
    def progress(self, progress: AchievementProgress) -> str:
        return f"{progress.value}/{progress.target}"
