"""Row-lock helpers of events/: a participation or a mission instance, locked by primary key
(``select_for_update(of=("self",))``). A claim locks its row first, then (inside the economy's
posting) the wallet: the same order everywhere."""

from __future__ import annotations

from datetime import date

from casino.db import one_or_none, row_get
from events.models import EventParticipation, MissionProgress


def participation_lock(*, event_id: int, user_id: int) -> EventParticipation | None:
    return one_or_none(
        EventParticipation.objects.select_for_update(of=("self",), no_key=True).filter(
            event_id=event_id, user_id=user_id
        )
    )


def mission_instance_lock(*, template_id: int, user_id: int, start: date) -> MissionProgress | None:
    """The player's instance of a template for the period starting ``start``, locked: by its
    unique key, in one statement written out once (``casino.db.row_get``)."""
    return row_get(MissionProgress, lock=True, template=template_id, user=user_id, period_start=start)
