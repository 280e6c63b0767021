"""What the live-ops back office modules share: the reason box every change asks for, the
activate/deactivate actions, the done/not-done filters of players' rows, and the form and model
admin of a goal definition -- a mission template (``admin_missions``) or an achievement
(``admin_achievements``), edited the same way through ``events.services._definitions``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts.authentication import request_staff
from accounts.models import User
from casino.admin_tools import ServiceOwnsTransactionMixin, StaffActionsMixin, action_with_reason
from casino.errors import ApplicationError
from events.metric_registry import metric_choices


def reason_field(what: str) -> forms.CharField:
    """The required "why" of a change form, kept in the audit log with ``what`` before and after."""
    return forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text=f"Why: kept in the audit log with {what} before and after.",
    )


def switch_actions(
    *, noun: str, permission: str, set_active: Callable[..., object], key: str, off_note: str = ""
) -> list[Any]:
    """The two actions switching the selected rows on and off: each asks why, then calls the
    audited service ``set_active(actor=..., <key>=row.pk, is_active=..., reason=...)`` once per row."""

    def switch(on: bool) -> Any:
        def service(request: HttpRequest, row: Model, reason: str) -> object:
            return set_active(actor=request_staff(request), **{key: row.pk}, is_active=on, reason=reason)

        return action_with_reason(
            name=f"activate_{noun}s" if on else f"deactivate_{noun}s",
            description=f"Activate the selected {noun}s" if on else f"Deactivate the selected {noun}s{off_note}",
            permission=permission,
            service=service,
            success=f"{'Activated' if on else 'Deactivated'} {{count}} {noun}(s).",
        )

    return [switch(True), switch(False)]


class DoneFilter(admin.SimpleListFilter):
    """Yes/no on whether a player's row reached a step (``column``, a moment, set once)."""

    column = ""

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.column}__isnull": self.value() == "no"})
        return queryset


class CompletedFilter(DoneFilter):
    title = "completed"
    parameter_name = "completed"
    column = "completed_at"


class ClaimedFilter(DoneFilter):
    title = "claimed"
    parameter_name = "claimed"
    column = "claimed_at"


# --- goal definitions: mission templates and achievements ---------------------------------------


class DefinitionForm(forms.ModelForm):  # type: ignore[type-arg]
    """A definition's form: the metric chosen from the registry, and the service's own check run
    on the whole definition as it would be saved, its refusals shown on the fields they concern.
    A subclass names its ``Meta`` and the ``definition_*`` attributes."""

    definition_fields: tuple[str, ...] = ()
    definition_check: Callable[[dict[str, Any]], None]  # a staticmethod: the service's check
    definition_invalid: type[ApplicationError]  # what it raises

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "metric" in self.fields:  # a new definition (the metric is read-only afterwards)
            self.fields["metric"] = forms.ChoiceField(
                choices=metric_choices, help_text="What is counted (docs/live-ops.md lists the metrics)."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = {name: cleaned.get(name, getattr(self.instance, name)) for name in self.definition_fields}
        try:
            self.definition_check(values)
        except self.definition_invalid as exc:
            for name, message in exc.details.get("fields", {}).items():
                if name in self.fields and name not in self.errors:
                    self.add_error(name, message)
                elif name not in self.fields:
                    self.add_error(None, f"{name}: {message}")
        return cleaned


class DefinitionAdmin(ServiceOwnsTransactionMixin, StaffActionsMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """A definition's model admin: saved only through its audited services (the subclass's
    ``definition_create`` / ``definition_update``), switched off by an action, never deleted (players'
    rows and the ledger's references point at it)."""

    definition_fields: tuple[str, ...] = ()

    def definition_create(self, *, actor: User, values: dict[str, Any], reason: str) -> Any:
        raise NotImplementedError

    def definition_update(self, *, actor: User, pk: int, changes: dict[str, Any], reason: str) -> None:
        raise NotImplementedError

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # switched off instead (the "deactivate" action asks why and is audited)

    @admin.display(description="reward")
    def rewards(self, definition: Any) -> str:
        parts = [f"{amount} {currency}" for currency, amount in definition.reward_bundle.items()]
        parts += [str(item) for item in definition.reward_items]
        return ", ".join(parts) or "-"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        actor = request_staff(request)
        reason = form.cleaned_data["reason"]
        if not change:
            values = {name: form.cleaned_data[name] for name in self.definition_fields if name in form.cleaned_data}
            created = self.definition_create(actor=actor, values=values, reason=reason)
            # The admin goes on with ``obj`` (history entry, redirect): make it the row created.
            obj.pk, obj.created_at, obj.updated_at = created.pk, created.created_at, created.updated_at
            obj._state.adding, obj._state.db = False, created._state.db
            return
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in self.definition_fields}
        if changes:
            self.definition_update(actor=actor, pk=obj.pk, changes=changes, reason=reason)
