"""The transactional outbox: one row per domain event, written in the same
transaction as the state change it describes."""

from __future__ import annotations

import uuid

from django.db import models


class OutboxEvent(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        DEAD = "dead", "Dead"

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=64, db_index=True)
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
            models.Index(fields=["status", "sent_at"], name="outbox_status_sent_idx"),
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
            "timestamp": self.occurred_at.isoformat().replace("+00:00", "Z"),
        }
