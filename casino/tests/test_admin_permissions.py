"""Design promise 7 across the whole back office: every admin action and
every custom admin page needs a permission, and the machinery that enforces it
(``casino.admin_tools``, ``casino.permissions``). The per-app tests
(``*/tests/test_admin_permissions.py``) prove each action and page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.staff import permissions, staff_with
from casino.admin_tools import REQUIRED_PERMISSION, action_with_reason
from casino.errors import api_exception_handler
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired, staff_permission_require

pytestmark = pytest.mark.django_db

# Django's own pages of a model admin: each checks the model's view/add/change/delete permission.
DJANGO_PAGES = ("changelist", "add", "history", "delete", "change")


def _every_action() -> list[tuple[str, str, Any]]:
    """(model label, action name, function) of every action the admin site offers anywhere."""
    found = []
    for model, model_admin in admin.site._registry.items():
        for function, name, _description in model_admin._get_base_actions():
            found.append((model._meta.label, name, function))
    return found


def test_every_admin_action_needs_a_permission_that_exists() -> None:
    # Given every action of every registered model admin (Django's delete_selected checks "delete")
    actions = [(model, name, fn) for model, name, fn in _every_action() if name != "delete_selected"]
    labels = {f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")}

    # Then each names the permission it needs, and that permission exists
    without = [f"{model}.{name}" for model, name, fn in actions if not getattr(fn, REQUIRED_PERMISSION, None)]
    unknown = [
        f"{model}.{name}: {getattr(fn, REQUIRED_PERMISSION)}"
        for model, name, fn in actions
        if getattr(fn, REQUIRED_PERMISSION, None) and getattr(fn, REQUIRED_PERMISSION) not in labels
    ]
    assert without == []
    assert unknown == []
    # And the scan saw the project's actions (it is not vacuous)
    assert {"ban_users", "lift_self_exclusion", "refund_orders", "retry_dead", "run_tasks"} <= {
        name for _, name, _ in actions
    }


def test_every_custom_admin_page_needs_a_permission() -> None:
    custom = []
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        for pattern in model_admin.get_urls():
            name = pattern.name or ""
            if not name or name.removeprefix(prefix) in DJANGO_PAGES or name == "auth_user_password_change":
                continue  # Django's own pages (and its unnamed "<id>/" redirect)
            custom.append((name, getattr(pattern.callback, REQUIRED_PERMISSION, None)))

    assert [name for name, permission in custom if not permission] == []
    assert {
        "accounts_invitecode_generate": "accounts.add_invitecode",
        "economy_wallet_audit": "economy.run_ledger_audit",
        "economy_wallet_adjust": "economy.adjust_balance",
    }.items() <= dict(custom).items()


def test_an_action_with_a_reason_cannot_be_built_without_a_permission() -> None:
    with pytest.raises(TypeError, match="permission"):
        action_with_reason(  # type: ignore[call-arg]
            name="nothing", description="Nothing", service=lambda request, obj, reason: None, success="Done."
        )


def test_an_action_reached_without_its_permission_refuses_with_403_and_runs_nothing() -> None:
    # Given an action built with a permission, and a staff member who lacks it
    called: list[Any] = []
    action = action_with_reason(
        name="poke",
        description="Poke",
        permission="accounts.ban_user",
        service=lambda request, obj, reason: called.append(obj),
        success="Poked {count}.",
    )
    _, clerk = staff_with("accounts.view_user")
    request = RequestFactory().post("/admin/accounts/user/", {"apply": "1", "reason": "because"})
    request.user = clerk

    # When the action is called anyway (an admin that forgot the mixin offered it)
    with pytest.raises(PermissionDenied):
        action(admin.site._registry[User], request, User.objects.all())

    # Then nothing ran
    assert called == []


def test_a_missing_staff_permission_is_a_403_with_its_own_code_in_the_api_envelope() -> None:
    refusal = StaffPermissionRequired(permission="shop.refund_order")

    response = api_exception_handler(refusal, {})

    assert response is not None
    assert response.status_code == 403
    assert response.data == {
        "error": "staff_permission_required",
        "message": "You do not have the back-office permission this action needs.",
        "permission": "shop.refund_order",
    }
    assert isinstance(refusal, PermissionDenied)  # an admin page that lets it through answers 403 too


@pytest.mark.parametrize(
    ("fields", "allowed"),
    [
        ({"is_staff": True}, True),
        ({"is_staff": False}, False),  # a player holding a permission by mistake is still no staff member
        ({"is_staff": True, "is_active": False}, False),  # a banned staff member
    ],
)
def test_a_staff_permission_is_held_only_by_active_staff(fields: dict[str, Any], allowed: bool) -> None:
    member = UserFactory(**fields)
    member.user_permissions.set(permissions("shop.refund_order"))
    member = User.objects.get(pk=member.pk)  # a fresh permission cache

    if allowed:
        staff_permission_require(actor=member, permission="shop.refund_order")
    else:
        with pytest.raises(StaffPermissionRequired):
            staff_permission_require(actor=member, permission="shop.refund_order")


def test_a_superuser_holds_every_staff_permission_and_nobody_else_does_by_default() -> None:
    superuser = UserFactory(is_staff=True, is_superuser=True)
    plain_staff = UserFactory(is_staff=True)

    staff_permission_require(actor=superuser, permission="economy.adjust_balance")
    with pytest.raises(StaffPermissionRequired) as refused:
        staff_permission_require(actor=plain_staff, permission="economy.adjust_balance")

    assert refused.value.details == {"permission": "economy.adjust_balance"}


# --- django-celery-beat's schedules -----------------------------------------------------------


@pytest.fixture
def audit_task() -> PeriodicTask:
    every_hour = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    return PeriodicTask.objects.create(name="ledger audit", task="economy.tasks.audit_ledger", interval=every_hour)


def test_staff_who_may_only_view_the_schedules_cannot_switch_a_task_off(audit_task: PeriodicTask) -> None:
    # Given a staff member who may view periodic tasks but not change them
    viewer, _ = staff_with("django_celery_beat.view_periodictask")
    url = "/admin/django_celery_beat/periodictask/"

    # When they open the list and post "disable" for the ledger audit anyway
    listing = viewer.get(url)
    forged = viewer.post(url, {"action": "disable_tasks", "_selected_action": [audit_task.pk]})

    # Then no action is offered, and the task stays enabled
    assert listing.status_code == 200 and listing.context["action_form"] is None
    assert forged.status_code in (200, 302)  # the list again or a redirect, never the action
    audit_task.refresh_from_db()
    assert audit_task.enabled is True
    assert not AuditLog.objects.exists()


def test_staff_who_may_change_the_schedules_switch_a_task_off_and_it_is_audited(audit_task: PeriodicTask) -> None:
    operator, staff = staff_with("django_celery_beat.view_periodictask", "django_celery_beat.change_periodictask")

    done = operator.post(
        "/admin/django_celery_beat/periodictask/", {"action": "disable_tasks", "_selected_action": [audit_task.pk]}
    )

    assert done.status_code == 302
    audit_task.refresh_from_db()
    assert audit_task.enabled is False
    record = AuditLog.objects.get(action="periodic_tasks_disable")
    assert (record.actor, record.data) == (staff, {"tasks": ["ledger audit"]})


# --- the admin index ------------------------------------------------------------------------


def test_the_pipeline_panel_on_the_admin_index_is_shown_only_to_staff_who_may_view_the_outbox() -> None:
    support, _ = staff_with("accounts.view_user")
    operator, _ = staff_with("realtime.view_outboxevent")

    assert 'id="pipeline-health"' not in support.get("/admin/").content.decode()
    assert 'id="pipeline-health"' in operator.get("/admin/").content.decode()
