"""Back office for reward campaigns: one bundle (gold, gems, XP) granted to many players as a
job (``economy.services.campaigns``; permission ``economy.grant_campaign``), from

* an uploaded list of login ids or user ids ("New reward campaign..." on the campaign list:
  staff who may not see players -- live-ops -- grant from a list they were given), or
* the player list: the action "Grant a reward bundle to the selected players..." on the
  selection or, with "select all", the whole filtered list.

Either way the campaign is created with its job, and staff land on the job's page, which shows
the progress and then the report. The player list's admin belongs to ``accounts``, which may
not import the economy: the action is added to it from here, through ``admin.site``
(:func:`offer_on_player_list`), never by importing another app's admin module.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.authentication import request_staff
from accounts.models import User
from casino.admin_tools import ReadOnlyAdmin, request_holds, staff_action, staff_view
from casino.errors import ApplicationError
from economy.models import RewardCampaign
from economy.services.campaigns import (
    GRANT_CAMPAIGN,
    MAX_CAMPAIGN_PLAYERS,
    campaign_create,
    campaign_identifiers,
    campaign_paid_players,
    campaign_targets_resolve,
)
from economy.services.ledger import MAX_AMOUNT

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
SHOWN_UNKNOWN = 100


class CampaignBundleForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="What the players and the ledger see it as.")
    gold = forms.IntegerField(min_value=0, max_value=MAX_AMOUNT, initial=0)
    gems = forms.IntegerField(min_value=0, max_value=MAX_AMOUNT, initial=0)
    xp = forms.IntegerField(label="XP", min_value=0, max_value=MAX_AMOUNT, initial=0)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        strip=True,
        help_text="Why: kept on every ledger entry and in the audit log.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not any(cleaned.get(currency) for currency in ("gold", "gems", "xp")):
            raise forms.ValidationError("Give at least one amount: gold, gems or XP.")
        return cleaned

    def bundle(self) -> dict[str, int]:
        return {currency: int(self.cleaned_data.get(currency) or 0) for currency in ("gold", "gems", "xp")}


class CampaignUploadForm(CampaignBundleForm):
    identifiers = forms.ChoiceField(
        choices=[("site_id", "Login ids (site_id)"), ("user_id", "User ids (numbers)")], initial="site_id"
    )
    ids_file = forms.FileField(
        required=False,
        label="List of players",
        help_text="A CSV or text file: one id per line (or separated by commas); a header row is skipped.",
    )
    ids_text = forms.CharField(
        required=False,
        label="...or paste them",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload = cleaned.get("ids_file")
        text = cleaned.get("ids_text") or ""
        if upload is not None:
            if upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.")
            try:
                text += "\n" + upload.read().decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise forms.ValidationError("The file is not UTF-8 text (save it as CSV).") from exc
        identifiers = campaign_identifiers(text)
        if not identifiers:
            raise forms.ValidationError("Upload a list of players or paste their ids.")
        if len(identifiers) > MAX_CAMPAIGN_PLAYERS:
            raise forms.ValidationError(f"At most {MAX_CAMPAIGN_PLAYERS} players per campaign: split the list.")
        cleaned["identifier_list"] = identifiers
        return cleaned


def _job_page(campaign: RewardCampaign) -> str:
    return reverse("admin:casino_adminjob_change", args=[campaign.job_id])


def _started(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, campaign: RewardCampaign) -> HttpResponse:
    modeladmin.message_user(
        request,
        f"Reward campaign #{campaign.pk} started for {len(campaign.user_ids)} player(s)"
        + (f" ({campaign.unknown_count} id(s) unknown)" if campaign.unknown_count else "")
        + ": its progress and report are on this page.",
        messages.SUCCESS,
    )
    return HttpResponseRedirect(_job_page(campaign))


@admin.register(RewardCampaign)
class RewardCampaignAdmin(ReadOnlyAdmin):
    change_list_template = "admin/economy/rewardcampaign/change_list.html"
    list_display = ["id", "name", "bundle_text", "players", "status", "job_link", "created_by", "created_at"]
    list_display_links = ["id", "name"]
    list_filter = ["status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["name", "reason", "target_description"]
    list_select_related = ["created_by", "job"]
    fields = (
        "name",
        "bundle_text",
        "reason",
        "target_description",
        "players",
        "paid_players",
        "unknown",
        "status",
        "job_link",
        "created_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields  # a tuple: shown, never edited

    @admin.display(description="bundle")
    def bundle_text(self, campaign: RewardCampaign) -> str:
        return ", ".join(f"{amount} {currency}" for currency, amount in campaign.bundle.items())

    @admin.display(description="players")
    def players(self, campaign: RewardCampaign) -> int:
        return len(campaign.user_ids or [])

    @admin.display(description="players paid (ledger)")
    def paid_players(self, campaign: RewardCampaign) -> int:
        return len(campaign_paid_players(campaign.pk))

    @admin.display(description="unknown ids")
    def unknown(self, campaign: RewardCampaign) -> str:
        if not campaign.unknown_count:
            return "none"
        shown = ", ".join(str(value) for value in (campaign.unknown_ids or [])[:SHOWN_UNKNOWN])
        more = campaign.unknown_count - min(SHOWN_UNKNOWN, len(campaign.unknown_ids or []))
        return f"{campaign.unknown_count}: {shown}" + (f" and {more} more" if more > 0 else "")

    @admin.display(description="job")
    def job_link(self, campaign: RewardCampaign) -> SafeString | str:
        if campaign.job_id is None:
            return "-"
        return format_html('<a href="{}">job #{}</a>', _job_page(campaign), campaign.job_id)

    # --- pages ---

    def get_urls(self) -> list[Any]:
        return [
            path("new/", self.admin_site.admin_view(self.new_view), name="economy_rewardcampaign_new"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {"can_grant": request_holds(request, GRANT_CAMPAIGN), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    @staff_view(permission=GRANT_CAMPAIGN)
    def new_view(self, request: HttpRequest) -> HttpResponse:
        """A campaign for an uploaded (or pasted) list of login ids or user ids."""
        form = CampaignUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            targets = campaign_targets_resolve(identifiers=data["identifier_list"], by=data["identifiers"])
            upload = data.get("ids_file")
            source = f"uploaded list {upload.name}" if upload is not None else "pasted list"
            try:
                campaign = campaign_create(
                    actor=request_staff(request),
                    name=data["name"],
                    bundle=form.bundle(),
                    reason=data["reason"],
                    user_ids=targets.user_ids,
                    unknown_ids=targets.unknown,
                    target_description=f"{source} of {len(data['identifier_list'])} {data['identifiers']}(s)",
                )
            except ApplicationError as exc:
                unknown = f" ({len(targets.unknown)} id(s) are no player)" if targets.unknown else ""
                form.add_error(None, exc.message + unknown)
            else:
                return _started(self, request, campaign)
        context = {
            **self.admin_site.each_context(request),
            "title": "New reward campaign",
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/economy/rewardcampaign/new.html", context)


@staff_action(permission=GRANT_CAMPAIGN, description="Grant a reward bundle to the selected players…")
def grant_reward_bundle(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[User]
) -> HttpResponse | None:
    """The player list's action: a campaign for the selection (with "select all": the whole
    filtered list, its filters kept in the campaign's description)."""
    form = CampaignBundleForm(request.POST if "apply" in request.POST else None)
    whole_list = request.POST.get("select_across") == "1"
    if form.is_bound and form.is_valid():
        user_ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        filters = request.GET.urlencode()
        described = f"{len(user_ids)} player(s) {'of the filtered player list' if whole_list else 'selected'}"
        try:
            campaign = campaign_create(
                actor=request_staff(request),
                name=form.cleaned_data["name"],
                bundle=form.bundle(),
                reason=form.cleaned_data["reason"],
                user_ids=user_ids,
                target_description=described + (f" ({filters})" if filters else ""),
            )
        except ApplicationError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
            return None
        return _started(modeladmin, request, campaign)
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
    return TemplateResponse(request, "admin/economy/rewardcampaign/grant_selected.html", context)


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
