"""Design promise 7 at the service layer: a staff action checks its own
permission where the change is made, not only in the admin page that offers
it, so another entry point (a view, a command, a future API) cannot skip it.

``staff_permission_require(actor=..., permission="shop.refund_order")`` raises
:class:`StaffPermissionRequired` (403 ``staff_permission_required``) unless the
actor is an active staff member holding the permission (superusers hold every
permission). The roles that bundle these permissions are Django groups made by
``accounts``' migrations (see ``accounts.services.staff``).
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from rest_framework import status

from casino.errors import ApplicationError


class StaffPermissionRequired(ApplicationError, PermissionDenied):
    """The actor lacks the back-office permission a staff action needs. Also a
    Django ``PermissionDenied``, so an admin page that lets it through answers
    403 instead of 500; carries ``permission`` ("app_label.codename")."""

    code = "staff_permission_required"
    message = "You do not have the back-office permission this action needs."
    status = status.HTTP_403_FORBIDDEN


def staff_permission_held(*, actor: AbstractBaseUser | None, permission: str) -> bool:
    """Whether ``actor`` is an active staff member holding ``permission``."""
    if actor is None or not actor.is_active or not getattr(actor, "is_staff", False):
        return False
    has_perm = getattr(actor, "has_perm", None)  # PermissionsMixin's (AbstractBaseUser has none)
    return bool(has_perm is not None and has_perm(permission))


def staff_permission_require(*, actor: AbstractBaseUser | None, permission: str) -> None:
    """Refuse (403 ``staff_permission_required``) unless ``actor`` may do what
    ``permission`` ("app_label.codename") allows. Call it first in a staff
    service, before anything is read for update or written."""
    if not staff_permission_held(actor=actor, permission=permission):
        raise StaffPermissionRequired(permission=permission)
