"""Back office: players and staff, staff groups, invite codes. Every write goes
through an audited service in ``accounts.services``; the form pages give no
reason box, so their audit records carry a fixed one naming the page.

Least privilege (promise 7): each action needs its own permission
(``accounts.ban_user``, ``lift_self_exclusion``, ``revoke_sessions``, the
invite-code permissions); staff status, groups and permissions are read-only
without ``accounts.grant_privileges`` (superuser status: superusers only),
and another staff member's account (its password included) is changed only
by someone who may change its privileges (``accounts.services.staff``).

The user change page is the player's page: their story, section by section
(``accounts.admin_story``: every app registers its own), and buttons for the
actions the staff member holds (ban / reinstate, revoke every session or one,
lift a self-exclusion, a one-time password link; economy adds adjust balance and
grant a reward bundle). Each button opens a confirmation page that asks for a
reason and calls one audited service (``_player_action``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import SafeString
from rest_framework.exceptions import ValidationError as DrfValidationError

from accounts import exceptions, services
from accounts.admin_import import PlayerImportMixin  # "Import" on the player list (CSV/XLSX, dry run first)
from accounts.admin_story import player_story
from accounts.models import InviteCode, User
from accounts.selectors import normalize_invite_code
from accounts.services import staff
from accounts.services.nicknames import nickname_checked
from accounts.services.password_links import password_link_create
from accounts.services.sessions import session_revoke
from casino.admin_tools import ReasonForm, StaffActionsMixin, action_with_reason, player_link, staff_view
from casino.errors import ApplicationError

ADDED_REASON = "added in the back office (add form)"
CHANGED_REASON = "changed in the back office (change form)"
DELETED_REASON = "deleted in the back office"
# Promise 7: only superusers grant privileges, so other staff see these read-only.
PRIVILEGE_FORM_FIELDS = ["is_staff", "is_superuser", "groups", "user_permissions"]
# The invite-code actions do what the change form can (it edits is_active too).
INVITE_CODE_CHANGE = "accounts.change_invitecode"


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # the admin site lets only authenticated staff in
    return user


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("site_id", "nickname", "phone_number")


def _may_manage_account(actor: User, user: User | None) -> bool:
    """The admin's side of :func:`accounts.services.staff.staff_account_change_check`:
    another staff member's account (password included) needs the right to change
    their privileges; a superuser's, superuser status."""
    if user is None or user.pk == actor.pk or not (user.is_staff or user.is_superuser):
        return True
    if user.is_superuser:
        return actor.is_superuser
    return actor.has_perm(staff.GRANT_PRIVILEGES)


