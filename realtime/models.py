"""The transactional outbox: one row per domain event, written in the same
transaction as the state change it describes."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models


class OutboxEvent(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Dead"

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # No index of its own: ``outbox_type_time_idx`` leads with it (every index is written with
    # each of the dozen rows a round emits, and again when the relay marks them sent).
    type = models.CharField(max_length=64)
    # A plain id, not a foreign key: the outbox belongs to no domain and must
    # keep events even for users that are later removed.
    user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict)
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's claim query: pending rows due now, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="outbox_pending_due_idx",
                condition=models.Q(status="pending"),
            ),
            # Per-player order: a player's older pending rows (realtime.locks).
            models.Index(
                fields=["user_id", "id"],
                name="outbox_pending_player_idx",
                condition=models.Q(status="pending"),
            ),
            # The prune of sent rows past their retention; partial, so a new (pending) row adds
            # no entry to it.
            models.Index(fields=["sent_at"], name="outbox_sent_idx", condition=models.Q(status="sent")),
            # The dead rows (outbox_health counts them; staff retry them): few, if any.
            models.Index(fields=["id"], name="outbox_dead_idx", condition=models.Q(status="dead")),
            # Live metrics (PostgreSQL path): events of a type in the last hour.
            models.Index(fields=["type", "occurred_at"], name="outbox_type_time_idx"),
        ]
        permissions = [("retry_outbox", "Can put dead outbox rows back in the relay's queue")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({self.status})"

    def envelope(self) -> dict[str, object]:
        return {
            "event_id": str(self.event_id),
            "type": self.type,
            "user_id": self.user_id,
            "data": self.data,
            "timestamp": envelope_timestamp(self.occurred_at),
        }


def envelope_timestamp(occurred_at: datetime) -> str:
    """An event's time as its envelope carries it: ISO 8601 in UTC, ``Z`` for the offset."""
    return occurred_at.isoformat().replace("+00:00", "Z")


class Notification(models.Model):
    """A player's inbox entry, written by ``realtime.notifications`` subscribers
    inside the transaction of the domain event it tells about (one per event)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=64)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=1000, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # The domain event that produced it: a builder runs once per event.
    source_event_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The inbox: a player's newest first.
            models.Index(fields=["user", "-id"], name="notification_inbox_idx"),
            # The unread badge and read-all.
            models.Index(fields=["user"], name="notification_unread_idx", condition=models.Q(read_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}: {self.title}"


class PushSubscription(models.Model):
    """A browser's Web Push subscription (``PushManager.subscribe()``); the
    endpoint identifies it, so subscribing again updates the row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.URLField(max_length=2048, unique=True)
    p256dh = models.CharField(max_length=200)
    auth = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="push_subscription_user_idx")]

    def __str__(self) -> str:
        return f"push subscription {self.pk} of {self.user_id}"


class NotificationSettings(models.Model):
    """Which channels a player accepts promotional messages (campaigns) on. No row: every
    channel on. What the player's own actions cause (a purchase settled, a reward paid) always
    reaches the inbox; these switches govern what staff send."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+")
    in_app = models.BooleanField(default=True, help_text="Campaign messages in the notification inbox.")
    push = models.BooleanField(default=True, help_text="Campaign messages as Web Push notifications.")
    email = models.BooleanField(default=True, help_text="Campaign messages by email.")
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"notification settings of {self.user_id}"
