"""Writes owned by the platform package: the audit log and idempotency cleanup."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.utils import timezone

from casino.models import AuditLog, IdempotencyRecord


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str | int = "",
    reason: str,
    data: dict[str, Any] | None = None,
) -> AuditLog:
    """Record a staff action (``actor`` None: the system did it). Call it inside
    the transaction that makes the change, so the change and its audit row
    commit (or roll back) together."""
    if not reason or not reason.strip():
        raise ValueError("an audited action needs a reason")
    if target is not None:
        target_type = target._meta.label_lower
        target_id = target.pk
    return AuditLog.objects.create(
        actor_id=getattr(actor, "pk", None),
        actor_label=getattr(actor, "get_username", lambda: "system")() if actor is not None else "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        target_label=str(target)[:255] if target is not None else "",
        reason=reason.strip(),
        data=data or {},
        created_at=timezone.now(),
    )


def idempotency_purge_expired(*, batch_size: int = 5000) -> int:
    """Delete expired idempotency records in batches; returns how many went."""
    deleted_total = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted_total
        deleted, _ = IdempotencyRecord.objects.filter(pk__in=ids).delete()
        deleted_total += deleted
