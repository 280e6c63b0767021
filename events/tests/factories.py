"""factory-boy factories for events/: events with requirements, mission templates, achievements."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.utils import timezone

from events.models import Achievement, Event, EventRequirement, MissionTemplate


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    title = factory.Sequence(lambda n: f"Event {n}")
    description = "Play to win."
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    reward_gold = 500
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)


def event_with(requirements: dict[str, int] | list[tuple[str, str, int]], **fields: Any) -> Event:
    """An event requiring ``{metric: target}`` (or ``[(metric, game, target)]``)."""
    event = EventFactory(**fields)
    items = [(m, "", t) for m, t in requirements.items()] if isinstance(requirements, dict) else requirements
    for metric, game, target in items:
        EventRequirement.objects.create(event=event, metric=metric, game=game, target=target)
    return event


class MissionTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MissionTemplate

    code = factory.Sequence(lambda n: f"mission-{n}")
    title = factory.Sequence(lambda n: f"Mission {n}")
    period = "daily"
    metric = "rounds_played"
    target = 5
    reward_gold = 100
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)


class AchievementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Achievement

    code = factory.Sequence(lambda n: f"achievement-{n}")
    title = factory.Sequence(lambda n: f"Achievement {n}")
    metric = "rounds_played"
    threshold = 3
    reward_gems = 5
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)
