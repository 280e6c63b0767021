"""Players' own profile edits, and staff edits of users: bans, the back
office's add and change forms (audited; promise 7: each needs its staff
permission, and privileges change only under ``accounts.services.staff``'s
rules)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

import realtime
from accounts.locks import user_values_lock
from accounts.models import User, UserManager
from accounts.services._shared import ensure_available, jsonable, taken_from_integrity_error
from accounts.services.auth import tokens_revoke_all
from accounts.services.nicknames import nickname_assign
from accounts.services.staff import BAN_USER, privileges_change_check, staff_account_change_check
from casino.permissions import staff_permission_require
from casino.services import audit_record

PROFILE_FIELDS = ("nickname", "phone_number", "email")
PRIVILEGE_FIELDS = ("is_staff", "is_superuser")
# What the back office's user forms may write (everything else is read-only there
# or changes through its own audited service: bans, exclusions, limits).
STAFF_EDITABLE_FIELDS = ("site_id", *PROFILE_FIELDS, *PRIVILEGE_FIELDS)


def email_normal_form(email: str) -> str:
    """An address as stored: trimmed, its domain lower-cased (domains are not
    case-sensitive; the part before ``@`` may be, so it stays as typed)."""
    return UserManager.normalize_email(email.strip())


def user_update_profile(
    *, user: User, nickname: str | None = None, phone_number: str | None = None, email: str | None = None
) -> User:
    """The player's own edits; ``None`` leaves a field as it is, ``email=""``
    removes the address. An address is not unique (refusing one would tell the
    caller another account has it), so changing it checks nothing else."""
    changes: dict[str, Any] = {}
    if nickname is not None and nickname.strip() != user.nickname:
        changes["nickname"] = nickname.strip()
    if phone_number is not None and phone_number.strip() != user.phone_number:
        changes["phone_number"] = phone_number.strip()
    if email is not None and email_normal_form(email) != user.email:
        changes["email"] = email_normal_form(email)
    if not changes:
        return user
    with transaction.atomic(durable=True):
        ensure_available(
            site_id="",
            nickname=changes.get("nickname", ""),
            phone_number=changes.get("phone_number", ""),
            exclude_pk=user.pk,
        )
        for field, value in changes.items():
            setattr(user, field, value)
        try:
            with transaction.atomic():
                user.save(update_fields=nickname_assign(user=user, fields=changes))
        except IntegrityError as exc:
            raise taken_from_integrity_error(exc) from exc
        realtime.emit("profile_update", user, changes)
    return user


def user_set_active(*, actor: User, user: User, active: bool, reason: str) -> User:
    """Ban (``active=False``) or reinstate a player; a ban revokes every token
    and closes the player's sockets (4401). Needs ``accounts.ban_user``."""
    staff_permission_require(actor=actor, permission=BAN_USER)
    with transaction.atomic(durable=True):
        User.objects.filter(pk=user.pk).update(is_active=active)
        user.is_active = active
        if not active:
            tokens_revoke_all(user=user)
        audit_record(actor=actor, action="user_unban" if active else "user_ban", target=user, reason=reason)
        realtime.emit("profile_update", user, {"is_active": active})
    return user


# --- The back office's user forms ---------------------------------------------------
# Django's admin runs save_model inside its own transaction (ModelAdmin.changeform_view
# opens it), so these services cannot be durable entry points: their atomic block
# is a savepoint there, and still a transaction when called on their own.


def user_create_by_staff(*, actor: User, user: User, reason: str) -> User:
    """Save a user the back office's add form built (its password already hashed)."""
    staff_permission_require(actor=actor, permission="accounts.add_user")
    privileges_change_check(
        actor=actor, user=None, fields=[field for field in PRIVILEGE_FIELDS if getattr(user, field)]
    )
    user.email = email_normal_form(user.email)
    with transaction.atomic():
        try:
            with transaction.atomic():
                nickname_assign(user=user, fields=["nickname"])
                user.save(force_insert=True)
        except IntegrityError as exc:
            raise taken_from_integrity_error(exc) from exc
        audit_record(
            actor=actor,
            action="user_create",
            target=user,
            reason=reason,
            data={field: jsonable(getattr(user, field)) for field in STAFF_EDITABLE_FIELDS},
        )
    return user


def user_update_by_staff(*, actor: User, user: User, changed_fields: Collection[str], reason: str) -> User:
    """Save the fields the back office's change form edited on ``user``; the
    audit record keeps each one's value before and after."""
    staff_permission_require(actor=actor, permission="accounts.change_user")
    fields = [field for field in STAFF_EDITABLE_FIELDS if field in changed_fields]
    if not fields:
        return user
    staff_account_change_check(actor=actor, user=user)
    privileges_change_check(actor=actor, user=user, fields=[field for field in fields if field in PRIVILEGE_FIELDS])
    if "email" in fields:
        user.email = email_normal_form(user.email)
    with transaction.atomic():
        before = user_values_lock(user_id=user.pk, fields=fields)
        try:
            with transaction.atomic():
                user.save(update_fields=nickname_assign(user=user, fields=fields))
        except IntegrityError as exc:
            raise taken_from_integrity_error(exc) from exc
        changes = {field: [jsonable(before[field]), jsonable(getattr(user, field))] for field in fields}
        audit_record(actor=actor, action="user_update", target=user, reason=reason, data={"changes": changes})
        profile = {field: getattr(user, field) for field in fields if field in PROFILE_FIELDS}
        if profile:
            realtime.emit("profile_update", user, profile)
    return user


def user_privileges_set(
    *,
    actor: User,
    user: User,
    groups: Iterable[Group] | None = None,
    permissions: Iterable[Permission] | None = None,
    reason: str,
) -> User:
    """Replace a user's staff groups and/or direct permissions (``None``: leave
    as is). Only what :func:`privileges_change_check` allows the actor."""
    groups = None if groups is None else list(groups)
    permissions = None if permissions is None else list(permissions)
    privileges_change_check(actor=actor, user=user, groups=groups, permissions=permissions)
    with transaction.atomic():
        data: dict[str, Any] = {}
        if groups is not None:
            groups = list(groups)
            data["groups"] = [
                sorted(user.groups.values_list("name", flat=True)),
                sorted(group.name for group in groups),
            ]
            user.groups.set(groups)
        if permissions is not None:
            permissions = list(permissions)
            data["user_permissions"] = [
                _permission_labels(user.user_permissions.all()),
                _permission_labels(Permission.objects.filter(pk__in=[permission.pk for permission in permissions])),
            ]
            user.user_permissions.set(permissions)
        if data:
            audit_record(actor=actor, action="user_privileges_set", target=user, reason=reason, data=data)
    return user


def _permission_labels(permissions: QuerySet[Permission]) -> list[str]:
    return sorted(
        f"{app}.{codename}" for app, codename in permissions.values_list("content_type__app_label", "codename")
    )
