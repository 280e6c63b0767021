"""Reads of a player's missions, and the home dashboard's events and missions sections.

A player's missions of a period are the active templates of that period LEFT JOIN the player's
instances of the *current* period (a template with no instance yet shows progress 0 and the
template's target). One query, whatever the number of templates: the join takes the player's
instances whose ``period_start`` is today or this ISO week's Monday, and a template keeps only
the instance of its own period (a daily template may also meet this week's Monday instance: at
most two rows per template, using the unique (template, player, period_start) index).
Everything is computed from the server's UTC clock, so a new day (or week) shows fresh
missions without anything being reset.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db.models import F, FilteredRelation, Q
from django.utils import timezone

from accounts.models import User
from events.enums import MissionPeriod
from events.models import Event, MissionProgress, MissionTemplate
from events.services.progress import period_reset_at, period_start

DASHBOARD_EVENTS_MAX = 10


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def mission_rewards(template: MissionTemplate) -> dict[str, Any]:
    """The reward bundle as the client reads it (``rewards.gold``), every currency present."""
    return {
        "gold": template.reward_gold,
        "gems": template.reward_gems,
        "xp": template.reward_xp,
        "exp": template.reward_xp,
        "items": list(template.reward_items),
    }


def mission_definition(template: MissionTemplate) -> dict[str, Any]:
    """A template under the client's names (``mission{…}``)."""
    return {
        "id": template.pk,
        "code": template.code,
        "title": template.title,
        "description": template.description,
        "mission_type": template.period,
        "reset_period": template.period,
        "category": template.category,
        "target_type": template.metric,
        "game": template.game or None,
        "target_value": template.target,
        "rewards": mission_rewards(template),
        "icon": template.icon,
        "sort_order": template.sort_order,
    }


def missions_for_user(user: User, *, period: str | None = None, today: date | None = None) -> list[dict[str, Any]]:
    """The player's missions of ``period`` (daily, weekly; None: both, daily first), each
    ``{mission{…}, current_progress, target_value, completed, claimed, …, reset_at}`` for the
    current period (see the module docstring)."""
    today = today or timezone.now().date()
    periods = [period] if period is not None else [MissionPeriod.DAILY.value, MissionPeriod.WEEKLY.value]
    starts = {name: period_start(name, today) for name in MissionPeriod.values}
    rows = MissionTemplate.objects.filter(is_active=True, period__in=periods).annotate(
        mine=FilteredRelation(
            "instances",
            condition=Q(instances__user_id=user.pk, instances__period_start__in=sorted(set(starts.values()))),
        ),
        mine_id=F("mine__id"),
        mine_period_start=F("mine__period_start"),
        mine_value=F("mine__value"),
        mine_target=F("mine__target"),
        mine_completed_at=F("mine__completed_at"),
        mine_claimed_at=F("mine__claimed_at"),
    )
    templates: dict[int, MissionTemplate] = {}
    instances: dict[int, MissionProgress] = {}
    for row in rows:
        templates.setdefault(row.pk, row)
        if row.mine_id is not None and row.mine_period_start == starts[row.period]:
            instances[row.pk] = MissionProgress(
                pk=row.mine_id,
                template_id=row.pk,
                user_id=user.pk,
                period_start=row.mine_period_start,
                value=row.mine_value,
                target=row.mine_target,
                completed_at=row.mine_completed_at,
                claimed_at=row.mine_claimed_at,
            )
    ordered = sorted(templates.values(), key=lambda t: (periods.index(t.period), t.sort_order, t.pk))
    missions = []
    for template in ordered:
        start = starts[template.period]
        instance = instances.get(template.pk)
        missions.append(
            {
                "id": instance.pk if instance is not None else None,
                "mission_id": template.pk,
                "mission": mission_definition(template),
                "current_progress": instance.value if instance is not None else 0,
                "target_value": instance.target if instance is not None else template.target,
                "completed": instance is not None and instance.completed_at is not None,
                "claimed": instance is not None and instance.claimed_at is not None,
                "completed_at": instance.completed_at if instance is not None else None,
                "claimed_at": instance.claimed_at if instance is not None else None,
                "period_start": start,
                "reset_at": period_reset_at(template.period, today),
            }
        )
    return missions


# --- the home dashboard's sections (registered in events/apps.py) ------------------------------
# The dashboard is cached per player (economy.dashboard_cache) and rendered as JSON: the values
# here are plain (ISO strings for instants). Any event_progress drops the cached page.


def dashboard_missions(user: User) -> list[dict[str, Any]]:
    """Today's (daily) missions with the player's progress."""
    return [
        {
            "mission_id": mission["mission_id"],
            "title": mission["mission"]["title"],
            "category": mission["mission"]["category"],
            "icon": mission["mission"]["icon"],
            "current_progress": mission["current_progress"],
            "target_value": mission["target_value"],
            "completed": mission["completed"],
            "claimed": mission["claimed"],
            "rewards": mission["mission"]["rewards"],
            "reset_at": _iso(mission["reset_at"]),
        }
        for mission in missions_for_user(user, period=MissionPeriod.DAILY.value)
    ]


def dashboard_events(user: User) -> list[dict[str, Any]]:
    """The events running now (highest priority first, at most ``DASHBOARD_EVENTS_MAX``) with
    whether the player joined, completed and claimed each; one query."""
    now = timezone.now()
    rows = (
        Event.objects.filter(is_active=True, starts_at__lte=now, ends_at__gt=now)
        .annotate(mine=FilteredRelation("participations", condition=Q(participations__user_id=user.pk)))
        .values(
            "id",
            "title",
            "event_type",
            "image_url",
            "priority",
            "ends_at",
            "mine__id",
            "mine__completed_at",
            "mine__claimed_at",
        )
        .order_by("-priority", "ends_at", "id")[:DASHBOARD_EVENTS_MAX]
    )
    return [
        {
            "id": row["id"],
            "title": row["title"],
            "event_type": row["event_type"],
            "image_url": row["image_url"],
            "priority": row["priority"],
            "end_date": _iso(row["ends_at"]),
            "joined": row["mine__id"] is not None,
            "completed": row["mine__completed_at"] is not None,
            "claimed": row["mine__claimed_at"] is not None,
        }
        for row in rows
    ]
