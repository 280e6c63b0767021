"""Admin helpers shared by every app: read-only model admins and actions that
ask staff for a reason before calling a service once per selected row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from casino.errors import ApplicationError


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]  # any model
    """For records nobody edits by hand (audit log, ledger, outbox)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
    *, name: str, description: str, service: Callable[[HttpRequest, Any, str], Any], success: str
) -> Callable[[admin.ModelAdmin[Any], HttpRequest, QuerySet[Any]], HttpResponse | None]:
    """Build an admin action that first asks for a reason (intermediate page),
    then calls ``service(request, obj, reason)`` for each selected row, each in
    its own transaction (the service owns it), and reports per row."""

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

    action.short_description = description  # type: ignore[attr-defined]
    action.__name__ = name  # the admin identifies actions by name; keep it stable
    return action
