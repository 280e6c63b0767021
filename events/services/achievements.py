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

from collections.abc import Mapping
from typing import Any

from accounts.models import User
from events.exceptions import AchievementNotFound, InvalidAchievement
from events.models import Achievement, AchievementProgress
from events.services._definitions import (
    Definition,
    definition_create,
    definition_errors,
    definition_set_active,
    definition_update,
)
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


# --- definitions (back office) -----------------------------------------------------------------


def achievement_snapshot(achievement: Achievement) -> dict[str, Any]:
    """The audited columns of an achievement, JSON-ready."""
    return ACHIEVEMENT_DEFINITION.snapshot(achievement)


def achievement_check(values: Mapping[str, Any]) -> None:
    """Refuse (400 ``invalid_achievement`` with ``fields``) an achievement the progress engine
    could not count: an unknown metric, a game on a metric that is not per game, a threshold or a
    reward out of range, item codes that are not slugs, no title."""
    errors = definition_errors(values, goal="threshold", item_example='["lucky-horseshoe"]')
    if errors:
        raise InvalidAchievement(fields=errors)


def _retarget(achievement: Achievement, changed: Mapping[str, Any]) -> dict[str, Any]:
    """A new threshold: the players still on their way take it (how many, for the audit record)."""
    if "threshold" not in changed:
        return {}
    retargeted = AchievementProgress.objects.filter(achievement_id=achievement.pk, unlocked_at__isnull=True).update(
        target=achievement.threshold, updated_at=achievement.updated_at
    )
    return {"retargeted": retargeted}


ACHIEVEMENT_DEFINITION = Definition(
    model=Achievement,
    noun="achievement",
    article="an",
    action="achievement",
    fields=ACHIEVEMENT_FIELDS,
    fixed_after_create=FIXED_AFTER_CREATE,
    add_permission=ADD_ACHIEVEMENT,
    change_permission=CHANGE_ACHIEVEMENT,
    check=achievement_check,
    invalid=InvalidAchievement,
    not_found=AchievementNotFound,
    defaults={"description": "", "game": "", "icon": "", "reward_items": []},
    after_change=_retarget,
)


def achievement_create(*, actor: User, values: Mapping[str, Any], reason: str) -> Achievement:
    """Staff create an achievement (``events.add_achievement``; audited with its values)."""
    return definition_create(ACHIEVEMENT_DEFINITION, actor=actor, values=values, reason=reason)


def achievement_update(*, actor: User, achievement_id: int, changes: Mapping[str, Any], reason: str) -> Achievement:
    """Staff change an achievement's texts, threshold, rewards, placement, hidden flag or switch
    (``events.change_achievement``; audited with the changed columns before and after and, for
    a new threshold, how many players' progress took it). The code, metric and game are fixed
    (see the module docstring)."""
    return definition_update(ACHIEVEMENT_DEFINITION, actor=actor, pk=achievement_id, changes=changes, reason=reason)


def achievement_set_active(*, actor: User, achievement_id: int, is_active: bool, reason: str) -> Achievement:
    """Staff switch an achievement on or off (``events.change_achievement``; audited). Switched
    off, it is no longer counted nor listed; players who unlocked it keep it (and still see it)."""
    return definition_set_active(
        ACHIEVEMENT_DEFINITION, actor=actor, pk=achievement_id, is_active=is_active, reason=reason
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
