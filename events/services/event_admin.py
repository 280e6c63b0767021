"""Staff changes of events: creating and editing an event with its requirements, switching it on
and off. Each is one durable transaction that checks its own permission, writes an audit record
(who, before, after, why) and, after commit, bumps the public preview's cache version so the
change shows at once (``events.selectors.public_events_page``).

Requirements are the contract with the players who joined: their progress rows are counted
against them (``EventProgress`` carries metric, game and target). So once anyone has joined,
the requirements stay as they are (``event_requirements_locked``); the window may still move,
and the progress rows follow it in the same transaction. A save locks the event row
``FOR UPDATE``; a join's participation INSERT takes ``FOR KEY SHARE`` on the same row (its foreign
key), so a save and a join never interleave: a join waits for the save and then copies the new
requirements, or the save waits for the join and then sees the participation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from casino.db import one_or_none
from casino.degraded import dependency_failed
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.exceptions import ReasonRequired
from events.exceptions import EventNotFound, EventRequirementsLocked, InvalidEventRequirement
from events.metric_registry import METRICS
from events.models import Event, EventParticipation, EventProgress, EventRequirement
from events.selectors import PUBLIC_EVENTS_VERSION_KEY

ADD_EVENT = "events.add_event"
CHANGE_EVENT = "events.change_event"
FORCE_CLAIM_EVENT = "events.force_claim_event"

# What the audit record keeps of an event (before and after).
EVENT_FIELDS = (
    "title",
    "description",
    "event_type",
    "starts_at",
    "ends_at",
    "image_url",
    "priority",
    "is_active",
    "reward_gold",
    "reward_gems",
    "reward_xp",
    "reward_items",
)


@dataclass(frozen=True, order=True)
class RequirementSpec:
    metric: str
    game: str
    target: int


def event_requirements_check(*, requirements: Sequence[RequirementSpec]) -> None:
    """Refuse (400 ``invalid_event_requirement``, ``fields``) requirements progress could not
    count. The admin's inline asks first, to show the error on the row."""
    problems: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for index, requirement in enumerate(requirements):
        metric = METRICS.get(requirement.metric)
        where = f"requirements[{index}]"
        if metric is None:
            problems[where] = f"{requirement.metric!r} is not a registered metric."
        elif requirement.game and not metric.per_game:
            problems[where] = f"{metric.label} counts every game: leave the game empty."
        elif requirement.target < 1:
            problems[where] = "The target must be at least 1."
        elif (requirement.metric, requirement.game) in seen:
            problems[where] = "The same metric and game twice."
        seen.add((requirement.metric, requirement.game))
    if problems:
        raise InvalidEventRequirement(fields=problems)


