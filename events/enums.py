"""TextChoices of events/: event kinds, mission periods."""

from __future__ import annotations

from django.db import models


class EventType(models.TextChoices):
    CHALLENGE = "challenge", "Challenge"
    TOURNAMENT = "tournament", "Tournament"
    SEASONAL = "seasonal", "Seasonal"
    SPECIAL = "special", "Special"


class MissionPeriod(models.TextChoices):
    """A mission's instance lives for one UTC day or one ISO week (Monday to Sunday, UTC)."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class Aggregation(models.TextChoices):
    """How a metric's contributions make progress: added up, or the best value seen."""

    SUM = "sum", "Sum"
    MAX = "max", "Best value"
