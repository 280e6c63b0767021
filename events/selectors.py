"""Reads of events/ shared by several callers (views, other apps, admin): the player's events with
their progress, the public event preview (cached, with its ETag), and the back office's preview of
how many players an event's requirements would already match.

The event payload is the client contract's (``docs/live-ops.md`` § Events)::

    {id, title, description, event_type, status, start_date, end_date, is_active, created_at,
     rewards{gold, gems, exp, xp, items}, requirements{key: target}, requirement_list[{key, metric,
     game, target, label}], image_url, priority, participation_count,
     user_participation{joined, progress{key: value}, completed, claimed, progress_version, ...}}

A requirement's ``key`` is its metric, or ``metric:game`` when it counts one game only (an event
may ask for ``rounds_played`` in any game and ``rounds_played:slot`` at once).

Queries for a list, whatever its length: the caller's participations with their progress (one, a
LEFT JOIN). The events and their requirements are the process's copy of the active events not
over yet (``casino.copies``: reloaded when staff change one; the window is checked when listed),
and ``participation_count`` comes from a per-process count of every listed event's players,
refreshed every ``PARTICIPATION_COUNTS_SECONDS`` (a display figure: counting every
participation of every event on every list grew with the players).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from casino.copies import ProcessCopy
from casino.db import column_name, row_columns, row_from_values
from casino.degraded import dependency_failed
from events.metric_registry import METRICS, game_of, source_key_of
from events.models import Event, EventParticipation, EventProgress, EventRequirement
from realtime.selectors import domain_events_since

# The player's lists: at most this many events, highest priority first (the client reads a plain
# list, so there is no page envelope; live ops run a handful of events at a time).
EVENT_LIST_LIMIT = 100
# How old the listed events' participation counts may be.
PARTICIPATION_COUNTS_SECONDS = 10.0


def requirement_key(metric: str, game: str) -> str:
    return f"{metric}:{game}" if game else metric


def requirement_label(metric: str, game: str, target: int) -> str:
    registered = METRICS.get(metric)
    name = registered.label if registered is not None else metric
    return f"{name}{f' ({game})' if game else ''} ≥ {target:,}"


def event_status(event: Event, now: datetime) -> str:
    if event.ends_at <= now:
        return "ended"
    if event.starts_at > now:
        return "upcoming"
    return "running"


def _events() -> QuerySet[Event]:
    return (
        Event.objects.filter(is_active=True)
        .prefetch_related(Prefetch("requirements", queryset=EventRequirement.objects.order_by("id")))
        .order_by("-priority", "starts_at", "id")
    )


def _events_listed_load() -> tuple[Event, ...]:
    return tuple(_events().filter(ends_at__gt=timezone.now()))


# Active events not over when loaded, with their requirements, in the lists' order. Shared: the
# caller must not change them.
_events_listed = ProcessCopy("events.listed", _events_listed_load)


def _participation_counts_load() -> dict[int, int]:
    rows = (
        EventParticipation.objects.filter(event__is_active=True, event__ends_at__gt=timezone.now())
        .values("event")
        .annotate(players=Count("id"))
        .values_list("event", "players")
    )
    return dict(rows)


_participation_counts = ProcessCopy(
    "events.participation_counts", _participation_counts_load, max_age=PARTICIPATION_COUNTS_SECONDS
)


def participation_count(event: Event) -> int:
    """Players who joined ``event``: for a listed event, from the process's counts (at most
    ``PARTICIPATION_COUNTS_SECONDS`` old); for one over or switched off (a detail, not a list),
    counted now."""
    counts = _participation_counts.get()
    if event.pk in counts:
        return counts[event.pk]
    if event.is_active and event.ends_at > timezone.now():
        return 0  # counted with the others (no one had joined by then)
    return EventParticipation.objects.filter(event_id=event.pk).count()


def events_visible(*, now: datetime | None = None) -> list[Event]:
    """Active events running now or still to come (``GET /api/events/``, the public preview):
    the process's copy, no statement. Shared: the caller must not change them."""
    now = now or timezone.now()
    return [event for event in _events_listed.get() if event.ends_at > now][:EVENT_LIST_LIMIT]


