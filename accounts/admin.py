"""Back office: players and staff, invite codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from accounts import services
from accounts.models import InviteCode, User
from casino.admin_tools import action_with_reason
from casino.errors import ApplicationError


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("site_id", "nickname", "phone_number")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = UserCreationForm
    list_display = [
        "site_id",
        "nickname",
        "phone_number",
        "is_staff",
        "is_active",
        "self_excluded_until",
        "date_joined",
        "last_login",
    ]
    list_filter = ["is_staff", "is_active", "is_superuser", ("date_joined", admin.DateFieldListFilter)]
    search_fields = ["site_id", "nickname", "phone_number"]
    ordering = ["-date_joined"]
    date_hierarchy = "date_joined"
    # Bans, exclusions and token revocation go through audited services (actions below).
    readonly_fields = [
        "is_active",
        "token_version",
        "self_excluded_until",
        "daily_spend_limit",
        "pending_daily_spend_limit",
        "pending_limit_clears",
        "pending_limit_effective_at",
        "last_login",
        "date_joined",
    ]
    fieldsets = (
        (None, {"fields": ("site_id", "password")}),
        ("Profile", {"fields": ("nickname", "phone_number")}),
        ("Status", {"fields": ("is_active", "token_version", "last_login", "date_joined")}),
        (
            "Responsible gaming",
            {
                "fields": (
                    "self_excluded_until",
                    "daily_spend_limit",
                    "pending_daily_spend_limit",
                    "pending_limit_clears",
                    "pending_limit_effective_at",
                )
            },
        ),
        ("Back office", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("site_id", "nickname", "phone_number", "password1", "password2")}),
    )
    actions = [
        action_with_reason(
            name="ban_users",
            description="Ban selected users (ends every session)",
            service=lambda request, user, reason: services.user_set_active(
                actor=request.user, user=user, active=False, reason=reason
            ),
            success="Banned {count} user(s).",
        ),
        action_with_reason(
            name="unban_users",
            description="Reinstate selected users",
            service=lambda request, user, reason: services.user_set_active(
                actor=request.user, user=user, active=True, reason=reason
            ),
            success="Reinstated {count} user(s).",
        ),
        action_with_reason(
            name="lift_self_exclusion",
            description="Lift self-exclusion of selected users",
            service=lambda request, user, reason: services.self_exclusion_lift(
                actor=request.user, user=user, reason=reason
            ),
            success="Lifted the self-exclusion of {count} user(s).",
        ),
    ]


class GenerateCodesForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=1000, initial=10)
    max_uses = forms.IntegerField(min_value=1, required=False, initial=1, help_text="Empty: unlimited.")
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=3650, required=False, initial=30, help_text="Empty: never."
    )
    note = forms.CharField(max_length=200, required=False, help_text="What the codes are for (kept in the audit log).")


@admin.register(InviteCode)
class InviteCodeAdmin(admin.ModelAdmin):
    change_list_template = "admin/accounts/invitecode/change_list.html"
    list_display = [
        "code",
        "uses",
        "max_uses",
        "remaining",
        "expires_at",
        "is_active",
        "note",
        "created_by",
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
            service=lambda request, invite, reason: services.invite_code_set_active(
                actor=request.user, invite=invite, active=False, reason=reason
            ),
            success="Deactivated {count} code(s).",
        ),
        action_with_reason(
            name="activate_codes",
            description="Activate selected codes",
            service=lambda request, invite, reason: services.invite_code_set_active(
                actor=request.user, invite=invite, active=True, reason=reason
            ),
            success="Activated {count} code(s).",
        ),
    ]

    @admin.display(description="remaining")
    def remaining(self, obj: InviteCode) -> str:
        return "unlimited" if obj.remaining_uses is None else str(obj.remaining_uses)

    def save_model(self, request: HttpRequest, obj: InviteCode, form: Any, change: bool) -> None:
        obj.code = obj.code.strip().upper()
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def get_urls(self) -> list[Any]:
        return [
            path("generate/", self.admin_site.admin_view(self.generate_view), name="accounts_invitecode_generate"),
            *super().get_urls(),
        ]

    def generate_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            return HttpResponseRedirect(reverse("admin:accounts_invitecode_changelist"))
        form = GenerateCodesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            days = form.cleaned_data["expires_in_days"]
            try:
                codes = services.invite_codes_generate(
                    actor=request.user,  # type: ignore[arg-type]
                    count=form.cleaned_data["count"],
                    max_uses=form.cleaned_data["max_uses"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                    note=form.cleaned_data["note"],
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
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