@admin.register(User)
class UserAdmin(PlayerImportMixin, StaffActionsMixin, DjangoUserAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
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
            permission=staff.BAN_USER,
            service=lambda request, user, reason: services.user_set_active(
                actor=_actor(request), user=user, active=False, reason=reason
            ),
            success="Banned {count} user(s).",
        ),
        action_with_reason(
            name="unban_users",
            description="Reinstate selected users",
            permission=staff.BAN_USER,
            service=lambda request, user, reason: services.user_set_active(
                actor=_actor(request), user=user, active=True, reason=reason
            ),
            success="Reinstated {count} user(s).",
        ),
        action_with_reason(
            name="lift_self_exclusion",
            description="Lift self-exclusion of selected users",
            permission=staff.LIFT_SELF_EXCLUSION,
            service=lambda request, user, reason: services.self_exclusion_lift(
                actor=_actor(request), user=user, reason=reason
            ),
            success="Lifted the self-exclusion of {count} user(s).",
        ),
        action_with_reason(
            name="revoke_sessions",
            description="End every session of selected users (they may log in again)",
            permission=staff.REVOKE_SESSIONS,
            service=lambda request, user, reason: services.user_sessions_revoke(
                actor=_actor(request), user=user, reason=reason
            ),
            success="Ended the sessions of {count} user(s).",
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        actor = _actor(request)
        if not actor.has_perm(staff.GRANT_PRIVILEGES):
            readonly += [field for field in PRIVILEGE_FORM_FIELDS if field not in readonly]
        elif not actor.is_superuser and "is_superuser" not in readonly:
            readonly.append("is_superuser")
        return readonly

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """The form refuses, on the page, a grant the service would refuse."""
        form_class = super().get_form(request, obj, change=change, **kwargs)
        actor = _actor(request)

        class PrivilegeCheckedForm(form_class):  # type: ignore[misc,valid-type]  # built at run time
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                changed = set(self.changed_data)
                try:
                    staff.privileges_change_check(
                        actor=actor,
                        user=obj,
                        fields=[field for field in ("is_staff", "is_superuser") if field in changed],
                        groups=list(cleaned.get("groups") or []) if "groups" in changed else None,
                        permissions=list(cleaned.get("user_permissions") or [])
                        if "user_permissions" in changed
                        else None,
                    )
                except exceptions.PrivilegeChangeRefused as exc:
                    raise forms.ValidationError(exc.message) from exc
                if "nickname" in changed and cleaned.get("nickname"):
                    # The service's own rule, shown on the field instead of a 409 after the form.
                    try:
                        nickname_checked(nickname=cleaned["nickname"], exclude_pk=obj.pk if obj else None)
                    except ApplicationError as exc:
                        self.add_error("nickname", exc.message)
                    except DrfValidationError as exc:  # the characters themselves
                        detail = exc.detail
                        messages = detail.get("nickname", detail) if isinstance(detail, dict) else detail
                        self.add_error("nickname", [str(message) for message in messages])
                return cleaned

        return PrivilegeCheckedForm

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Also guards Django's own "change password" page of the user.
        return super().has_change_permission(request, obj) and _may_manage_account(_actor(request), obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and _may_manage_account(_actor(request), obj)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change:
            services.user_update_by_staff(
                actor=_actor(request), user=obj, changed_fields=form.changed_data, reason=CHANGED_REASON
            )
        else:
            services.user_create_by_staff(actor=_actor(request), user=obj, reason=ADDED_REASON)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Groups and permissions are the only many-to-many fields of the form.
        changed = set(form.changed_data)
        if changed & {"groups", "user_permissions"}:
            services.user_privileges_set(
                actor=_actor(request),
                user=form.instance,
                groups=form.cleaned_data["groups"] if "groups" in changed else None,
                permissions=form.cleaned_data["user_permissions"] if "user_permissions" in changed else None,
                reason=CHANGED_REASON,
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    # --- The player's page: their story (accounts.admin_story) and the actions on it ---------

    change_form_template = "admin/accounts/user/change_form.html"

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk:
            context["player_story"] = player_story(obj, request)
            context["subtitle"] = f"{obj.nickname} ({obj.site_id})"
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_urls(self) -> list[Any]:
        def page(route: str, view: Callable[..., HttpResponse], name: str) -> Any:
            return path(f"<path:object_id>/{route}/", self.admin_site.admin_view(view), name=f"accounts_user_{name}")

        return [
            page("ban", self.ban_view, "ban"),
            page("unban", self.unban_view, "unban"),
            page("revoke-sessions", self.revoke_sessions_view, "revoke_sessions"),
            page("revoke-session/<uuid:family>", self.revoke_session_view, "revoke_session"),
            page("lift-exclusion", self.lift_exclusion_view, "lift_exclusion"),
            page("password-link", self.password_link_view, "password_link"),
            *super().get_urls(),
        ]

    def _player_action(
        self,
        request: HttpRequest,
        object_id: str,
        *,
        title: str,
        explanation: str,
        submit: str,
        call: Callable[[User, User, str], HttpResponse | None],
        done: str,
        danger: bool = False,
    ) -> HttpResponse:
        """A confirmation page with a required reason; on POST, ``call(actor,
        player, reason)`` (one service: it checks the permission again and
        audits), then back to the player's page with ``done`` reported."""
        player = self.get_object(request, unquote(object_id))
        if player is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined, no-any-return]  # Django's
                request, self.opts, object_id
            )
        change_url = reverse("admin:accounts_user_change", args=[player.pk])
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                response = call(_actor(request), player, form.cleaned_data["reason"])
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                if response is not None:
                    return response
                self.message_user(request, done.format(player=player.nickname), messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": f"{player.nickname} ({player.site_id})",
            "opts": self.opts,
            "original": player,
            "player": player,
            "player_link": player_link(player),
            "explanation": explanation,
            "form": form,
            "submit": submit,
            "danger": danger,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/accounts/user/player_action.html", context)

    @staff_view(permission=staff.BAN_USER)
    def ban_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            title="Ban player",
            explanation="The player is logged out everywhere (their open app closes its connection) and cannot "
            "log in again until someone reinstates them.",
            submit="Ban",
            call=lambda actor, player, reason: _no_page(
                services.user_set_active(actor=actor, user=player, active=False, reason=reason)
            ),
            done="Banned {player}.",
            danger=True,
        )

    @staff_view(permission=staff.BAN_USER)
    def unban_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            title="Reinstate player",
            explanation="The player may log in again.",
            submit="Reinstate",
            call=lambda actor, player, reason: _no_page(
                services.user_set_active(actor=actor, user=player, active=True, reason=reason)
            ),
            done="Reinstated {player}.",
        )

    @staff_view(permission=staff.REVOKE_SESSIONS)
    def revoke_sessions_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            title="Revoke every session",
            explanation="Every device of the player is logged out at once: their next request is refused "
            "and their open app closes its connection. They may log in again.",
            submit="Revoke every session",
            call=lambda actor, player, reason: _no_page(
                services.user_sessions_revoke(actor=actor, user=player, reason=reason)
            ),
            done="Ended every session of {player}.",
            danger=True,
        )

    @staff_view(permission=staff.REVOKE_SESSIONS)
    def revoke_session_view(self, request: HttpRequest, object_id: str, family: uuid.UUID) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            title="Revoke one session",
            explanation=f"The device logged in as session {family.hex[:12]} is logged out; the player's other "
            "devices reconnect and stay logged in.",
            submit="Revoke this session",
            call=lambda actor, player, reason: _no_page(
                session_revoke(actor=actor, user=player, family=family, reason=reason)
            ),
            done="Ended one session of {player}.",
            danger=True,
        )

    @staff_view(permission=staff.LIFT_SELF_EXCLUSION)
    def lift_exclusion_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._player_action(
            request,
            object_id,
            title="Lift self-exclusion",
            explanation="The player excluded themselves from playing. Lifting it early lets them play again "
            "now; record why (who asked, what was checked).",
            submit="Lift self-exclusion",
            call=lambda actor, player, reason: _no_page(
                services.self_exclusion_lift(actor=actor, user=player, reason=reason)
            ),
            done="Lifted the self-exclusion of {player}.",
            danger=True,
        )

    @staff_view(permission=staff.RESET_PASSWORD)
    def password_link_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def make_link(actor: User, player: User, reason: str) -> HttpResponse:
            link = password_link_create(actor=actor, user=player, reason=reason)
            context = {
                **self.admin_site.each_context(request),
                "title": "One-time password link",
                "subtitle": f"{player.nickname} ({player.site_id})",
                "opts": self.opts,
                "original": player,
                "player": player,
                "link": request.build_absolute_uri(link.path),
                "expires_at": link.expires_at,
                "change_url": reverse("admin:accounts_user_change", args=[player.pk]),
            }
            response = TemplateResponse(request, "admin/accounts/user/password_link.html", context)
            add_never_cache_headers(response)  # shown once: not kept in the browser's cache
            return response

        return self._player_action(
            request,
            object_id,
            title="Reset password",
            explanation="Nothing is sent to the player. The next page shows a link, once: give it to the player "
            "through the channel they contacted you on. It works once, until the player logs in, or until it "
            "expires; setting a password with it logs the player out everywhere. The link itself is not kept.",
            submit="Make the link",
            call=make_link,
            done="",
        )