def events_running(*, now: datetime | None = None) -> list[Event]:
    """Active events running now (``GET /api/events/active``): the process's copy, no
    statement. Shared: the caller must not change them."""
    now = now or timezone.now()
    return [event for event in _events_listed.get() if event.starts_at <= now < event.ends_at][:EVENT_LIST_LIMIT]


def event_visible(event_id: int) -> Event | None:
    """One active event, whether it runs, is to come or has ended (a player who completed it
    still finds it to claim); a deactivated one is not shown."""
    return _events().filter(pk=event_id).first()


def rewards_payload(event: Event) -> dict[str, Any]:
    return {
        "gold": event.reward_gold,
        "gems": event.reward_gems,
        "exp": event.reward_xp,
        "xp": event.reward_xp,
        "items": list(event.reward_items or []),
    }


def event_public_payload(event: Event, now: datetime) -> dict[str, Any]:
    """What anyone may see of an event (no player's data)."""
    requirements = list(event.requirements.all())
    return {
        "id": event.pk,
        "title": event.title,
        "description": event.description,
        "event_type": event.event_type,
        "status": event_status(event, now),
        "start_date": event.starts_at,
        "end_date": event.ends_at,
        "is_active": event.is_active,
        "rewards": rewards_payload(event),
        "requirements": {requirement_key(r.metric, r.game): r.target for r in requirements},
        "requirement_list": [
            {
                "key": requirement_key(r.metric, r.game),
                "metric": r.metric,
                "game": r.game,
                "target": r.target,
                "label": requirement_label(r.metric, r.game, r.target),
            }
            for r in requirements
        ],
        "image_url": event.image_url,
        "priority": event.priority,
        "participation_count": participation_count(event),
    }


@dataclass
class _Participation:
    id: int
    event_id: int
    joined_at: datetime
    progress_version: int
    completed_at: datetime | None
    claimed_at: datetime | None
    progress: dict[str, int] = field(default_factory=dict)
    below_target: int = 0  # requirement rows still short of their target

    @property
    def completed(self) -> bool:
        """Complete by its flag, or by its rows when the flag lagged them (two kinds of progress
        finishing the last two requirements in parallel transactions; a claim sets the flag)."""
        return self.completed_at is not None or (bool(self.progress) and not self.below_target)


def _participations(user_id: int, event_ids: Iterable[int]) -> dict[int, _Participation]:
    """The player's participations in these events with their progress: one query (a LEFT JOIN of
    the progress rows; a participation without requirements comes back once, with NULLs)."""
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return {}
    with connections[router.db_for_read(EventParticipation)].cursor() as cursor:
        cursor.execute(_participations_sql(len(ids)), [user_id, *ids])
        rows = cursor.fetchall()
    found: dict[int, _Participation] = {}
    width = _PARTICIPATION_COLUMNS
    for row in rows:
        metric, game, value, target = row[width:]
        participation = found.get(row[_PARTICIPATION_EVENT])
        if participation is None:
            one = row_from_values(EventParticipation, row[:width])
            participation = found[one.event_id] = _Participation(
                one.pk, one.event_id, one.joined_at, one.progress_version, one.completed_at, one.claimed_at
            )
        if metric is not None:
            participation.progress[requirement_key(metric, game)] = int(value)
            participation.below_target += int(value) < int(target)
    return found


_PARTICIPATION_COLUMNS = len(EventParticipation._meta.concrete_fields)
_PARTICIPATION_EVENT = [f.attname for f in EventParticipation._meta.concrete_fields].index("event_id")


@lru_cache(maxsize=EVENT_LIST_LIMIT)
def _participations_sql(events: int) -> str:
    """The player's participations in ``events`` events, each with its progress rows (every
    column of the participation, then the row's metric, game, value and target; NULLs for a
    participation without rows), in the participations' order: written out once per number of
    events instead of compiled on every list (the ORM's compile was a fifth of the list's CPU)."""
    part, row = partial(column_name, EventParticipation), partial(column_name, EventProgress)
    quote = connections[router.db_for_read(EventParticipation)].ops.quote_name
    return (
        f"SELECT {row_columns(EventParticipation, table='p')},"  # noqa: S608 - names from the models
        f" r.{row('metric')}, r.{row('game')}, r.{row('value')}, r.{row('target')}"
        f" FROM {quote(EventParticipation._meta.db_table)} p"
        f" LEFT JOIN {quote(EventProgress._meta.db_table)} r ON r.{row('participation')} = p.{part('id')}"
        f" WHERE p.{part('user')} = %s AND p.{part('event')} IN ({', '.join(['%s'] * events)})"
        f" ORDER BY p.{part('id')}, r.{row('id')}"
    )


