"""Tables of events/: live events and their requirements, players' participations and progress,
mission templates and players' mission instances (one per period), achievements and their
progress, and the record of which domain events have been counted.

Progress rows carry what the progress subscriber filters on (player, metric, game, target and,
for events, the window), so one ``UPDATE … WHERE user_id = … AND metric = …`` advances all of a
player's progress for a metric without joins. Constraints hold the invariants: one participation
per (event, player), one mission instance per (template, player, period), one achievement
progress per (achievement, player), a source event counted once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from events.enums import EventType, MissionPeriod

USER = settings.AUTH_USER_MODEL


class RewardFields(models.Model):
    """A reward bundle: currencies through the ledger, items by code (the games' inventory)."""

    reward_gold = models.BigIntegerField(default=0)
    reward_gems = models.BigIntegerField(default=0)
    reward_xp = models.BigIntegerField(default=0)
    reward_items = models.JSONField(default=list, blank=True, help_text='Item codes, e.g. ["lucky-charm"].')

    class Meta:
        abstract = True

    @property
    def reward_bundle(self) -> dict[str, int]:
        bundle = {"gold": self.reward_gold, "gems": self.reward_gems, "xp": self.reward_xp}
        return {currency: amount for currency, amount in bundle.items() if amount}


class Event(RewardFields):
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    event_type = models.CharField(max_length=16, choices=EventType.choices, default=EventType.CHALLENGE)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    image_url = models.URLField(blank=True)
    priority = models.IntegerField(default=0, help_text="Higher first.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-priority", "starts_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="event_window_positive"),
            models.CheckConstraint(
                condition=Q(reward_gold__gte=0, reward_gems__gte=0, reward_xp__gte=0), name="event_rewards_non_negative"
            ),
        ]
        indexes = [models.Index(fields=["is_active", "starts_at", "ends_at"], name="event_window_idx")]
        permissions = [("force_claim_event", "Can claim an event's reward for a player (audited)")]

    def __str__(self) -> str:
        return self.title


class EventRequirement(models.Model):
    """The event is complete when every requirement's metric reaches its target."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="requirements")
    metric = models.CharField(max_length=32, help_text="A metric of the registry (docs/live-ops.md).")
    game = models.CharField(max_length=16, blank=True, help_text="Only rounds of this game count (empty: any).")
    target = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "metric", "game"], name="event_requirement_once"),
            models.CheckConstraint(condition=Q(target__gt=0), name="event_requirement_target_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.metric}{f' ({self.game})' if self.game else ''} ≥ {self.target}"


class EventParticipation(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="participations")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="event_participations")
    joined_at = models.DateTimeField()
    progress_version = models.BigIntegerField(default=0, help_text="Goes up by one with every change of progress.")
    completed_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "user"], name="event_participation_once"),
            models.CheckConstraint(
                condition=Q(claimed_at__isnull=True) | Q(completed_at__isnull=False),
                name="event_claimed_only_completed",
            ),
        ]
        indexes = [models.Index(fields=["user", "-joined_at"], name="participation_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.event_id}"


class EventProgress(models.Model):
    """A participation's progress towards one requirement (denormalised for the subscriber)."""

    participation = models.ForeignKey(EventParticipation, on_delete=models.CASCADE, related_name="progress")
    requirement = models.ForeignKey(EventRequirement, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=32)
    game = models.CharField(max_length=16, blank=True)
    target = models.BigIntegerField()
    value = models.BigIntegerField(default=0)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participation", "requirement"], name="event_progress_once"),
            models.CheckConstraint(condition=Q(value__gte=0), name="event_progress_non_negative"),
        ]
        indexes = [models.Index(fields=["user", "metric"], name="event_progress_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.metric}: {self.value}/{self.target}"


class MissionTemplate(RewardFields):
    code = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    period = models.CharField(max_length=8, choices=MissionPeriod.choices)
    metric = models.CharField(max_length=32)
    game = models.CharField(max_length=16, blank=True)
    target = models.BigIntegerField()
    category = models.CharField(max_length=32, blank=True)
    icon = models.CharField(max_length=64, blank=True)
    sort_order = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["period", "sort_order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(target__gt=0), name="mission_target_positive"),
            models.CheckConstraint(
                condition=Q(reward_gold__gte=0, reward_gems__gte=0, reward_xp__gte=0),
                name="mission_rewards_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["metric", "is_active"], name="mission_metric_idx")]

    def __str__(self) -> str:
        return f"{self.title} ({self.period})"


class MissionProgress(models.Model):
    """A player's instance of a mission for one period (``period_start``: the UTC day, or the
    Monday of the ISO week). A new period is a new row, so nothing needs resetting."""

    template = models.ForeignKey(MissionTemplate, on_delete=models.CASCADE, related_name="instances")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="mission_progress")
    period_start = models.DateField()
    target = models.BigIntegerField(help_text="The template's target when the period began.")
    value = models.BigIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["template", "user", "period_start"], name="mission_progress_once"),
            models.CheckConstraint(
                condition=Q(claimed_at__isnull=True) | Q(completed_at__isnull=False),
                name="mission_claimed_only_completed",
            ),
        ]
        indexes = [models.Index(fields=["user", "period_start"], name="mission_user_period_idx")]
        verbose_name_plural = "mission progress"

    def __str__(self) -> str:
        return f"{self.template_id} of {self.user_id} for {self.period_start}: {self.value}"


class Achievement(RewardFields):
    code = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    metric = models.CharField(max_length=32)
    game = models.CharField(max_length=16, blank=True)
    threshold = models.BigIntegerField()
    icon = models.CharField(max_length=64, blank=True)
    is_hidden = models.BooleanField(default=False, help_text="Shown in the catalogue only once unlocked.")
    is_active = models.BooleanField(default=True)
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gt=0), name="achievement_threshold_positive"),
            models.CheckConstraint(
                condition=Q(reward_gold__gte=0, reward_gems__gte=0, reward_xp__gte=0),
                name="achievement_rewards_non_negative",
            ),
        ]
        indexes = [models.Index(fields=["metric", "is_active"], name="achievement_metric_idx")]

    def __str__(self) -> str:
        return self.title


class AchievementProgress(models.Model):
    achievement = models.ForeignKey(Achievement, on_delete=models.CASCADE, related_name="progress")
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="achievement_progress")
    target = models.BigIntegerField(help_text="The achievement's threshold when progress began.")
    value = models.BigIntegerField(default=0)
    unlocked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["achievement", "user"], name="achievement_progress_once")]
        indexes = [models.Index(fields=["user", "-unlocked_at"], name="achievement_user_idx")]
        verbose_name_plural = "achievement progress"

    def __str__(self) -> str:
        return f"{self.achievement_id} of {self.user_id}: {self.value}"


class CountedSource(models.Model):
    """A domain event already counted towards progress (``source_key`` such as ``round:123``):
    the subscriber inserts it first and counts nothing if it was there, so an event delivered
    twice advances nothing twice. Pruned after a few days by a beat task."""

    source_key = models.CharField(max_length=128, unique=True)
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.source_key
