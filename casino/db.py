"""Small database helpers shared by the apps."""

from __future__ import annotations

from django.db import models, transaction


def insert_or_raise(instance: models.Model) -> None:
    """INSERT ``instance``; a unique violation raises ``IntegrityError`` and
    leaves the caller able to go on: inside a transaction the INSERT runs in
    a savepoint, outside one it is a single autocommitted statement (one
    round trip instead of BEGIN, INSERT, COMMIT)."""
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            instance.save(force_insert=True)
    else:
        instance.save(force_insert=True)
