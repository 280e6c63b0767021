"""The accounts' back office for invite codes: the list with their uses, the form (every write
through an audited ``accounts.services`` call, with a fixed reason naming the page), the
activate/deactivate actions (``accounts.change_invitecode``) and the page generating a batch of
codes (``accounts.add_invitecode``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import SafeString

from accounts import exceptions, services
from accounts.admin_common import ADDED_REASON, CHANGED_REASON, DELETED_REASON, staff_actor
from accounts.models import InviteCode
from accounts.selectors import normalize_invite_code
from casino.admin_tools import StaffActionsMixin, action_with_reason, player_link, staff_view
from casino.errors import ApplicationError

# The invite-code actions do what the change form can (it edits is_active too).
INVITE_CODE_CHANGE = "accounts.change_invitecode"


class GenerateCodesForm(forms.Form):
    """Types only: the rules (how many, how long...) are the service's, and its
    refusals are shown on the field they concern."""

    count = forms.IntegerField(initial=10)
    max_uses = forms.IntegerField(required=False, initial=1, help_text="Empty: unlimited.")
    expires_in_days = forms.IntegerField(required=False, initial=30, help_text="Empty: never.")
    note = forms.CharField(required=False, help_text="What the codes are for (kept in the audit log).")


GENERATE_REFUSAL_FIELDS: dict[type[ApplicationError], str] = {
    exceptions.InvalidInviteCodeCount: "count",
    exceptions.InvalidInviteCodeMaxUses: "max_uses",
    exceptions.InvalidInviteCodeExpiry: "expires_in_days",
    exceptions.InvalidInviteCodeNote: "note",
}


class InviteCodeForm(forms.ModelForm):  # type: ignore[type-arg]  # not subscriptable at run time
    class Meta:
        model = InviteCode
        fields = ["code", "max_uses", "expires_at", "is_active", "note"]

    def clean_code(self) -> str:
        # Stored upper-case: normalised before the form's uniqueness check, not after it.
        return normalize_invite_code(self.cleaned_data["code"])


@admin.register(InviteCode)
class InviteCodeAdmin(StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
    form = InviteCodeForm
    change_list_template = "admin/accounts/invitecode/change_list.html"
    list_display = [
        "code",
        "uses",
        "max_uses",
        "remaining",
        "expires_at",
        "is_active",
        "note",
        "creator",
        "created_at",
    ]
    list_filter = ["is_active", ("expires_at", admin.EmptyFieldListFilter), ("created_at", admin.DateFieldListFilter)]
    search_fields = ["code", "note", "created_by__site_id"]
    readonly_fields = ["uses", "created_by", "created_at"]
    list_select_related = ["created_by"]
    actions = [
        action_with_reason(
            name="deactivate_codes",
            description="Deactivate selected codes",
            permission=INVITE_CODE_CHANGE,
            service=lambda request, invite, reason: services.invite_code_set_active(
                actor=staff_actor(request), invite=invite, active=False, reason=reason
            ),
            success="Deactivated {count} code(s).",
        ),
        action_with_reason(
            name="activate_codes",
            description="Activate selected codes",
            permission=INVITE_CODE_CHANGE,
            service=lambda request, invite, reason: services.invite_code_set_active(
                actor=staff_actor(request), invite=invite, active=True, reason=reason
            ),
            success="Activated {count} code(s).",
        ),
    ]

    @admin.display(description="created by", ordering="created_by__nickname")
    def creator(self, obj: InviteCode) -> SafeString | str:
        return player_link(obj.created_by)

    @admin.display(description="remaining")
    def remaining(self, obj: InviteCode) -> str:
        return "unlimited" if obj.remaining_uses is None else str(obj.remaining_uses)

    def save_model(self, request: HttpRequest, obj: InviteCode, form: Any, change: bool) -> None:
        if change:
            services.invite_code_update(
                actor=staff_actor(request), invite=obj, changed_fields=form.changed_data, reason=CHANGED_REASON
            )
        else:
            services.invite_code_create(actor=staff_actor(request), invite=obj, reason=ADDED_REASON)

    def delete_model(self, request: HttpRequest, obj: InviteCode) -> None:
        services.invite_code_delete(actor=staff_actor(request), invite=obj, reason=DELETED_REASON)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[InviteCode]) -> None:
        for invite in queryset.order_by("pk"):
            services.invite_code_delete(actor=staff_actor(request), invite=invite, reason=DELETED_REASON)

    def get_urls(self) -> list[Any]:
        return [
            path("generate/", self.admin_site.admin_view(self.generate_view), name="accounts_invitecode_generate"),
            *super().get_urls(),
        ]

    @staff_view(permission="accounts.add_invitecode")
    def generate_view(self, request: HttpRequest) -> HttpResponse:
        form = GenerateCodesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                codes = services.invite_codes_generate(
                    actor=staff_actor(request),
                    count=form.cleaned_data["count"],
                    max_uses=form.cleaned_data["max_uses"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                    note=form.cleaned_data["note"],
                )
            except ApplicationError as exc:
                form.add_error(GENERATE_REFUSAL_FIELDS.get(type(exc)), exc.message)
            else:
                shown = ", ".join(code.code for code in codes[:20])
                more = f" and {len(codes) - 20} more" if len(codes) > 20 else ""
                self.message_user(request, f"Generated {len(codes)} code(s): {shown}{more}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:accounts_invitecode_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Generate invite codes",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/accounts/invitecode/generate.html", context)
