"""The one registry of progress metrics that events, missions and achievements choose from.

A metric is fed by one domain event type (``game_round``, ``purchase_update``, ...): given the
event, it says how much the event contributes (0: nothing) and, for metrics that can be limited
to one game, which game. ``aggregation`` says how contributions make progress: ``sum`` adds them
up (rounds played, gold won), ``max`` keeps the best value seen (the longest win streak, the
streak day reached).

Each event type also names its *source key* (``round:{id}``, ``order:{receipt}:fulfilled``...):
the progress engine counts an event once per key, so a subscriber that runs again for the same
round advances nothing twice.

Adding a metric is one :func:`register_metric` next to the subscriber that feeds it
(``events/subscribers.py``); the admin's choices and docs/live-ops.md list what is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from events.enums import Aggregation
from realtime.registry import DomainEvent

Contribution = Callable[[DomainEvent], int]
SourceKey = Callable[[DomainEvent], str | None]
GameOf = Callable[[DomainEvent], str]


@dataclass(frozen=True)
class Metric:
    code: str
    label: str
    description: str
    event_type: str
    contribution: Contribution
    aggregation: str = Aggregation.SUM
    per_game: bool = False  # requirements on this metric may name a game


METRICS: dict[str, Metric] = {}
_SOURCE_KEYS: dict[str, SourceKey] = {}
_GAME_OF: dict[str, GameOf] = {}


def register_source(event_type: str, *, source_key: SourceKey, game_of: GameOf | None = None) -> None:
    """How events of ``event_type`` are told apart (``source_key``; None: not countable) and,
    for per-game metrics, which game they are about."""
    _SOURCE_KEYS[event_type] = source_key
    if game_of is not None:
        _GAME_OF[event_type] = game_of


def register_metric(metric: Metric) -> None:
    if metric.event_type not in _SOURCE_KEYS:
        raise ValueError(f"register the source of {metric.event_type!r} before its metrics")
    existing = METRICS.get(metric.code)
    if existing is not None and existing != metric:
        raise ValueError(f"metric {metric.code!r} is already registered")
    METRICS[metric.code] = metric


def metrics_for(event_type: str) -> list[Metric]:
    return [metric for metric in METRICS.values() if metric.event_type == event_type]


def source_key_of(event: DomainEvent) -> str | None:
    key_of = _SOURCE_KEYS.get(event.type)
    return key_of(event) if key_of is not None else None


def game_of(event: DomainEvent) -> str:
    of = _GAME_OF.get(event.type)
    return of(event) if of is not None else ""


def metric_choices() -> list[tuple[str, str]]:
    """(code, label) of every registered metric, for forms and the admin."""
    return sorted((metric.code, metric.label) for metric in METRICS.values())


def is_metric(code: str) -> bool:
    return code in METRICS
