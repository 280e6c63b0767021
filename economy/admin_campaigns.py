"""Back office for campaigns: a message (in-app, Web Push, email) and/or a reward bundle to a
target, now or at a set time (``economy.services.campaigns``).

* "New campaign…" on the campaign list (``economy.send_campaign``; a reward also needs
  ``economy.grant_campaign``): title, message, channels, reward, target (all active players,
  a saved segment, an uploaded or pasted list of ids), when (now, at a time, or a draft), and
  "Preview" to see how many players the target names before creating anything.
* The player list's action "Grant a reward bundle to the selected players…"
  (``economy.grant_campaign``) on the selection or, with "select all", the whole filtered
  list: a campaign with a reward, and optionally a message.
* On the list, "Cancel the selected campaigns" (draft or scheduled only, with a reason); on a
  campaign's page, "Schedule…" for a draft or scheduled one, the delivery counts (one
  aggregate query) and the job's progress while it sends.

The player list's admin belongs to ``accounts``, which may not import the economy: the action
is added to it from here, through ``admin.site`` (:func:`offer_on_player_list`), never by
importing another app's admin module.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.contrib.admin.utils import unquote
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from accounts.models import User
from casino.admin_tools import ReadOnlyAdmin, action_with_reason, request_holds, staff_action, staff_view
from casino.errors import ApplicationError
from economy.admin_campaign_forms import CHANNEL_CHOICES, CampaignBundleForm, CampaignForm, ScheduleForm
from economy.models import Campaign
from economy.services.campaign_delivery import CampaignCounts, campaign_counts
from economy.services.campaigns import (
    GRANT_CAMPAIGN,
    SEND_CAMPAIGN,
    campaign_audience_count,
    campaign_cancel,
    campaign_create,
    campaign_schedule,
    campaign_targets_resolve,
)

SHOWN_UNKNOWN = 100


def _job_page(campaign: Campaign) -> str:
    return reverse("admin:casino_adminjob_change", args=[campaign.job_id])


def _campaign_page(campaign: Campaign) -> str:
    return reverse("admin:economy_campaign_change", args=[campaign.pk])


def _created(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, campaign: Campaign) -> HttpResponse:
    """Where staff land: the job's page for a campaign sending now, the campaign's otherwise."""
    players = f" for {len(campaign.user_ids)} player(s)" if campaign.user_ids else ""
    unknown = f" ({campaign.unknown_count} id(s) unknown)" if campaign.unknown_count else ""
    if campaign.status == Campaign.Status.SENDING and campaign.job_id is not None:
        modeladmin.message_user(
            request,
            f"Campaign #{campaign.pk} started{players}{unknown}: its progress and report are on this page.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(_job_page(campaign))
    if campaign.status == Campaign.Status.DRAFT:
        said = f"Campaign #{campaign.pk} saved as a draft{players}{unknown}."
    else:
        when = timezone.localtime(campaign.scheduled_at).strftime("%Y-%m-%d %H:%M %Z") if campaign.scheduled_at else ""
        said = f"Campaign #{campaign.pk} scheduled for {when}{players}{unknown}."
    modeladmin.message_user(request, said, messages.SUCCESS)
    return HttpResponseRedirect(_campaign_page(campaign))


class ChannelFilter(admin.SimpleListFilter):
    title = "channel"
    parameter_name = "channel"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*CHANNEL_CHOICES, ("reward", "With a reward"), ("reward_only", "Reward only (no message)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> QuerySet[Campaign]:
        value = self.value()
        rewards = Q(gold__gt=0) | Q(gems__gt=0) | Q(xp__gt=0)
        if value in ("in_app", "push", "email"):
            return queryset.filter(**{value: True})
        if value == "reward":
            return queryset.filter(rewards)
        if value == "reward_only":
            return queryset.filter(rewards, in_app=False, push=False, email=False)
        return queryset


def _cancel(request: HttpRequest, campaign: Campaign, reason: str) -> Campaign:
    return campaign_cancel(actor=request_staff(request), campaign_id=campaign.pk, reason=reason)


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    change_list_template = "admin/economy/campaign/change_list.html"
    change_form_template = "admin/economy/campaign/change_form.html"
    list_display = [
        "id",
        "title",
        "channels_text",
        "bundle_text",
        "target_text",
        "status",
        "scheduled_at",
        "targeted",
        "job_link",
        "created_by",
        "created_at",
    ]
    list_display_links = ["id", "title"]
    list_filter = ["status", ChannelFilter, "target", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["title", "message", "reason", "target_description"]
    list_select_related = ["created_by", "job", "segment"]
    actions = [
        action_with_reason(
            name="cancel_campaigns",
            description="Cancel the selected campaigns (draft or scheduled)",
            permission=SEND_CAMPAIGN,
            service=_cancel,
            success="Cancelled {count} campaign(s).",
        )
    ]
    fields = (
        "title",
        "message",
        "channels_text",
        "bundle_text",
        "reason",
        "target_text",
        "audience_now",
        "unknown",
        "status",
        "scheduled_at",
        "delivery",
        "progress",
        "job_link",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "cancelled_by",
        "cancelled_at",
    )
    readonly_fields = fields  # a tuple: shown, never edited

    @admin.display(description="channels")
    def channels_text(self, campaign: Campaign) -> str:
        labels = dict(CHANNEL_CHOICES)
        return ", ".join(labels[channel] for channel in campaign.channels) or "none (a reward grant)"

    @admin.display(description="reward")
    def bundle_text(self, campaign: Campaign) -> str:
        return ", ".join(f"{amount} {currency}" for currency, amount in campaign.bundle.items()) or "none"

    @admin.display(description="target")
    def target_text(self, campaign: Campaign) -> str:
        if campaign.target == Campaign.Target.SEGMENT:
            name = campaign.segment.name if campaign.segment is not None else "(deleted)"
            return f"segment {name}"
        return campaign.target_description or campaign.get_target_display()

    @admin.display(description="players in the target now")
    def audience_now(self, campaign: Campaign) -> str:
        if campaign.targeted is not None:
            return f"{campaign.targeted} when it started sending (see the delivery)"
        if campaign.status == Campaign.Status.CANCELLED:
            return "-"
        if campaign.target == Campaign.Target.SEGMENT and campaign.segment is None:
            return "the segment was deleted"
        count = campaign_audience_count(
            target=campaign.target, segment=campaign.segment, user_ids=campaign.user_ids or []
        )
        return f"{count} (counted now; frozen when it starts sending)"

    @admin.display(description="unknown ids")
    def unknown(self, campaign: Campaign) -> str:
        if not campaign.unknown_count:
            return "none"
        shown = ", ".join(str(value) for value in (campaign.unknown_ids or [])[:SHOWN_UNKNOWN])
        more = campaign.unknown_count - min(SHOWN_UNKNOWN, len(campaign.unknown_ids or []))
        return f"{campaign.unknown_count}: {shown}" + (f" and {more} more" if more > 0 else "")

    def _counts(self, campaign: Campaign) -> CampaignCounts:
        cached: CampaignCounts | None = getattr(campaign, "_delivery_counts", None)
        if cached is None:
            cached = campaign_counts(campaign.pk)
            campaign._delivery_counts = cached  # type: ignore[attr-defined]  # one query per page
        return cached

    @admin.display(description="delivery")
    def delivery(self, campaign: Campaign) -> SafeString | str:
        if campaign.targeted is None:
            return "not started"
        counts = self._counts(campaign)
        rows: list[tuple[str, str, Any]] = [
            ("targeted", "players targeted", counts.targeted),
            ("processed", "players done", counts.processed),
        ]
        if campaign.in_app:
            rows.append(("in_app", "in-app", f"{counts.in_app_sent} sent, {counts.in_app_opted_out} opted out"))
        if campaign.push:
            rows.append(
                (
                    "push",
                    "web push",
                    f"{counts.push_sent} sent, {counts.push_opted_out} opted out, "
                    f"{counts.push_no_device} without a subscription",
                )
            )
        if campaign.email:
            rows.append(
                (
                    "email",
                    "email",
                    f"{counts.email_sent} sent, {counts.email_opted_out} opted out, {counts.email_no_email} "
                    f"without an address, {counts.email_failed} failed, {counts.email_unconfirmed} unconfirmed"
                    + (f", {counts.email_waiting} sending" if counts.email_waiting else ""),
                )
            )
        if campaign.bundle:
            rows.append(("rewards", "rewards granted", f"{counts.rewards_granted} ({counts.rewards_failed} failed)"))
        rows += [
            ("failed", "failed", counts.failed),
            ("skipped", "skipped", f"{counts.self_excluded} self-excluded, {counts.banned} banned"),
        ]
        if campaign.in_app:
            rows.append(("opened", "opened", counts.opened))
        return format_html(
            '<table class="campaign-counts">{}</table>',
            format_html_join("", '<tr class="count-{}"><th>{}</th><td>{}</td></tr>', rows),
        )

    @admin.display(description="progress")
    def progress(self, campaign: Campaign) -> str:
        job = campaign.job
        if job is None:
            return "-"
        share = f" ({job.done * 100 // job.total}%)" if job.total else ""
        return f"{job.get_status_display()}: {job.done} / {job.total}{share}"

    @admin.display(description="job")
    def job_link(self, campaign: Campaign) -> SafeString | str:
        if campaign.job_id is None:
            return "-"
        return format_html('<a href="{}">job #{}</a>', _job_page(campaign), campaign.job_id)

    # --- pages ---

    def get_urls(self) -> list[Any]:
        return [
            path("new/", self.admin_site.admin_view(self.new_view), name="economy_campaign_new"),
            path(
                "<path:object_id>/schedule/",
                self.admin_site.admin_view(self.schedule_view),
                name="economy_campaign_schedule",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"can_send": request_holds(request, SEND_CAMPAIGN), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        campaign = self.get_object(request, unquote(object_id))
        context = {
            "can_schedule": campaign is not None
            and campaign.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)
            and request_holds(request, SEND_CAMPAIGN),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context=context)

    @staff_view(permission=SEND_CAMPAIGN)
    def new_view(self, request: HttpRequest) -> HttpResponse:
        """A campaign to all players, a segment or an uploaded list; "Preview" counts first."""
        form = CampaignForm(request.POST or None, request.FILES or None)
        preview: dict[str, Any] | None = None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            target = data["target"]
            targets = None
            if target == Campaign.Target.UPLOAD:
                targets = campaign_targets_resolve(identifiers=data["identifier_list"], by=data["identifiers"])
            if "_preview" in request.POST:
                preview = {
                    "targeted": campaign_audience_count(
                        target=target, segment=data.get("segment"), user_ids=targets.user_ids if targets else []
                    ),
                    "unknown": len(targets.unknown) if targets else 0,
                }
                if targets is not None and data.get("ids_file") is not None:
                    # The file is not sent again with the next submit: keep its ids in the text box.
                    bound = request.POST.copy()
                    bound["ids_text"] = "\n".join(data["identifier_list"])
                    form = CampaignForm(bound)
                    form.is_valid()
            else:
                missing = form.permissions_missing(request)
                if missing:
                    form.add_error(None, "You may not create this campaign: " + "; ".join(missing) + ".")
                else:
                    response = self._create(request, form, targets)
                    if response is not None:
                        return response
        context = {
            **self.admin_site.each_context(request),
            "title": "New campaign",
            "opts": self.opts,
            "form": form,
            "preview": preview,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/economy/campaign/new.html", context)

    def _create(self, request: HttpRequest, form: CampaignForm, targets: Any) -> HttpResponse | None:
        data = form.cleaned_data
        target = data["target"]
        arguments: dict[str, Any] = {}
        if targets is not None:
            upload = data.get("ids_file")
            source = f"uploaded list {upload.name}" if upload is not None else "pasted list"
            arguments = {
                "user_ids": targets.user_ids,
                "unknown_ids": targets.unknown,
                "target_description": f"{source} of {len(data['identifier_list'])} {data['identifiers']}(s)",
            }
        try:
            campaign = campaign_create(
                actor=request_staff(request),
                title=data["title"],
                message=data.get("message") or "",
                channels=data.get("channels") or [],
                bundle=form.bundle(),
                reason=data["reason"],
                target=target,
                segment=data.get("segment") if target == Campaign.Target.SEGMENT else None,
                send_at=data.get("send_at") if data["when"] == "later" else None,
                draft=data["when"] == "draft",
                **arguments,
            )
        except ApplicationError as exc:
            unknown = ""
            if targets is not None and targets.unknown:
                unknown = f" ({len(targets.unknown)} id(s) are no player)"
            form.add_error(None, exc.message + unknown)
            return None
        return _created(self, request, campaign)

    @staff_view(permission=SEND_CAMPAIGN)
    def schedule_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Schedule a draft, move a scheduled campaign, or send either now."""
        campaign = self.get_object(request, unquote(object_id))
        if campaign is None:
            raise Http404
        form = ScheduleForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                campaign = campaign_schedule(
                    actor=request_staff(request),
                    campaign_id=campaign.pk,
                    reason=data["reason"],
                    send_at=data.get("send_at") if data["when"] == "later" else None,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                return _created(self, request, campaign)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Schedule campaign #{campaign.pk}: {campaign.title}",
            "opts": self.opts,
            "original": campaign,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/economy/campaign/schedule.html", context)


@staff_action(permission=GRANT_CAMPAIGN, description="Grant a reward bundle to the selected players…")
def grant_reward_bundle(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[User]
) -> HttpResponse | None:
    """The player list's action: a campaign with a reward for the selection (with "select
    all": the whole filtered list, its filters kept in the campaign's description)."""
    form = CampaignBundleForm(request.POST if "apply" in request.POST else None)
    whole_list = request.POST.get("select_across") == "1"
    if form.is_bound and form.is_valid():
        user_ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        filters = request.GET.urlencode()
        described = f"{len(user_ids)} player(s) {'of the filtered player list' if whole_list else 'selected'}"
        try:
            campaign = campaign_create(
                actor=request_staff(request),
                title=form.cleaned_data["title"],
                message=form.cleaned_data.get("message") or "",
                channels=form.cleaned_data.get("channels") or [],
                bundle=form.bundle(),
                reason=form.cleaned_data["reason"],
                target=Campaign.Target.SELECTION,
                user_ids=user_ids,
                target_description=described + (f" ({filters})" if filters else ""),
            )
        except ApplicationError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            return None
        return _created(modeladmin, request, campaign)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Grant a reward bundle",
        "opts": modeladmin.model._meta,
        "players": list(queryset.order_by("pk")[:20]),
        "count": queryset.count(),
        "form": form,
        "action": request.POST.get("action", "grant_reward_bundle"),
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "select_across": "1" if whole_list else "0",
    }
    return TemplateResponse(request, "admin/economy/campaign/grant_selected.html", context)


def offer_on_player_list() -> None:
    """Add :func:`grant_reward_bundle` to the player list's actions (offered by permission, as
    every staff action: the player admin uses ``StaffActionsMixin``)."""
    try:
        players = admin.site.get_model_admin(User)
    except NotRegistered:
        return
    if grant_reward_bundle not in (players.actions or []):
        players.actions = [*(players.actions or []), grant_reward_bundle]


offer_on_player_list()
