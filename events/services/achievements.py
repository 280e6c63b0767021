"""Achievements: the back office's changes to their definitions, and what an unlock tells the
player's inbox.

Players' progress is written by ``events.services.progress`` from domain events, never here:
an achievement unlocks when the player's value reaches the threshold, once, and its reward is
paid once (ledger key ``achievement:{user}:{code}``).

Staff change definitions through :func:`achievement_create`, :func:`achievement_update` and
:func:`achievement_set_active`: each checks its own permission first, validates against the
metric registry, and records who, before, after and why. An achievement's code, metric and game
are fixed once it exists (players' progress counts towards them; a different goal is a new
achievement). A new **threshold** applies to every player who has not unlocked it yet: their
progress rows take the new target in the same transaction (so a player is never stuck on a
threshold staff corrected). Lowered below a player's value, the achievement unlocks — with its
reward — at the player's next counted action of that metric; raised, a player who already
unlocked it keeps it. Achievements are switched off, never deleted (progress and the ledger's
references point at them); switched off, one is no longer counted nor listed, except to the
players who unlocked it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from casino.db import one_or_none
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.exceptions import ReasonRequired
from events.exceptions import AchievementNotFound, InvalidAchievement
from events.metric_registry import METRICS
from events.models import Achievement, AchievementProgress
from realtime.notifications.builders import Draft
from realtime.registry import DomainEvent

ADD_ACHIEVEMENT = "events.add_achievement"
CHANGE_ACHIEVEMENT = "events.change_achievement"

# What staff may set on an achievement, and what is fixed once it exists.
ACHIEVEMENT_FIELDS = (
    "code",
    "title",
    "description",
    "metric",
    "game",
    "threshold",
    "icon",
    "is_hidden",
    "is_active",
    "sort_order",
    "reward_gold",
    "reward_gems",
    "reward_xp",
    "reward_items",
)
FIXED_AFTER_CREATE = ("code", "metric", "game")
MAX_REWARD = 10**9  # a sanity bound on one achievement's reward of one currency
MAX_THRESHOLD = 10**15
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


# --- definitions (back office) -----------------------------------------------------------------


def achievement_snapshot(achievement: Achievement) -> dict[str, Any]:
    """The audited columns of an achievement, JSON-ready."""
    return {name: getattr(achievement, name) for name in ACHIEVEMENT_FIELDS}


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def achievement_check(values: Mapping[str, Any]) -> None:
    """Refuse (400 ``invalid_achievement`` with ``fields``) an achievement the progress engine
    could not count: an unknown metric, a game on a metric that is not per game, a threshold or a
    reward out of range, item codes that are not slugs, no title."""
    errors: dict[str, str] = {}
    metric = METRICS.get(str(values.get("metric", "")))
    if metric is None:
        errors["metric"] = "Choose a metric of the registry."
    game = values.get("game", "") or ""
    if game:
        if not isinstance(game, str) or not _SLUG.match(game) or len(game) > 16:
            errors["game"] = "A game code (slot, crash, rps, gacha), or empty for any game."
        elif metric is not None and not metric.per_game:
            errors["game"] = f"{metric.label} is not counted per game: leave the game empty."
    code = values.get("code")
    if not isinstance(code, str) or not _SLUG.match(code):
        errors["code"] = "Lower-case letters, digits, - and _ (at most 64)."
    if not _whole(values.get("threshold"), 1, MAX_THRESHOLD):
        errors["threshold"] = "A whole number above 0."
    for name in ("reward_gold", "reward_gems", "reward_xp"):
        if not _whole(values.get(name, 0), 0, MAX_REWARD):
            errors[name] = f"A whole number from 0 to {MAX_REWARD:,}."
    items = values.get("reward_items", [])
    if not isinstance(items, list) or not all(isinstance(item, str) and _SLUG.match(item) for item in items):
        errors["reward_items"] = 'A list of item codes, e.g. ["lucky-horseshoe"].'
    if not str(values.get("title", "")).strip():
        errors["title"] = "A title players see."
    if errors:
        raise InvalidAchievement(fields=errors)


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired()
    return reason.strip()


def _known_fields(values: Mapping[str, Any]) -> None:
    unknown = set(values) - set(ACHIEVEMENT_FIELDS)
    if unknown:
        raise ValueError(f"not achievement fields: {sorted(unknown)}")


def achievement_create(*, actor: User, values: Mapping[str, Any], reason: str) -> Achievement:
    """Staff create an achievement (``events.add_achievement``; audited with its values)."""
    staff_permission_require(actor=actor, permission=ADD_ACHIEVEMENT)
    reason = _reason(reason)
    _known_fields(values)
    fields = {"description": "", "game": "", "icon": "", "reward_items": [], **values}
    achievement_check(fields)
    now = timezone.now()
    with transaction.atomic(durable=True):
        if Achievement.objects.filter(code=fields["code"]).exists():
            raise InvalidAchievement(fields={"code": "An achievement with this code exists."})
        achievement = Achievement.objects.create(**fields, created_at=now, updated_at=now)
        audit_record(
            actor=actor,
            action="achievement_create",
            target=achievement,
            reason=reason,
            data={"before": None, "after": achievement_snapshot(achievement)},
        )
    return achievement


def _locked(achievement_id: int) -> Achievement:
    achievement = one_or_none(Achievement.objects.select_for_update(of=("self",)).filter(pk=achievement_id))
    if achievement is None:
        raise AchievementNotFound()
    return achievement


def _write_changes(
    actor: User, achievement: Achievement, changes: Mapping[str, Any], *, action: str, reason: str
) -> Achievement:
    """Save the columns that differ, retarget the players still on their way when the threshold
    changed, and audit both; nothing differs: nothing written."""
    before = achievement_snapshot(achievement)
    changed = {name: value for name, value in changes.items() if before[name] != value}
    if not changed:
        return achievement
    for name, value in changed.items():
        setattr(achievement, name, value)
    achievement_check(achievement_snapshot(achievement))
    achievement.updated_at = timezone.now()
    achievement.save(update_fields=[*sorted(changed), "updated_at"])
    data: dict[str, Any] = {
        "before": {name: before[name] for name in sorted(changed)},
        "after": {name: changed[name] for name in sorted(changed)},
    }
    if "threshold" in changed:
        data["retargeted"] = AchievementProgress.objects.filter(
            achievement_id=achievement.pk, unlocked_at__isnull=True
        ).update(target=achievement.threshold, updated_at=achievement.updated_at)
    audit_record(actor=actor, action=action, target=achievement, reason=reason, data=data)
    return achievement


def achievement_update(*, actor: User, achievement_id: int, changes: Mapping[str, Any], reason: str) -> Achievement:
    """Staff change an achievement's texts, threshold, rewards, placement, hidden flag or switch
    (``events.change_achievement``; audited with the changed columns before and after and, for
    a new threshold, how many players' progress took it). The code, metric and game are fixed
    (see the module docstring)."""
    staff_permission_require(actor=actor, permission=CHANGE_ACHIEVEMENT)
    reason = _reason(reason)
    _known_fields(changes)
    with transaction.atomic(durable=True):
        achievement = _locked(achievement_id)
        refused = {
            name: "Fixed once the achievement exists: create a new achievement instead."
            for name in FIXED_AFTER_CREATE
            if name in changes and changes[name] != getattr(achievement, name)
        }
        if refused:
            raise InvalidAchievement(fields=refused)
        return _write_changes(actor, achievement, changes, action="achievement_update", reason=reason)


def achievement_set_active(*, actor: User, achievement_id: int, is_active: bool, reason: str) -> Achievement:
    """Staff switch an achievement on or off (``events.change_achievement``; audited). Switched
    off, it is no longer counted nor listed; players who unlocked it keep it (and still see it)."""
    staff_permission_require(actor=actor, permission=CHANGE_ACHIEVEMENT)
    reason = _reason(reason)
    with transaction.atomic(durable=True):
        achievement = _locked(achievement_id)
        return _write_changes(
            actor,
            achievement,
            {"is_active": is_active},
            action="achievement_activate" if is_active else "achievement_deactivate",
            reason=reason,
        )


# --- the inbox -----------------------------------------------------------------------------------


def achievement_unlocked_notification(event: DomainEvent) -> Draft | None:
    """The notification builder of ``achievement_progress`` (registered in events/apps.py): an
    inbox entry only for the unlock itself (``unlocked_now``), never for progress on the way. The
    reward, if any, has its own entry (``reward_granted``, source ``achievement``)."""
    data = event.data
    if data.get("unlocked_now") is not True:
        return None
    title = str(data.get("title") or data.get("code") or "an achievement")
    return Draft(
        kind="achievement_unlocked",
        title="Achievement unlocked",
        body=f"You unlocked “{title}”.",
        data={"code": data.get("code"), "achievement_id": data.get("achievement_id"), "title": title},
    )
