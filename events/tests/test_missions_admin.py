"""The missions' back office (events/admin.py, missions section; events.services.missions):
templates created and changed with a reason and audited before/after, switched on and off by an
audited action, refused without the permission; players' instances read-only; the demo seed."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from accounts.tests.factories import UserFactory
from accounts.tests.staff import offered_actions, staff_with
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from events.exceptions import InvalidMissionTemplate
from events.models import MissionProgress, MissionTemplate
from events.services import mission_template_create, mission_template_set_active, mission_template_update
from events.tests.factories import MissionTemplateFactory

pytestmark = pytest.mark.django_db

TEMPLATES = "/admin/events/missiontemplate/"
VIEW, ADD, CHANGE = "events.view_missiontemplate", "events.add_missiontemplate", "events.change_missiontemplate"


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "code": "daily-play-10",
        "title": "Warm up",
        "description": "Play 10 rounds.",
        "category": "play",
        "icon": "dice",
        "sort_order": "0",
        "is_active": "on",
        "period": "daily",
        "metric": "rounds_played",
        "game": "",
        "target": "10",
        "reward_gold": "200",
        "reward_gems": "0",
        "reward_xp": "20",
        "reward_items": "[]",
        "reason": "spring campaign",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def change_data(template: MissionTemplate, **overrides: Any) -> dict[str, Any]:
    """The change form as posted (the code, period, metric and game are read-only there)."""
    data = form_data(
        title=template.title,
        description=template.description,
        category=template.category,
        icon=template.icon,
        sort_order=str(template.sort_order),
        target=str(template.target),
        reward_gold=str(template.reward_gold),
        reward_gems=str(template.reward_gems),
        reward_xp=str(template.reward_xp),
        code=None,
        period=None,
        metric=None,
        game=None,
    )
    data.update(overrides)
    return data


def test_staff_create_a_template_with_a_reason_and_it_is_audited() -> None:
    # Given a live-ops member who may add and change templates
    client, operator = staff_with(VIEW, ADD, CHANGE)
    # When they add a daily mission through the admin
    answer = client.post(f"{TEMPLATES}add/", form_data())
    # Then it exists as entered, and the audit log says who, what and why
    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    template = MissionTemplate.objects.get(code="daily-play-10")
    assert (template.period, template.metric, template.target) == ("daily", "rounds_played", 10)
    assert (template.reward_gold, template.reward_xp, template.is_active) == (200, 20, True)
    record = AuditLog.objects.get(action="mission_template_create")
    assert (record.actor_id, record.reason, record.target_id) == (operator.pk, "spring campaign", str(template.pk))
    assert record.data["before"] is None
    assert record.data["after"]["target"] == 10


def test_a_template_change_is_audited_with_the_columns_before_and_after() -> None:
    # Given a template
    client, operator = staff_with(VIEW, CHANGE)
    template = MissionTemplateFactory(target=5, reward_gold=100, title="Five rounds")
    # When staff raise its target and reward, giving a reason
    answer = client.post(
        f"{TEMPLATES}{template.pk}/change/",
        change_data(template, target="8", reward_gold="160", reason="too easy"),
    )
    # Then the template changed and the audit record holds exactly the changed columns
    assert answer.status_code == 302
    template.refresh_from_db()
    assert (template.target, template.reward_gold) == (8, 160)
    record = AuditLog.objects.get(action="mission_template_update")
    assert record.actor_id == operator.pk
    assert record.reason == "too easy"
    assert record.data == {"before": {"reward_gold": 100, "target": 5}, "after": {"reward_gold": 160, "target": 8}}


def test_a_change_without_a_reason_or_with_an_unknown_metric_is_refused_and_changes_nothing() -> None:
    client, _ = staff_with(VIEW, ADD, CHANGE)
    template = MissionTemplateFactory(target=5)

    no_reason = client.post(f"{TEMPLATES}{template.pk}/change/", change_data(template, target="9", reason=""))
    bad_metric = client.post(f"{TEMPLATES}add/", form_data(metric="client_says_so"))
    game_on_a_global_metric = client.post(f"{TEMPLATES}add/", form_data(metric="purchases", game="slot"))

    assert no_reason.status_code == 200 and "reason" in no_reason.context["adminform"].form.errors
    assert bad_metric.status_code == 200 and "metric" in bad_metric.context["adminform"].form.errors
    assert "game" in game_on_a_global_metric.context["adminform"].form.errors
    template.refresh_from_db()
    assert template.target == 5
    assert MissionTemplate.objects.count() == 1
    assert not AuditLog.objects.exists()


def test_staff_without_the_permission_change_nothing() -> None:
    # Given a staff member who may only look at templates
    viewer_client, viewer = staff_with(VIEW)
    template = MissionTemplateFactory(target=5, is_active=True)
    # When they post a change, an add and the deactivate action anyway
    changed = viewer_client.post(f"{TEMPLATES}{template.pk}/change/", change_data(template, target="1"))
    added = viewer_client.post(f"{TEMPLATES}add/", form_data())
    forged = viewer_client.post(
        TEMPLATES,
        {"action": "deactivate_missions", "_selected_action": [template.pk], "apply": "1", "reason": "x"},
    )
    # Then every request is refused, the action is not even offered, and nothing changed
    assert changed.status_code == 403
    assert added.status_code == 403
    assert forged.status_code in (200, 403)  # 200: the changelist again ("no action selected")
    assert "deactivate_missions" not in offered_actions(viewer_client, TEMPLATES)
    template.refresh_from_db()
    assert (template.target, template.is_active) == (5, True)
    assert MissionTemplate.objects.count() == 1
    # And the services refuse on their own (a task or a command cannot skip the check)
    with pytest.raises(StaffPermissionRequired):
        mission_template_update(actor=viewer, template_id=template.pk, changes={"target": 1}, reason="x")
    with pytest.raises(StaffPermissionRequired):
        mission_template_set_active(actor=viewer, template_id=template.pk, is_active=False, reason="x")
    with pytest.raises(StaffPermissionRequired):
        mission_template_create(actor=viewer, values={"code": "x"}, reason="x")
    assert not AuditLog.objects.exists()


def test_deactivate_and_activate_actions_ask_why_and_are_audited() -> None:
    client, operator = staff_with(VIEW, CHANGE)
    first, second = MissionTemplateFactory(), MissionTemplateFactory()
    assert {"activate_missions", "deactivate_missions"} <= offered_actions(client, TEMPLATES)

    # When staff deactivate both, giving a reason
    asked = client.post(TEMPLATES, {"action": "deactivate_missions", "_selected_action": [first.pk, second.pk]})
    done = client.post(
        TEMPLATES,
        {"action": "deactivate_missions", "_selected_action": [first.pk, second.pk], "apply": "1", "reason": "bug"},
    )

    # Then the reason was asked first, and both are off with an audit record each
    assert asked.status_code == 200 and "reason" in asked.context["form"].fields
    assert done.status_code == 302
    assert list(MissionTemplate.objects.filter(is_active=True)) == []
    records = AuditLog.objects.filter(action="mission_template_deactivate").order_by("target_id")
    assert [(r.target_id, r.reason, r.data) for r in records] == [
        (str(t.pk), "bug", {"before": {"is_active": True}, "after": {"is_active": False}}) for t in (first, second)
    ]
    # And switching one back on is audited too
    mission_template_set_active(actor=operator, template_id=first.pk, is_active=True, reason="fixed")
    assert AuditLog.objects.filter(action="mission_template_activate", target_id=str(first.pk)).exists()


def test_code_period_metric_and_game_are_fixed_once_a_template_exists() -> None:
    _, operator = staff_with(VIEW, CHANGE)
    template = MissionTemplateFactory(metric="rounds_played", period="daily")

    with pytest.raises(InvalidMissionTemplate) as refused:
        mission_template_update(actor=operator, template_id=template.pk, changes={"period": "weekly"}, reason="x")

    assert set(refused.value.details["fields"]) == {"period"}
    template.refresh_from_db()
    assert template.period == "daily"
    assert not AuditLog.objects.exists()


def test_templates_are_never_deleted_from_the_admin() -> None:
    client, _ = staff_with(VIEW, CHANGE, "events.delete_missiontemplate")
    template = MissionTemplateFactory()
    assert client.post(f"{TEMPLATES}{template.pk}/delete/", {"post": "yes"}).status_code == 403
    assert MissionTemplate.objects.filter(pk=template.pk).exists()


def test_players_mission_progress_is_listed_read_only_with_filters_and_search() -> None:
    client, _ = staff_with("events.view_missionprogress")
    player = UserFactory(nickname="Searchable")
    template = MissionTemplateFactory()
    instance = MissionProgress.objects.create(
        template=template, user=player, period_start="2026-12-01", target=5, value=2, updated_at="2026-12-01T10:00Z"
    )
    url = "/admin/events/missionprogress/"

    for query in ("", "?q=Searchable", "?completed=no&claimed=no", "?template__period__exact=daily"):
        page = client.get(url + query)
        assert page.status_code == 200, query
        assert instance in page.context["cl"].result_list, query
    assert client.get(url + "?completed=yes").context["cl"].result_list.count() == 0
    assert client.get(f"{url}add/").status_code == 403
    assert client.post(f"{url}{instance.pk}/change/", {"value": "5"}).status_code == 403
    instance.refresh_from_db()
    assert instance.value == 2


def test_the_demo_missions_seed_is_idempotent() -> None:
    # Given the seeded staff account
    UserFactory(site_id="admin", is_staff=True, is_superuser=True)
    # When the seed runs twice
    call_command("seed_missions_demo", stdout=StringIO())
    count = MissionTemplate.objects.count()
    second = StringIO()
    call_command("seed_missions_demo", stdout=second)
    # Then both periods have missions, each created once (and audited once)
    assert count >= 8
    assert MissionTemplate.objects.count() == count
    assert set(MissionTemplate.objects.values_list("period", flat=True)) == {"daily", "weekly"}
    assert AuditLog.objects.filter(action="mission_template_create").count() == count
    assert "0 created" in second.getvalue()