def _no_page(_: object) -> None:
    """A service's result the player page does not show (it reports and goes back)."""
    return None


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
                actor=_actor(request), invite=invite, active=False, reason=reason
            ),
            success="Deactivated {count} code(s).",
        ),
        action_with_reason(
            name="activate_codes",
            description="Activate selected codes",
            permission=INVITE_CODE_CHANGE,
            service=lambda request, invite, reason: services.invite_code_set_active(
                actor=_actor(request), invite=invite, active=True, reason=reason
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
                actor=_actor(request), invite=obj, changed_fields=form.changed_data, reason=CHANGED_REASON
            )
        else:
            services.invite_code_create(actor=_actor(request), invite=obj, reason=ADDED_REASON)

    def delete_model(self, request: HttpRequest, obj: InviteCode) -> None:
        services.invite_code_delete(actor=_actor(request), invite=obj, reason=DELETED_REASON)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[InviteCode]) -> None:
        for invite in queryset.order_by("pk"):
            services.invite_code_delete(actor=_actor(request), invite=invite, reason=DELETED_REASON)

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
                    actor=_actor(request),
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


# --- Staff groups (the roles) ------------------------------------------------------------

admin.site.unregister(Group)


@admin.register(Group)
class StaffGroupAdmin(StaffActionsMixin, DjangoGroupAdmin):
    """Django's group admin, except that a group's permissions are granted
    like a user's: read-only without ``accounts.grant_privileges``, saved by
    the audited ``group_permissions_set`` (which also refuses, to a granter
    who is not a superuser, permissions they do not hold)."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if not _actor(request).has_perm(staff.GRANT_PRIVILEGES):
            readonly.append("permissions")
        return readonly

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """The form refuses, on the page, a grant the service would refuse."""
        form_class = super().get_form(request, obj, change=change, **kwargs)
        actor = _actor(request)

        class PrivilegeCheckedForm(form_class):  # type: ignore[misc,valid-type]  # built at run time
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                if "permissions" in self.changed_data:
                    try:
                        staff.group_permissions_check(
                            actor=actor, group=self.instance, permissions=list(cleaned.get("permissions") or [])
                        )
                    except exceptions.PrivilegeChangeRefused as exc:
                        raise forms.ValidationError(exc.message) from exc
                return cleaned

        return PrivilegeCheckedForm

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The permissions are the form's only many-to-many field.
        if "permissions" in form.changed_data:
            services.group_permissions_set(
                actor=_actor(request),
                group=form.instance,
                permissions=list(form.cleaned_data["permissions"]),
                reason=CHANGED_REASON if change else ADDED_REASON,
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
