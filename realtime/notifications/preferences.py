"""The player's notification channels: which ones accept promotional messages.

A player without a :class:`~realtime.models.NotificationSettings` row accepts
every channel, so the table only holds the players who changed something and a
campaign to millions of players reads only those rows. What the player's own
actions cause (a purchase settled, a reward paid) is not promotional and is
not governed by these switches.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from realtime.models import NotificationSettings

CHANNELS: Final = ("in_app", "push", "email")
# Ids per query: PostgreSQL takes far more, but a campaign's audience can be
# every player and one statement with millions of parameters is slow to plan.
_CHUNK = 10_000


def notification_settings_get(*, user: AbstractBaseUser) -> NotificationSettings:
    """The stored settings, or unsaved defaults (every channel on) for a player
    who never changed them; the caller cannot tell the two apart, on purpose."""
    stored = NotificationSettings.objects.filter(user_id=user.pk).first()
    if stored is not None:
        return stored
    return NotificationSettings(user_id=user.pk)


@transaction.atomic(durable=True)
def notification_settings_update(
    *,
    user: AbstractBaseUser,
    in_app: bool | None = None,
    push: bool | None = None,
    email: bool | None = None,
) -> NotificationSettings:
    """Change the channels given (``None``: leave as they are) in one upsert, so
    two parallel changes of one player never collide on creating the row and
    each keeps the other's switches. Nothing given: nothing written."""
    changes = {
        name: value for name, value in (("in_app", in_app), ("push", push), ("email", email)) if value is not None
    }
    if not changes:
        return notification_settings_get(user=user)
    NotificationSettings.objects.bulk_create(
        [NotificationSettings(user_id=user.pk, updated_at=timezone.now(), **changes)],
        update_conflicts=True,
        unique_fields=["user"],
        update_fields=[*changes, "updated_at"],
    )
    # The upsert returns only the key; the switches not given come from the row.
    return NotificationSettings.objects.get(user_id=user.pk)


def players_accepting(*, user_ids: Iterable[int], channel: str) -> set[int]:
    """Those of ``user_ids`` whose settings accept ``channel`` (no row: accepted).
    Reads only the refusals, one query per ``_CHUNK`` ids."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown notification channel {channel!r}; one of {', '.join(CHANNELS)}")
    wanted = list(dict.fromkeys(user_ids))
    accepting = set(wanted)
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        accepting.difference_update(
            NotificationSettings.objects.filter(user_id__in=chunk, **{channel: False}).values_list("user_id", flat=True)
        )
    return accepting
