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
from functools import lru_cache, partial
from typing import Any

from django.db import connections, router
from django.utils import timezone

from accounts.models import User
from casino.copies import ProcessCopy
from casino.db import column_name, rows_get
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
    found_rows = rows_get(
        MissionProgress,
        user=user.pk,
        among={"template": list(by_id), "period_start": sorted(set(starts.values()))},
    )
    for found in found_rows:
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
    mine: dict[int, tuple[bool, bool]] = {}
    if shown:
        with connections[router.db_for_read(EventParticipation)].cursor() as cursor:
            cursor.execute(_participation_flags_sql(len(shown)), [user.pk, *(event["id"] for event in shown)])
            mine = {
                # Complete by its flag, or by its requirement rows when the flag lagged them (see
                # events.selectors._Participation.completed).
                event_id: (bool(completed) or (bool(has_rows) and not below), bool(claimed))
                for event_id, completed, claimed, has_rows, below in cursor.fetchall()
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
            "claimed": event["id"] in mine and mine[event["id"]][1],
        }
        for event in shown
    ]


@lru_cache(maxsize=DASHBOARD_EVENTS_MAX)
def _participation_flags_sql(events: int) -> str:
    """The player's participations in ``events`` events, each ``(event id, completed,
    claimed, has requirement rows, has a row below its target)``: written out once per
    number of events instead of compiled on every home screen built (its ORM form, two
    ``Exists`` annotations, cost more than the rest of the section)."""
    part, row = partial(column_name, EventParticipation), partial(column_name, EventProgress)
    quote = connections[router.db_for_read(EventParticipation)].ops.quote_name
    table = quote(EventProgress._meta.db_table)
    rows = f"SELECT 1 FROM {table} r WHERE r.{row('participation')} = p.{part('id')}"  # noqa: S608 - names from the models
    return (
        f"SELECT p.{part('event')}, p.{part('completed_at')} IS NOT NULL, p.{part('claimed_at')} IS NOT NULL,"  # noqa: S608 - names from the models
        f" EXISTS ({rows}), EXISTS ({rows} AND r.{row('value')} < r.{row('target')})"
        f" FROM {quote(EventParticipation._meta.db_table)} p"
        f" WHERE p.{part('user')} = %s AND p.{part('event')} IN ({', '.join(['%s'] * events)})"
    )