def _user_participation(event: Event, participation: _Participation | None) -> dict[str, Any]:
    if participation is None:
        return {
            "joined": False,
            "progress": {},
            "completed": False,
            "claimed": False,
            "progress_version": 0,
            "joined_at": None,
            "completed_at": None,
            "claimed_at": None,
        }
    progress = {requirement_key(r.metric, r.game): 0 for r in event.requirements.all()}
    progress.update(participation.progress)
    return {
        "joined": True,
        "progress": progress,
        "completed": participation.completed,
        "claimed": participation.claimed_at is not None,
        "progress_version": participation.progress_version,
        "joined_at": participation.joined_at,
        "completed_at": participation.completed_at,
        "claimed_at": participation.claimed_at,
    }


def event_payloads(events: list[Event], *, user_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """The events as the player sees them, with their own participation (one query for all)."""
    now = now or timezone.now()
    participations = _participations(user_id, [event.pk for event in events])
    return [
        {
            **event_public_payload(event, now),
            "created_at": event.created_at,
            "user_participation": _user_participation(event, participations.get(event.pk)),
        }
        for event in events
    ]


def participation_payload(participation: EventParticipation) -> dict[str, Any]:
    """A participation as the join answer shows it (the original's EventParticipationResponse)."""
    found = _participations(participation.user_id, [participation.event_id]).get(participation.event_id)
    assert found is not None, "the participation was just read"
    progress = {requirement_key(r.metric, r.game): 0 for r in participation.event.requirements.all()}
    progress.update(found.progress)
    return {
        "id": found.id,
        "user_id": participation.user_id,
        "event_id": found.event_id,
        "joined": True,
        "progress": progress,
        "progress_version": found.progress_version,
        "completed": found.completed,
        "claimed": found.claimed_at is not None,
        "claimed_rewards": found.claimed_at is not None,
        "joined_at": found.joined_at,
        "completed_at": found.completed_at,
        "claimed_at": found.claimed_at,
    }


# --- The public preview: cached, with an ETag ---------------------------------------------------

PUBLIC_EVENTS_VERSION_KEY = "events-public-version"


@dataclass(frozen=True)
class PublicEventsPage:
    etag: str  # quoted, as the ETag header carries it
    body: bytes  # the rendered JSON


def public_events_cache_seconds(events: list[Event], now: datetime) -> int:
    """How long the page may be cached: ``PUBLIC_EVENTS_CACHE_SECONDS``, or less when an event
    starts or ends sooner (the page must not show an event after its end for long)."""
    ttl = int(getattr(settings, "PUBLIC_EVENTS_CACHE_SECONDS", 30))
    for event in events:
        for moment in (event.starts_at, event.ends_at):
            if moment > now:
                ttl = min(ttl, max(1, int((moment - now).total_seconds()) + 1))
    return ttl


def public_events_page(*, render: Callable[[list[dict[str, Any]]], bytes]) -> PublicEventsPage:
    """The public list (running and upcoming events, no player's data) as rendered bytes with
    their ETag, cached under the current version (the back office's saves bump it after commit,
    so a change shows at once; the TTL covers counts and windows). Redis down: built from
    PostgreSQL and served uncached, counted and logged (never an error)."""
    key: str | None = None
    cached: dict[str, Any] | None = None
    try:
        version = cache.get(PUBLIC_EVENTS_VERSION_KEY, 0)
        key = f"events-public:{version}"
        cached = cache.get(key)
    except Exception as error:  # noqa: BLE001 - fail open: the page is built from PostgreSQL
        dependency_failed(dependency="redis", use="public_events_cache", error=error)
    if cached is None:
        now = timezone.now()
        events = events_visible(now=now)
        body = render([event_public_payload(event, now) for event in events])
        cached = {"etag": f'"{hashlib.sha256(body).hexdigest()[:32]}"', "body": body}
        if key is not None:
            try:
                cache.set(key, cached, timeout=public_events_cache_seconds(events, now))
            except Exception as error:  # noqa: BLE001 - served uncached
                dependency_failed(dependency="redis", use="public_events_cache", error=error)
    return PublicEventsPage(etag=cached["etag"], body=cached["body"])


# --- The back office's preview: who would already qualify ---------------------------------------

# The preview replays at most this many days of history, and at most this many source events.
PREVIEW_MAX_DAYS = 30
PREVIEW_MAX_EVENTS = 200_000


@dataclass(frozen=True)
class RequirementPreview:
    key: str
    label: str
    players_meeting: int
    known_metric: bool


@dataclass(frozen=True)
class EventPreview:
    """How many players the requirements would already match over ``since``..``until``."""

    players_matching: int  # players meeting every requirement
    players_seen: int  # players with any counted activity of the requirements' metrics
    requirements: list[RequirementPreview]
    since: datetime
    until: datetime
    source: str  # "clickhouse" or "postgresql"
    complete_since: datetime  # history before this may be missing from the source
    events_read: int
    truncated: bool


def event_requirements_preview(
    *, requirements: list[tuple[str, str, int]], days: int, now: datetime | None = None
) -> EventPreview:
    """Replay the last ``days`` days (capped at :data:`PREVIEW_MAX_DAYS`) of the domain events
    that feed the requirements' metrics through the registry's own ``contribution`` functions,
    per player: ``sum`` metrics add up, ``max`` metrics keep the best value; an event counts once
    per source key (as live progress does). A player matches when every requirement reaches its
    target. This is what the players *did* in that window, not what they would have joined:
    live progress only counts after a player joins, inside the event's window."""
    now = now or timezone.now()
    days = max(1, min(int(days), PREVIEW_MAX_DAYS))
    since = now - timedelta(days=days)
    metrics = {metric: METRICS[metric] for metric, _, _ in requirements if metric in METRICS}
    history = domain_events_since(
        {metric.event_type for metric in metrics.values()}, since, until=now, limit=PREVIEW_MAX_EVENTS
    )
    values: dict[tuple[int, int], int] = defaultdict(int)  # (requirement index, player) -> value
    seen: set[int] = set()
    counted: set[str] = set()
    for event in history.events:
        if event.user_id is None:
            continue
        key = source_key_of(event) or f"event:{event.event_id}"
        if key in counted:
            continue
        counted.add(key)
        game = game_of(event)
        for index, (metric_code, requirement_game, _) in enumerate(requirements):
            metric = metrics.get(metric_code)
            if metric is None or metric.event_type != event.type:
                continue
            if requirement_game and requirement_game != game:
                continue
            amount = metric.contribution(event)
            if amount <= 0:
                continue
            seen.add(event.user_id)
            slot = (index, event.user_id)
            values[slot] = max(values[slot], amount) if metric.aggregation == "max" else values[slot] + amount
    meeting: list[set[int]] = [
        {player for (index, player), value in values.items() if index == position and value >= target}
        for position, (_, _, target) in enumerate(requirements)
    ]
    matching = set.intersection(*meeting) if meeting else set()
    return EventPreview(
        players_matching=len(matching),
        players_seen=len(seen),
        requirements=[
            RequirementPreview(
                key=requirement_key(metric, game),
                label=requirement_label(metric, game, target),
                players_meeting=len(meeting[position]),
                known_metric=metric in metrics,
            )
            for position, (metric, game, target) in enumerate(requirements)
        ],
        since=history.since,
        until=history.until,
        source=history.source,
        complete_since=history.complete_since,
        events_read=len(history.events),
        truncated=history.truncated,
    )


def event_preview(event: Event, *, now: datetime | None = None) -> EventPreview:
    """:func:`event_requirements_preview` for a saved event, over the last N days where N is the
    event's length (at least one day, at most :data:`PREVIEW_MAX_DAYS`)."""
    length_days = (event.ends_at - event.starts_at).total_seconds() / 86400
    requirements = [(r.metric, r.game, r.target) for r in event.requirements.order_by("id")]
    return event_requirements_preview(requirements=requirements, days=max(1, round(length_days)), now=now)
