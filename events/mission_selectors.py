"""Reads of a player's missions, and the home dashboard's events and missions sections.

A player's missions of a period are the active templates of that period (the process's copy of
the definitions, ``events.definitions``: no statement) with the player's instances of the
*current* period (a template with no instance yet shows progress 0 and the template's target).
One short query, whatever the number of templates: the player's instances of those templates
whose ``period_start`` is today or this ISO week's Monday, of which a template keeps only the
instance of its own period (a daily template may also meet this week's Monday instance), by the
unique (template, player, period_start) index. Everything is computed from the server's UTC
clock, so a new day (or week) shows fresh missions without anything being reset.

The dashboard's events section is the process's copy of the events on show (``casino.copies``;
their window is checked when shown) with the player's participations in them: one short query,
none when no event runs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from accounts.models import User
from casino.copies import ProcessCopy
from events.definitions import definitions
from events.enums import MissionPeriod
from events.models import Event, EventParticipation, EventProgress, MissionProgress, MissionTemplate
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
    ordered = sorted(
        (template for template in definitions().templates if template.period in periods),
        key=lambda t: (periods.index(t.period), t.sort_order, t.pk),
    )
    by_id = {template.pk: template for template in ordered}
    instances: dict[int, MissionProgress] = {}
    if by_id:
        for found in MissionProgress.objects.filter(
            user_id=user.pk, template_id__in=list(by_id), period_start__in=sorted(set(starts.values()))
        ):
            if found.period_start == starts[by_id[found.template_id].period]:
                instances[found.template_id] = found
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


def _events_on_show_load() -> tuple[dict[str, Any], ...]:
    """Active events not over yet, in the dashboard's order (the window is checked when shown)."""
    rows = (
        Event.objects.filter(is_active=True, ends_at__gt=timezone.now())
        .values("id", "title", "event_type", "image_url", "priority", "starts_at", "ends_at")
        .order_by("-priority", "ends_at", "id")
    )
    return tuple(dict(row) for row in rows)


_events_on_show = ProcessCopy("events.on_show", _events_on_show_load)


def dashboard_events(user: User) -> list[dict[str, Any]]:
    """The events running now (highest priority first, at most ``DASHBOARD_EVENTS_MAX``) with
    whether the player joined, completed and claimed each."""
    now = timezone.now()
    shown = [event for event in _events_on_show.get() if event["starts_at"] <= now < event["ends_at"]]
    shown = shown[:DASHBOARD_EVENTS_MAX]
    mine: dict[int, tuple[bool, Any]] = {}
    if shown:
        rows = EventProgress.objects.filter(participation=OuterRef("pk"))
        mine = {
            # Complete by its flag, or by its requirement rows when the flag lagged them (see
            # events.selectors._Participation.completed).
            event_id: (completed_at is not None or (has_rows and not below), claimed_at)
            for event_id, completed_at, claimed_at, has_rows, below in EventParticipation.objects.filter(
                user_id=user.pk, event_id__in=[event["id"] for event in shown]
            )
            .annotate(has_rows=Exists(rows), below=Exists(rows.filter(value__lt=F("target"))))
            .values_list("event_id", "completed_at", "claimed_at", "has_rows", "below")
        }
    return [
        {
            "id": event["id"],
            "title": event["title"],
            "event_type": event["event_type"],
            "image_url": event["image_url"],
            "priority": event["priority"],
            "end_date": _iso(event["ends_at"]),
            "joined": event["id"] in mine,
            "completed": event["id"] in mine and mine[event["id"]][0],
            "claimed": event["id"] in mine and mine[event["id"]][1] is not None,
        }
        for event in shown
    ]
