"""Reads of achievements: the catalogue a player sees and the player's progress.

**What a player sees.** One rule for both lists: an achievement is shown to a player when it is
active and not hidden, or when that player unlocked it (a hidden one then reveals itself, and
one switched off after the player unlocked it stays in their list). A hidden achievement the
player has not unlocked is left out entirely — no title, description, metric, threshold or
reward, not even a placeholder; only their number shows (``summary.hidden_remaining``), so a
client can say "3 secret achievements to discover".

One query per answer, whatever the number of achievements: the definitions LEFT JOIN the
caller's progress row (the unique (achievement, player) index), filtered by the rule above.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, FilteredRelation, Q

from events.models import Achievement


@dataclass(frozen=True)
class PlayerAchievements:
    """The achievements a player sees (in catalogue order) and the summary of them."""

    items: list[dict[str, Any]]
    unlocked: int
    total: int
    hidden_remaining: int

    @property
    def summary(self) -> dict[str, int]:
        return {"unlocked": self.unlocked, "total": self.total, "hidden_remaining": self.hidden_remaining}


def achievement_rewards(achievement: Achievement) -> dict[str, Any]:
    """The reward bundle, every currency present."""
    return {
        "gold": achievement.reward_gold,
        "gems": achievement.reward_gems,
        "xp": achievement.reward_xp,
        "items": list(achievement.reward_items),
    }


def achievement_definition(achievement: Achievement) -> dict[str, Any]:
    """An achievement as the catalogue shows it (only ever for one the caller may see)."""
    return {
        "id": achievement.pk,
        "code": achievement.code,
        "title": achievement.title,
        "description": achievement.description,
        "icon": achievement.icon,
        "metric": achievement.metric,
        "game": achievement.game or None,
        "threshold": achievement.threshold,
        "hidden": achievement.is_hidden,
        "rewards": achievement_rewards(achievement),
    }


def achievements_for_user(*, user_id: int) -> PlayerAchievements:
    """Every achievement the player sees (see the module docstring), each with the player's
    ``progress``, ``threshold`` (the target their progress counts towards: the definition's
    until they unlock it), ``unlocked`` and ``unlocked_at``; hidden ones not yet unlocked only
    counted. One query."""
    rows = (
        Achievement.objects.annotate(
            mine=FilteredRelation("progress", condition=Q(progress__user_id=user_id)),
            mine_value=F("mine__value"),
            mine_target=F("mine__target"),
            mine_unlocked_at=F("mine__unlocked_at"),
        )
        .filter(Q(is_active=True) | Q(mine__unlocked_at__isnull=False))
        .order_by("sort_order", "id")
    )
    items: list[dict[str, Any]] = []
    hidden_remaining = 0
    for achievement in rows:
        unlocked_at: datetime | None = achievement.mine_unlocked_at
        if achievement.is_hidden and unlocked_at is None:
            hidden_remaining += 1
            continue
        value = achievement.mine_value
        target = achievement.mine_target
        items.append(
            {
                **achievement_definition(achievement),
                "threshold": int(target) if target is not None else achievement.threshold,
                "progress": int(value) if value is not None else 0,
                "unlocked": unlocked_at is not None,
                "unlocked_at": unlocked_at,
            }
        )
    unlocked = sum(1 for item in items if item["unlocked"])
    return PlayerAchievements(items=items, unlocked=unlocked, total=len(items), hidden_remaining=hidden_remaining)


def achievement_catalogue(*, user_id: int) -> list[dict[str, Any]]:
    """The catalogue as the player may see it: the definitions of :func:`achievements_for_user`
    (the definition's own threshold), without progress."""
    return [
        achievement_definition(achievement)
        for achievement in Achievement.objects.annotate(
            mine=FilteredRelation("progress", condition=Q(progress__user_id=user_id))
        )
        .filter(Q(is_active=True, is_hidden=False) | Q(mine__unlocked_at__isnull=False))
        .order_by("sort_order", "id")
    ]
