"""Row-lock helpers of events/: a participation or a mission instance, locked by primary key
(``select_for_update(of=("self",))``). A claim locks its row first, then (inside the economy's
posting) the wallet: the same order everywhere."""

from __future__ import annotations

from casino.db import one_or_none
from events.models import EventParticipation, MissionProgress


def participation_lock(*, event_id: int, user_id: int) -> EventParticipation | None:
    return one_or_none(
        EventParticipation.objects.select_for_update(of=("self",)).filter(event_id=event_id, user_id=user_id)
    )


def mission_progress_lock(*, progress_id: int) -> MissionProgress | None:
    return one_or_none(MissionProgress.objects.select_for_update(of=("self",)).filter(pk=progress_id))
