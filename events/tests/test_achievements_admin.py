"""The achievements' back office (events/admin.py, achievements section;
events.services.achievements): created and changed with a reason and audited before/after, a
new threshold applied to players still on their way, switched on and off by an audited action,
refused without the permission; players' progress read-only; the demo seed."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.tests.factories import UserFactory
from accounts.tests.staff import offered_actions, staff_with
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from events.exceptions import InvalidAchievement
from events.management.commands.seed_achievements_demo import ACHIEVEMENTS
from events.metric_registry import METRICS
from events.models import Achievement, AchievementProgress
from events.services import achievement_create, achievement_set_active, achievement_update
from events.tests.factories import AchievementFactory

pytestmark = pytest.mark.django_db

ACHIEVEMENTS_URL = "/admin/events/achievement/"
VIEW, ADD, CHANGE = "events.view_achievement", "events.add_achievement", "events.change_achievement"


def form_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "code": "first-spin",
        "title": "First spin",
        "description": "Spin once.",
        "icon": "slot",
        "sort_order": "0",
        "is_active": "on",
        "metric": "rounds_played",
        "game": "slot",
        "threshold": "1",
        "reward_gold": "100",
        "reward_gems": "0",
        "reward_xp": "10",
        "reward_items": '["lucky-horseshoe"]',
        "reason": "launch set",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value is not None}


def change_data(achievement: Achievement, **overrides: Any) -> dict[str, Any]:
    """The change form as posted (the code, metric and game are read-only there)."""
    data = form_data(
        title=achievement.title,
        description=achievement.description,
        icon=achievement.icon,
        sort_order=str(achievement.sort_order),
        threshold=str(achievement.threshold),
        reward_gold=str(achievement.reward_gold),
        reward_gems=str(achievement.reward_gems),
        reward_xp=str(achievement.reward_xp),
        reward_items="[]",
        code=None,
        metric=None,
        game=None,
    )
    if achievement.is_hidden:
        data["is_hidden"] = "on"
    data.update(overrides)
    return data


def progress_of(achievement: Achievement, value: int, *, unlocked: bool = False) -> AchievementProgress:
    now = timezone.now()
    return AchievementProgress.objects.create(
        achievement=achievement,
        user=UserFactory(),
        target=achievement.threshold,
        value=value,
        unlocked_at=now if unlocked else None,
        updated_at=now,
    )


def test_staff_create_an_achievement_with_a_reason_and_it_is_audited() -> None:
    # Given a live-ops member who may add and change achievements
    client, operator = staff_with(VIEW, ADD, CHANGE)
    # When they add a hidden one through the admin
    answer = client.post(f"{ACHIEVEMENTS_URL}add/", form_data(is_hidden="on"))
    # Then it exists as entered, and the audit log says who, what and why
    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    achievement = Achievement.objects.get(code="first-spin")
    assert (achievement.metric, achievement.game, achievement.threshold) == ("rounds_played", "slot", 1)
    assert (achievement.reward_gold, achievement.reward_items, achievement.is_hidden) == (
        100,
        ["lucky-horseshoe"],
        True,
    )
    record = AuditLog.objects.get(action="achievement_create")
    assert (record.actor_id, record.reason, record.target_id) == (operator.pk, "launch set", str(achievement.pk))
    assert record.data["before"] is None and record.data["after"]["threshold"] == 1


def test_the_metric_is_chosen_from_the_registry() -> None:
    client, _ = staff_with(VIEW, ADD)
    form = client.get(f"{ACHIEVEMENTS_URL}add/").context["adminform"].form
    assert {code for code, _ in form.fields["metric"].choices} == set(METRICS)


def test_a_new_threshold_applies_to_players_on_their_way_and_is_audited() -> None:
    # Given an achievement for 10 rounds: one player at 4, one who unlocked it
    client, operator = staff_with(VIEW, CHANGE)
    achievement = AchievementFactory(threshold=10, reward_gems=5, title="Ten")
    on_the_way = progress_of(achievement, 4)
    done = progress_of(achievement, 10, unlocked=True)
    # When staff lower it to 6 and raise the reward, giving a reason
    answer = client.post(
        f"{ACHIEVEMENTS_URL}{achievement.pk}/change/",
        change_data(achievement, threshold="6", reward_gems="8", reason="too hard"),
    )
    # Then it changed, the player on the way counts towards 6, the one who unlocked it is untouched
    assert answer.status_code == 302, answer.context["adminform"].form.errors if answer.context else answer
    achievement.refresh_from_db()
    assert (achievement.threshold, achievement.reward_gems) == (6, 8)
    on_the_way.refresh_from_db()
    done.refresh_from_db()
    assert (on_the_way.target, on_the_way.unlocked_at) == (6, None)
    assert done.target == 10
    # And the audit record holds exactly the changed columns and how many players took the new threshold
    record = AuditLog.objects.get(action="achievement_update")
    assert (record.actor_id, record.reason) == (operator.pk, "too hard")
    assert record.data == {
        "before": {"reward_gems": 5, "threshold": 10},
        "after": {"reward_gems": 8, "threshold": 6},
        "retargeted": 1,
    }


def test_a_bad_change_is_refused_and_changes_nothing() -> None:
    client, operator = staff_with(VIEW, ADD, CHANGE)
    achievement = AchievementFactory(threshold=5, metric="rounds_played")

    no_reason = client.post(
        f"{ACHIEVEMENTS_URL}{achievement.pk}/change/", change_data(achievement, threshold="9", reason="")
    )
    bad_metric = client.post(f"{ACHIEVEMENTS_URL}add/", form_data(code="x", metric="client_says_so"))
    game_on_a_global_metric = client.post(f"{ACHIEVEMENTS_URL}add/", form_data(code="y", metric="logins", game="slot"))
    zero = client.post(f"{ACHIEVEMENTS_URL}add/", form_data(code="z", threshold="0"))

    assert no_reason.status_code == 200 and "reason" in no_reason.context["adminform"].form.errors
    assert "metric" in bad_metric.context["adminform"].form.errors
    assert "game" in game_on_a_global_metric.context["adminform"].form.errors
    assert "threshold" in zero.context["adminform"].form.errors
    with pytest.raises(InvalidAchievement) as fixed:
        achievement_update(actor=operator, achievement_id=achievement.pk, changes={"metric": "logins"}, reason="x")
    assert set(fixed.value.details["fields"]) == {"metric"}
    achievement.refresh_from_db()
    assert (achievement.threshold, achievement.metric) == (5, "rounds_played")
    assert Achievement.objects.count() == 1
    assert not AuditLog.objects.exists()


def test_staff_without_the_permission_change_nothing() -> None:
    # Given a staff member who may only look at achievements
    viewer_client, viewer = staff_with(VIEW)
    achievement = AchievementFactory(threshold=5, is_active=True)
    # When they post a change, an add and the deactivate action anyway
    changed = viewer_client.post(f"{ACHIEVEMENTS_URL}{achievement.pk}/change/", change_data(achievement, threshold="1"))
    added = viewer_client.post(f"{ACHIEVEMENTS_URL}add/", form_data())
    forged = viewer_client.post(
        ACHIEVEMENTS_URL,
        {"action": "deactivate_achievements", "_selected_action": [achievement.pk], "apply": "1", "reason": "x"},
    )
    # Then every request is refused, the action is not even offered, and nothing changed
    assert changed.status_code == 403
    assert added.status_code == 403
    assert forged.status_code in (200, 403)
    assert "deactivate_achievements" not in offered_actions(viewer_client, ACHIEVEMENTS_URL)
    achievement.refresh_from_db()
    assert (achievement.threshold, achievement.is_active) == (5, True)
    assert Achievement.objects.count() == 1
    # And the services refuse on their own
    with pytest.raises(StaffPermissionRequired):
        achievement_update(actor=viewer, achievement_id=achievement.pk, changes={"threshold": 1}, reason="x")
    with pytest.raises(StaffPermissionRequired):
        achievement_set_active(actor=viewer, achievement_id=achievement.pk, is_active=False, reason="x")
    with pytest.raises(StaffPermissionRequired):
        achievement_create(actor=viewer, values={"code": "x"}, reason="x")
    assert not AuditLog.objects.exists()


def test_the_live_ops_role_manages_achievements() -> None:
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="live-ops")
    operator = UserFactory(is_staff=True)
    operator.groups.add(group)
    created = achievement_create(
        actor=operator,
        values={"code": "role-made", "title": "Role", "metric": "logins", "threshold": 3, "is_active": True},
        reason="check",
    )
    assert (
        achievement_set_active(actor=operator, achievement_id=created.pk, is_active=False, reason="x").is_active
        is False
    )


def test_deactivate_and_activate_actions_ask_why_and_are_audited() -> None:
    client, operator = staff_with(VIEW, CHANGE)
    first, second = AchievementFactory(), AchievementFactory()
    assert {"activate_achievements", "deactivate_achievements"} <= offered_actions(client, ACHIEVEMENTS_URL)

    asked = client.post(
        ACHIEVEMENTS_URL, {"action": "deactivate_achievements", "_selected_action": [first.pk, second.pk]}
    )
    done = client.post(
        ACHIEVEMENTS_URL,
        {"action": "deactivate_achievements", "_selected_action": [first.pk, second.pk], "apply": "1", "reason": "bug"},
    )

    assert asked.status_code == 200 and "reason" in asked.context["form"].fields
    assert done.status_code == 302
    assert list(Achievement.objects.filter(is_active=True)) == []
    records = AuditLog.objects.filter(action="achievement_deactivate").order_by("target_id")
    assert [(r.target_id, r.reason, r.data) for r in records] == [
        (str(a.pk), "bug", {"before": {"is_active": True}, "after": {"is_active": False}}) for a in (first, second)
    ]
    achievement_set_active(actor=operator, achievement_id=first.pk, is_active=True, reason="fixed")
    assert AuditLog.objects.filter(action="achievement_activate", target_id=str(first.pk)).exists()


def test_achievements_are_never_deleted_from_the_admin() -> None:
    client, _ = staff_with(VIEW, CHANGE, "events.delete_achievement")
    achievement = AchievementFactory()
    assert client.post(f"{ACHIEVEMENTS_URL}{achievement.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Achievement.objects.filter(pk=achievement.pk).exists()


def test_players_progress_is_listed_read_only_with_the_unlocked_filter_and_search() -> None:
    client, _ = staff_with("events.view_achievementprogress")
    achievement = AchievementFactory(threshold=5)
    row = progress_of(achievement, 2)
    row.user.nickname = "Searchable"
    row.user.save(update_fields=["nickname"])
    url = "/admin/events/achievementprogress/"

    for query in ("", "?q=Searchable", "?unlocked=no", f"?achievement__id__exact={achievement.pk}"):
        page = client.get(url + query)
        assert page.status_code == 200, query
        assert row in page.context["cl"].result_list, query
    assert client.get(url + "?unlocked=yes").context["cl"].result_list.count() == 0
    assert client.get(url + "?q=nobody-like-that").context["cl"].result_list.count() == 0
    assert client.get(f"{url}add/").status_code == 403
    assert client.post(f"{url}{row.pk}/change/", {"value": "5"}).status_code == 403
    row.refresh_from_db()
    assert row.value == 2


def test_the_demo_achievements_seed_is_idempotent() -> None:
    # Given the seeded staff account
    UserFactory(site_id="admin", is_staff=True, is_superuser=True)
    # When the seed runs twice
    call_command("seed_achievements_demo", stdout=StringIO())
    second = StringIO()
    call_command("seed_achievements_demo", stdout=second)
    # Then every demo achievement exists once (audited once), one of them secret
    assert Achievement.objects.count() == len(ACHIEVEMENTS) == 8
    assert AuditLog.objects.filter(action="achievement_create").count() == len(ACHIEVEMENTS)
    assert Achievement.objects.filter(is_hidden=True).count() == 1
    assert set(Achievement.objects.values_list("metric", flat=True)) == {
        "rounds_played",
        "big_wins",
        "win_streak",
        "purchases",
        "streak_days",
        "logins",
    }
    assert "0 created" in second.getvalue()
