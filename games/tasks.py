"""Celery entry points of games/ (settling live crash rounds on the server clock, periodic stats
roll-ups): ids in, call a service, nothing else."""

from __future__ import annotations

from celery import shared_task

from games.services import crash as crash_services

# --- crash ---


@shared_task(name="games.tasks.crash_settle", ignore_result=True)
def crash_settle(round_id: int) -> bool:
    """Queued on commit of a live crash bet with ``eta`` = its crash time. Does nothing if it runs
    early (embedded mode runs tasks eagerly, at once) or the round is already over."""
    return crash_services.crash_settle(round_id=round_id)


@shared_task(name="games.tasks.crash_settle_due", ignore_result=True)
def crash_settle_due() -> int:
    """Every second (casino/beat.py): end every live crash round whose crash time has passed."""
    return crash_services.crash_settle_due()
