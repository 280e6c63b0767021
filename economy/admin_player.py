"""The economy's page reached from a player's page: grant the player a reward
bundle (``economy.services.grants.reward_bundle_grant``). Mounted by
``WalletAdmin.get_urls`` at ``/admin/economy/wallet/<user id>/grant/`` (the
wallet's key is the player's id; a player without a wallet yet gets one with
the grant)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.authentication import request_staff
from accounts.models import User
from casino.admin_tools import player_link, staff_view
from casino.db import one_or_none
from casino.errors import ApplicationError
from economy.exceptions import IdempotencyConflict
from economy.services.grants import GRANT_PERMISSION, reward_bundle_grant
from economy.services.ledger import MAX_AMOUNT


class RewardBundleForm(forms.Form):
    gold = forms.IntegerField(min_value=0, max_value=MAX_AMOUNT, initial=0)
    gems = forms.IntegerField(min_value=0, max_value=MAX_AMOUNT, initial=0)
    xp = forms.IntegerField(label="XP", min_value=0, max_value=MAX_AMOUNT, initial=0)
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        strip=True,
        help_text="Why: kept on the ledger entries and in the audit log.",
    )
    # Made when the form is rendered: posting the same form twice is one grant.
    grant_id = forms.UUIDField(widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if not any(cleaned.get(currency) for currency in ("gold", "gems", "xp")):
            raise forms.ValidationError("Grant at least one of gold, gems or XP.")
        return cleaned


@staff_view(permission=GRANT_PERMISSION)
def reward_bundle_view(modeladmin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    player = one_or_none(User.objects.filter(pk=unquote(object_id))) if str(object_id).isdigit() else None
    if player is None:
        raise Http404("No such player.")
    change_url = reverse("admin:accounts_user_change", args=[player.pk])
    if request.method == "POST":
        form = RewardBundleForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            bundle = {currency: data[currency] for currency in ("gold", "gems", "xp") if data[currency]}
            try:
                result = reward_bundle_grant(
                    actor=request_staff(request),
                    user=player,
                    bundle=bundle,
                    reason=data["reason"],
                    grant_id=data["grant_id"],
                )
            except IdempotencyConflict:
                # This form was already used for another bundle: start a new one.
                fresh = request.POST.copy()
                fresh["grant_id"] = str(uuid.uuid4())
                form = RewardBundleForm(fresh)
                form.is_valid()
                form.add_error(
                    None,
                    "This form was already submitted with other amounts. Check the player's ledger, then "
                    "submit again if the grant is still needed.",
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                given = ", ".join(f"{amount} {currency}" for currency, amount in bundle.items())
                if result.applied:
                    modeladmin.message_user(request, f"Granted {given} to {player.nickname}.", messages.SUCCESS)
                else:
                    modeladmin.message_user(
                        request,
                        "This grant was already made (the form was submitted twice): nothing changed.",
                        messages.WARNING,
                    )
                return HttpResponseRedirect(change_url)
    else:
        form = RewardBundleForm(initial={"grant_id": uuid.uuid4()})
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Grant a reward bundle",
        "subtitle": f"{player.nickname} ({player.site_id})",
        "opts": User._meta,
        "original": player,
        "player": player,
        "player_link": player_link(player),
        "explanation": "Gold, gems and XP are added to the player's wallet through the ledger (reason: staff "
        "adjustment) and the player is told in their inbox. Submitting this form twice grants once.",
        "form": form,
        "submit": "Grant",
        "danger": False,
        "change_url": change_url,
        "media": form.media,
    }
    return TemplateResponse(request, "admin/accounts/user/player_action.html", context)
