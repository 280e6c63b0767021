"""Back office: players and staff, staff groups, invite codes. Every write goes
through an audited service in ``accounts.services``; the form pages give no
reason box, so their audit records carry a fixed one naming the page.

Least privilege (promise 7): each action needs its own permission
(``accounts.ban_user``, ``lift_self_exclusion``, ``revoke_sessions``, the
invite-code permissions); staff status, groups and permissions are read-only
without ``accounts.grant_privileges`` (superuser status: superusers only),
and another staff member's account (its password included) is changed only
by someone who may change its privileges (``accounts.services.staff``).

One module per subject (importing them registers the model admins):

- here: the user list and form, and the staff groups (the roles);
- ``admin_player``: the user change page as the player's page (their story
  and the confirmation pages of the actions on it);
- ``admin_invites``: invite codes;
- ``admin_import``: importing players from a file; ``admin_story``: the
  registry of the player page's sections; ``admin_login``: the login form;
- ``admin_common``: the acting staff member, the fixed audit reasons."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.models import Group
from django.http import HttpRequest
from rest_framework.exceptions import ValidationError as DrfValidationError

from accounts import admin_invites, exceptions, services  # noqa: F401  (admin_invites: the invite codes' admin)
from accounts.admin_common import ADDED_REASON, CHANGED_REASON, staff_actor
from accounts.admin_import import PlayerImportMixin  # "Import" on the player list (CSV/XLSX, dry run first)
from accounts.admin_player import PlayerPageMixin
from accounts.models import User
from accounts.services import staff
from accounts.services.nicknames import nickname_checked
from casino.admin_tools import StaffActionsMixin, action_with_reason
from casino.errors import ApplicationError

# Promise 7: only superusers grant privileges, so other staff see these read-only.
PRIVILEGE_FORM_FIELDS = ["is_staff", "is_superuser", "groups", "user_permissions"]


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
class UserAdmin(PlayerPageMixin, PlayerImportMixin, StaffActionsMixin, DjangoUserAdmin):  # type: ignore[type-arg]  # not subscriptable at run time
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
    search_fields = ["site_id", "nickname", "phone_number", "email"]
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
        ("Profile", {"fields": ("nickname", "phone_number", "email")}),
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
                actor=staff_actor(request), user=user, active=False, reason=reason
            ),
            success="Banned {count} user(s).",
        ),
        action_with_reason(
            name="unban_users",
            description="Reinstate selected users",
            permission=staff.BAN_USER,
            service=lambda request, user, reason: services.user_set_active(
                actor=staff_actor(request), user=user, active=True, reason=reason
            ),
            success="Reinstated {count} user(s).",
        ),
        action_with_reason(
            name="lift_self_exclusion",
            description="Lift self-exclusion of selected users",
            permission=staff.LIFT_SELF_EXCLUSION,
            service=lambda request, user, reason: services.self_exclusion_lift(
                actor=staff_actor(request), user=user, reason=reason
            ),
            success="Lifted the self-exclusion of {count} user(s).",
        ),
        action_with_reason(
            name="revoke_sessions",
            description="End every session of selected users (they may log in again)",
            permission=staff.REVOKE_SESSIONS,
            service=lambda request, user, reason: services.user_sessions_revoke(
                actor=staff_actor(request), user=user, reason=reason
            ),
            success="Ended the sessions of {count} user(s).",
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        actor = staff_actor(request)
        if not actor.has_perm(staff.GRANT_PRIVILEGES):
            readonly += [field for field in PRIVILEGE_FORM_FIELDS if field not in readonly]
        elif not actor.is_superuser and "is_superuser" not in readonly:
            readonly.append("is_superuser")
        return readonly

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """The form refuses, on the page, a grant the service would refuse."""
        form_class = super().get_form(request, obj, change=change, **kwargs)
        actor = staff_actor(request)

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
        return super().has_change_permission(request, obj) and _may_manage_account(staff_actor(request), obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and _may_manage_account(staff_actor(request), obj)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if change:
            services.user_update_by_staff(
                actor=staff_actor(request), user=obj, changed_fields=form.changed_data, reason=CHANGED_REASON
            )
        else:
            services.user_create_by_staff(actor=staff_actor(request), user=obj, reason=ADDED_REASON)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Groups and permissions are the only many-to-many fields of the form.
        changed = set(form.changed_data)
        if changed & {"groups", "user_permissions"}:
            services.user_privileges_set(
                actor=staff_actor(request),
                user=form.instance,
                groups=form.cleaned_data["groups"] if "groups" in changed else None,
                permissions=form.cleaned_data["user_permissions"] if "user_permissions" in changed else None,
                reason=CHANGED_REASON,
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


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
        if not staff_actor(request).has_perm(staff.GRANT_PRIVILEGES):
            readonly.append("permissions")
        return readonly

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """The form refuses, on the page, a grant the service would refuse."""
        form_class = super().get_form(request, obj, change=change, **kwargs)
        actor = staff_actor(request)

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
                actor=staff_actor(request),
                group=form.instance,
                permissions=list(form.cleaned_data["permissions"]),
                reason=CHANGED_REASON if change else ADDED_REASON,
            )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)
