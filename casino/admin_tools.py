"""Admin helpers shared by every app: read-only model admins, change forms whose
save is a service owning its transaction (:class:`ServiceOwnsTransactionMixin`),
and staff actions that each need their own permission (design promise 7).

Every admin action in the project is built here, so none can be written
without a permission:

- :func:`action_with_reason` asks staff for a reason (intermediate page), then
  calls a service once per selected row;
- :func:`staff_action` decorates an action method that has its own form.

Both take ``permission`` ("app_label.codename", required). An action whose
permission the staff member lacks is not offered (:class:`StaffActionsMixin`,
which :class:`ReadOnlyAdmin` includes), and the action itself refuses with 403
if it is reached anyway. Custom admin views are decorated with
:func:`staff_view`. The services these call check the same permission again
(``casino.permissions``); ``casino/tests/test_admin_permissions.py`` fails when
an action or custom view has none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import csrf_protect_m
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from casino.errors import ApplicationError
from casino.permissions import staff_permission_held

# The attribute a staff action carries: the permission it needs ("app_label.codename").
REQUIRED_PERMISSION = "required_permission"

if TYPE_CHECKING:  # ModelAdmin and QuerySet are not subscriptable at run time
    from typing import TypeAlias

    Action: TypeAlias = Callable[[admin.ModelAdmin[Any], HttpRequest, QuerySet[Any]], HttpResponse | None]

F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V", bound=Callable[..., HttpResponse])


def request_holds(request: HttpRequest, permission: str) -> bool:
    """Whether the staff member of an admin request holds ``permission``."""
    user = request.user
    return isinstance(user, AbstractBaseUser) and staff_permission_held(actor=user, permission=permission)


def require_staff_permission(request: HttpRequest, permission: str) -> None:
    """403 unless the staff member of an admin request holds ``permission``."""
    if not request_holds(request, permission):
        raise PermissionDenied


def may_run(request: HttpRequest, action: Callable[..., Any]) -> bool:
    """Whether the staff member may run a staff action or view (one without a
    required permission is left to Django's own checks)."""
    permission = getattr(action, REQUIRED_PERMISSION, None)
    return permission is None or request_holds(request, permission)


class StaffActionsMixin:
    """Offer a staff action only to staff who hold its permission."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)  # type: ignore[misc]  # a ModelAdmin mixin
        return {name: entry for name, entry in actions.items() if may_run(request, entry[0])}


def _guarded(action: F, permission: str) -> F:
    """``action`` refusing with 403 when its permission is missing (a forged
    POST of an action that was not offered never gets this far; this is the
    second lock, for an admin that forgot the mixin)."""

    @functools.wraps(action)
    def guarded(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        require_staff_permission(request, permission)
        response: HttpResponse | None = action(modeladmin, request, queryset)
        return response

    setattr(guarded, REQUIRED_PERMISSION, permission)
    return cast(F, guarded)


def staff_view(*, permission: str) -> Callable[[V], V]:
    """For a custom admin view (a ``ModelAdmin`` method mounted by ``get_urls``):
    403 before anything else unless the staff member holds ``permission``."""

    def decorate(view: V) -> V:
        @functools.wraps(view)
        def guarded(modeladmin: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require_staff_permission(request, permission)
            response: HttpResponse = view(modeladmin, request, *args, **kwargs)
            return response

        setattr(guarded, REQUIRED_PERMISSION, permission)
        return cast(V, guarded)

    return decorate


def staff_action(*, permission: str, description: str) -> Callable[[F], F]:
    """``@admin.action`` for a staff action with its own form: offered only to
    staff holding ``permission`` ("app_label.codename"), refused with 403 otherwise."""

    def decorate(method: F) -> F:
        guarded = _guarded(method, permission)
        guarded.short_description = description  # type: ignore[attr-defined]
        return guarded

    return decorate


class ReadOnlyMixin:
    """For a model admin or an inline of records nobody adds, changes or deletes by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]  # any model
    """For records nobody edits by hand (audit log, ledger, outbox); their
    staff actions are offered by permission."""


class ServiceOwnsTransactionMixin:
    """For a model admin whose ``save_model``/``save_related`` call services that
    open their own durable transaction: Django wraps a posted change form in one
    transaction, inside which a durable ``atomic`` refuses to run, so the admin's
    is left out. Its history entry is then written after the service committed."""

    @csrf_protect_m  # type: ignore[untyped-decorator]  # Django's, as on ModelAdmin.changeform_view
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response: HttpResponse = self._changeform_view(  # type: ignore[attr-defined]  # a ModelAdmin mixin
            request, object_id, form_url, extra_context
        )
        return response


def staff_member(request: HttpRequest) -> AbstractBaseUser:
    """The staff member acting in the admin, for apps below ``accounts``
    (``accounts.authentication.request_staff`` gives the project's ``User``)."""
    user = request.user
    if not isinstance(user, AbstractBaseUser) or not getattr(user, "is_staff", False):
        raise PermissionDenied
    return user


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=1000, strip=True)


def action_with_reason(
    *,
    name: str,
    description: str,
    permission: str,
    service: Callable[[HttpRequest, Any, str], Any],
    success: str,
) -> Action:
    """Build an admin action that first asks for a reason (intermediate page),
    then calls ``service(request, obj, reason)`` for each selected row, each in
    its own transaction (the service owns it), and reports per row. Only staff
    holding ``permission`` ("app_label.codename") are offered it or may run it."""

    def action(modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                done = 0
                for obj in queryset.order_by("pk"):
                    try:
                        service(request, obj, form.cleaned_data["reason"])
                        done += 1
                    except ApplicationError as exc:
                        modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
                if done:
                    modeladmin.message_user(request, success.format(count=done), messages.SUCCESS)
                return None
        else:
            form = ReasonForm()
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "objects": list(queryset[:50]),
            "count": queryset.count(),
            "form": form,
            "action": request.POST.get("action"),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "admin/casino/action_with_reason.html", context)

    action.__name__ = name  # the admin identifies actions by name; keep it stable
    guarded = _guarded(action, permission)
    guarded.short_description = description  # type: ignore[attr-defined]
    return guarded


def player_link(user_or_id: Any, nickname: str | None = None) -> SafeString | str:
    """A player as every admin page names them: the nickname, linking to their
    page (the user change page, the player's whole story). Takes the user
    (its login id is shown after the link) or just the id (with ``nickname``
    when the caller has it; without, the link says "player #id"). ``"-"``
    for nobody. No query: pass a user the caller has loaded (use
    ``list_select_related``) or the id and nickname it annotated."""
    user_id = getattr(user_or_id, "pk", user_or_id)
    if user_id is None or user_id == "":
        return "-"
    url = reverse("admin:accounts_user_change", args=[user_id])
    name = nickname or getattr(user_or_id, "nickname", "") or f"player #{user_id}"
    login = getattr(user_or_id, "site_id", "")
    if login and login != name:
        return format_html('<a href="{}" class="player-link">{}</a> <span class="quiet">({})</span>', url, name, login)
    return format_html('<a href="{}" class="player-link">{}</a>', url, name)
