"""Platform tables that belong to no domain: stored idempotent responses and
the staff audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """One client-supplied ``Idempotency-Key`` per user and the response it got.

    The unique constraint on (user, key) is what makes N parallel identical
    requests execute once: every request first inserts its row; only the
    inserter runs the view.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_method = models.CharField(max_length=8)
    request_path = models.CharField(max_length=512)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=128, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField()
    locked_until = models.DateTimeField(help_text="An in-progress row older than this is taken as abandoned.")
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} ({self.state})"


class AuditLog(models.Model):
    """Who did what to which object, why, and when (staff actions; promise 7)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_actions"
    )
    actor_label = models.CharField(max_length=150, help_text="The actor's login at the time, kept if the user goes.")
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, db_index=True)
    target_id = models.CharField(max_length=64, db_index=True)
    target_label = models.CharField(max_length=255, blank=True)
    reason = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "-created_at"], name="audit_target_idx")]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_type}:{self.target_id}"


class AdminJob(models.Model):
    """One long back-office operation (a reward campaign, a player import, a ledger audit, a
    leaderboard rebuild) and how far it got: the admin's jobs page shows its progress while it
    runs and its result when done. ``casino.jobs`` writes it; apps register what each kind runs."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=64, db_index=True, help_text="What runs it (casino.jobs registry).")
    title = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    params = models.JSONField(default=dict, blank=True, help_text="What the job works on (ids, options).")
    total = models.PositiveIntegerField(default=0, help_text="Items to process (0: not known).")
    done = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    report = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="admin_jobs"
    )
    created_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "back-office job"
        # Exporting a changelist (casino.admin_export) lets personal data leave the system.
        permissions = [("export_data", "Can export admin lists as CSV (personal data)")]

    def __str__(self) -> str:
        return f"job #{self.pk} {self.title or self.kind} ({self.status})"
