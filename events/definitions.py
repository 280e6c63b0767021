"""What the progress subscriber counts towards, cached per process: the active mission templates,
the active achievements and the metrics that events still running (or yet to start) require.

Every spin, purchase and login runs the subscriber; reading three tables each time would cost
three statements on the hottest paths for rows staff change a few times a week. So they are
kept in memory and reloaded when

* a definition is saved or deleted — a ``post_save`` / ``post_delete`` receiver (wired in
  ``events/apps.py``) forgets this process's copy at once and, on commit, bumps a version in the
  shared cache (Redis in full mode) that every process compares with on each use (one cache
  GET, no SQL); a change is seen everywhere as soon as it commits;
* or :data:`MAX_AGE_SECONDS` have passed (a safety net: an edit made around the services, with
  the shared cache down, is picked up within a minute).

Cache invalidation only: the receivers change no state of their own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction

from events.models import Achievement, EventRequirement, MissionTemplate
from realtime.degraded import dependency_failed

VERSION_KEY = "events:definitions:version"
MAX_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class Definitions:
    version: Any
    loaded_at: float
    event_metrics: frozenset[str]
    templates: tuple[MissionTemplate, ...]
    achievements: tuple[Achievement, ...]

    def templates_for(self, codes: set[str], game: str) -> list[MissionTemplate]:
        return [t for t in self.templates if t.metric in codes and t.game in ("", game)]

    def achievements_for(self, codes: set[str], game: str) -> list[Achievement]:
        return [a for a in self.achievements if a.metric in codes and a.game in ("", game)]


_loaded: Definitions | None = None


def _shared_version() -> Any:
    try:
        return cache.get(VERSION_KEY)
    except Exception as error:  # noqa: BLE001 - Redis down: fall back to the age limit
        dependency_failed(dependency="cache", use="progress definitions", error=error)
        return None


def definitions(*, now: datetime) -> Definitions:
    """The definitions in force (reloaded when changed or older than :data:`MAX_AGE_SECONDS`)."""
    global _loaded
    version = _shared_version()
    loaded = _loaded
    if loaded is not None and loaded.version == version and time.monotonic() - loaded.loaded_at < MAX_AGE_SECONDS:
        return loaded
    loaded = Definitions(
        version=version,
        loaded_at=time.monotonic(),
        event_metrics=frozenset(
            EventRequirement.objects.filter(event__ends_at__gt=now).values_list("metric", flat=True).distinct()
        ),
        templates=tuple(MissionTemplate.objects.filter(is_active=True)),
        achievements=tuple(Achievement.objects.filter(is_active=True)),
    )
    _loaded = loaded
    return loaded


def definitions_forget() -> None:
    """Drop this process's copy (the next use reloads it)."""
    global _loaded
    _loaded = None


def _bump_shared_version() -> None:
    definitions_forget()
    try:
        cache.set(VERSION_KEY, time.time_ns(), timeout=None)
    except Exception as error:  # noqa: BLE001 - after commit: never raise; the age limit catches up
        dependency_failed(dependency="cache", use="progress definitions", error=error)


def definitions_changed(**_: Any) -> None:
    """A definition changed (signal receiver): forget now, tell every process on commit."""
    definitions_forget()
    transaction.on_commit(_bump_shared_version, robust=True)
