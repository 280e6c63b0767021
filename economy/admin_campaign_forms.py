"""The campaign back office's forms (``economy.admin_campaigns``): a new campaign's content,
target and time, the player list's reward bundle, and scheduling a draft."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils import timezone

from casino.admin_tools import request_holds
from economy.models import Campaign, Segment
from economy.services.campaigns import (
    GRANT_CAMPAIGN,
    MAX_CAMPAIGN_PLAYERS,
    MAX_MESSAGE_CHARS,
    SEND_CAMPAIGN,
    campaign_identifiers,
)
from economy.services.ledger import MAX_AMOUNT

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
CHANNEL_CHOICES = [("in_app", "In-app notification"), ("push", "Web push"), ("email", "Email")]
DATETIME_INPUT = "%Y-%m-%dT%H:%M"


def _send_at_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        required=False,
        label="Send at (UTC)",
        input_formats=[DATETIME_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
    )


def _send_at_check(form: forms.Form, cleaned: dict[str, Any]) -> None:
    """Sending "at a time" needs the time, and one still to come."""
    if cleaned.get("when") != "later":
        return
    send_at: datetime | None = cleaned.get("send_at")
    if send_at is None:
        form.add_error("send_at", "Give the time to send at.")
    elif send_at <= timezone.now():
        form.add_error("send_at", "This time has passed: choose a later one, or send now.")


def _amount_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=0, max_value=MAX_AMOUNT, initial=0)


class CampaignContentForm(forms.Form):
    """What a campaign says and gives, and why."""

    title = forms.CharField(max_length=120, help_text="The notification's title and the email's subject.")
    message = forms.CharField(
        required=False,
        max_length=MAX_MESSAGE_CHARS,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="What the players read, in the inbox and the email.",
    )
    channels = forms.MultipleChoiceField(
        required=False,
        choices=CHANNEL_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text="Players who switched a channel off get nothing on it. Web push shows the in-app "
        "notification in the player's browser. No channel: a plain reward grant.",
    )
    gold = _amount_field("Gold")
    gems = _amount_field("Gems")
    xp = _amount_field("XP")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=1000,
        strip=True,
        help_text="Why: kept on every ledger entry and in the audit log.",
    )
    reward_required = False

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        channels = cleaned.get("channels") or []
        rewards = any(cleaned.get(currency) for currency in ("gold", "gems", "xp"))
        if self.reward_required and not rewards:
            raise forms.ValidationError("Give at least one amount: gold, gems or XP.")
        if not channels and not rewards:
            raise forms.ValidationError("Choose a channel (in-app, push, email) or give a reward.")
        if channels and not (cleaned.get("message") or "").strip():
            self.add_error("message", "Write the message the players will read on the channels chosen.")
        if "push" in channels and "in_app" not in channels:
            self.add_error("channels", "Web push shows the in-app notification: choose in-app too.")
        return cleaned

    def bundle(self) -> dict[str, int]:
        return {currency: int(self.cleaned_data.get(currency) or 0) for currency in ("gold", "gems", "xp")}

    def permissions_missing(self, request: HttpRequest) -> list[str]:
        needed = []
        if any(self.bundle().values()) and not request_holds(request, GRANT_CAMPAIGN):
            needed.append("a reward needs the permission to grant campaign rewards")
        if self.cleaned_data.get("channels") and not request_holds(request, SEND_CAMPAIGN):
            needed.append("a message needs the permission to send campaigns")
        return needed


class CampaignForm(CampaignContentForm):
    """The "New campaign" page: the content, the target and when."""

    target = forms.ChoiceField(
        choices=[
            (Campaign.Target.ALL, "All active players"),
            (Campaign.Target.SEGMENT, "A saved segment"),
            (Campaign.Target.UPLOAD, "A list of ids (upload or paste)"),
        ],
        initial=Campaign.Target.SEGMENT,
        widget=forms.RadioSelect,
    )
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"),
        required=False,
        help_text="Evaluated when the campaign starts sending.",
    )
    identifiers = forms.ChoiceField(
        choices=[("site_id", "Login ids (site_id)"), ("user_id", "User ids (numbers)")],
        initial="site_id",
        required=False,
    )
    ids_file = forms.FileField(
        required=False,
        label="List of players",
        help_text="A CSV or text file: one id per line (or separated by commas); a header row is skipped.",
    )
    ids_text = forms.CharField(
        required=False,
        label="...or paste them",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )
    when = forms.ChoiceField(
        choices=[("now", "Send now"), ("later", "Send at a time"), ("draft", "Save as a draft")],
        initial="now",
        widget=forms.RadioSelect,
    )
    send_at = _send_at_field()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        target = cleaned.get("target")
        if target == Campaign.Target.SEGMENT and cleaned.get("segment") is None:
            self.add_error("segment", "Choose the segment to send to.")
        if target == Campaign.Target.UPLOAD:
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
                self.add_error("ids_text", "Upload a list of players or paste their ids.")
            elif len(identifiers) > MAX_CAMPAIGN_PLAYERS:
                self.add_error("ids_text", f"At most {MAX_CAMPAIGN_PLAYERS} players per list: split it.")
            cleaned["identifier_list"] = identifiers
        _send_at_check(self, cleaned)
        return cleaned


class CampaignBundleForm(CampaignContentForm):
    """The player list's action: a reward to the selection, with an optional message."""

    reward_required = True


class ScheduleForm(forms.Form):
    when = forms.ChoiceField(
        choices=[("now", "Send now"), ("later", "Send at a time")], initial="later", widget=forms.RadioSelect
    )
    send_at = _send_at_field()
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 60}), max_length=1000, strip=True)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        _send_at_check(self, cleaned)
        return cleaned
