"""What the progress subscriber counts towards, kept per process: the active mission templates,
the active achievements and the metrics that events still running (or yet to start) require.

Every spin, purchase and login runs the subscriber; reading three tables each time would cost
three statements on the hottest paths for rows staff change a few times a week. So they are a
``casino.copies.ProcessCopy``, reloaded when a definition is saved or deleted (the models are
watched in ``events/apps.py``) or after a minute.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from casino.copies import ProcessCopy
from events.models import Achievement, EventRequirement, MissionTemplate


@dataclass(frozen=True)
class Definitions:
    event_metrics: frozenset[str]
    templates: tuple[MissionTemplate, ...]
    achievements: tuple[Achievement, ...]

    def templates_for(self, codes: set[str], game: str) -> list[MissionTemplate]:
        return [t for t in self.templates if t.metric in codes and t.game in ("", game)]

    def achievements_for(self, codes: set[str], game: str) -> list[Achievement]:
        return [a for a in self.achievements if a.metric in codes and a.game in ("", game)]


def _load() -> Definitions:
    now = timezone.now()
    return Definitions(
        event_metrics=frozenset(
            EventRequirement.objects.filter(event__ends_at__gt=now).values_list("metric", flat=True).distinct()
        ),
        templates=tuple(MissionTemplate.objects.filter(is_active=True)),
        achievements=tuple(Achievement.objects.filter(is_active=True)),
    )


_definitions = ProcessCopy("events.definitions", _load)


def definitions() -> Definitions:
    """The definitions in force (reloaded when one changed, or after ``casino.copies.MAX_AGE_SECONDS``)."""
    return _definitions.get()