def _snapshot(event: Event, requirements: Sequence[RequirementSpec]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in EVENT_FIELDS:
        value = getattr(event, name)
        values[name] = value.isoformat() if hasattr(value, "isoformat") else value
    values["requirements"] = [[r.metric, r.game, r.target] for r in sorted(requirements)]
    return values


def _current_requirements(event_id: int) -> list[RequirementSpec]:
    return sorted(
        RequirementSpec(metric, game, target)
        for metric, game, target in EventRequirement.objects.filter(event_id=event_id).values_list(
            "metric", "game", "target"
        )
    )


def public_events_invalidate() -> None:
    """Bump the public preview's cache version (after commit: a cache that is down is counted
    and logged, never raised; the page then expires after its short TTL)."""
    try:
        cache.add(PUBLIC_EVENTS_VERSION_KEY, 0, timeout=None)
        try:
            cache.incr(PUBLIC_EVENTS_VERSION_KEY)
        except ValueError:  # evicted between add and incr
            cache.set(PUBLIC_EVENTS_VERSION_KEY, 1, timeout=None)
    except Exception as error:  # noqa: BLE001 - after commit: fail quietly (docs/architecture.md)
        dependency_failed(dependency="redis", use="public_events_cache", error=error)


def event_save(*, actor: User, event: Event, requirements: Sequence[RequirementSpec] | None, reason: str) -> Event:
    """Create ``event`` (no primary key yet) or save the staff's changes to it, with its
    requirements (None: unchanged). Needs ``events.add_event`` / ``events.change_event`` and a
    reason; audited with the event before and after. Refuses a change of requirements once
    players joined (409 ``event_requirements_locked``). An entry point."""
    creating = event.pk is None
    staff_permission_require(actor=actor, permission=ADD_EVENT if creating else CHANGE_EVENT)
    if not reason.strip():
        raise ReasonRequired()
    wanted = sorted(requirements) if requirements is not None else None
    if wanted is not None:
        event_requirements_check(requirements=wanted)
    now = timezone.now()
    with transaction.atomic(durable=True):
        if creating:
            before: dict[str, Any] | None = None
            event.created_at = event.updated_at = now
            event.save()
            after_requirements = wanted or []
            EventRequirement.objects.bulk_create(
                [
                    EventRequirement(event=event, metric=r.metric, game=r.game, target=r.target)
                    for r in after_requirements
                ]
            )
        else:
            saved = one_or_none(Event.objects.select_for_update(of=("self",)).filter(pk=event.pk))
            if saved is None:
                raise EventNotFound()
            current = _current_requirements(event.pk)
            before = _snapshot(saved, current)
            after_requirements = current if wanted is None else wanted
            if after_requirements != current:
                if EventParticipation.objects.filter(event_id=event.pk).exists():
                    raise EventRequirementsLocked()
                _requirements_replace(event, current, after_requirements)
            event.created_at = saved.created_at
            event.updated_at = now
            event.save()
            if (saved.starts_at, saved.ends_at) != (event.starts_at, event.ends_at):
                # Progress rows carry the window the progress subscriber filters on.
                EventProgress.objects.filter(participation__event_id=event.pk).update(
                    starts_at=event.starts_at, ends_at=event.ends_at
                )
        audit_record(
            actor=actor,
            action="event_create" if creating else "event_update",
            target=event,
            reason=reason,
            data={"before": before, "after": _snapshot(event, after_requirements)},
        )
        transaction.on_commit(public_events_invalidate)
    return event


def _requirements_replace(event: Event, current: list[RequirementSpec], wanted: list[RequirementSpec]) -> None:
    """Nobody joined (checked by the caller, under the event's lock): rows that changed are
    replaced; no progress row points at them."""
    keep = set(current) & set(wanted)
    for requirement in set(current) - keep:
        EventRequirement.objects.filter(
            event=event, metric=requirement.metric, game=requirement.game, target=requirement.target
        ).delete()
    EventRequirement.objects.bulk_create(
        [
            EventRequirement(event=event, metric=r.metric, game=r.game, target=r.target)
            for r in sorted(set(wanted) - keep)
        ]
    )


def event_set_active(*, actor: User, event_id: int, is_active: bool, reason: str) -> bool:
    """Switch an event on or off (``events.change_event``; audited). Returns whether it changed
    (an event already in that state is left alone, with no audit record). An event switched off
    is hidden from the lists and nobody can join it; those who joined keep their progress (it
    goes on counting in the window) and may still claim what they completed. An entry point."""
    staff_permission_require(actor=actor, permission=CHANGE_EVENT)
    if not reason.strip():
        raise ReasonRequired()
    with transaction.atomic(durable=True):
        event = one_or_none(Event.objects.select_for_update(of=("self",)).filter(pk=event_id))
        if event is None:
            raise EventNotFound()
        if event.is_active == is_active:
            return False
        event.is_active = is_active
        event.updated_at = timezone.now()
        event.save(update_fields=["is_active", "updated_at"])
        audit_record(
            actor=actor,
            action="event_activate" if is_active else "event_deactivate",
            target=event,
            reason=reason,
            data={"is_active": [not is_active, is_active]},
        )
        transaction.on_commit(public_events_invalidate)
    return True
