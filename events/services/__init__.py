"""Writes of events/: joining events and claiming their rewards (events.py), counting progress
from domain events (progress.py; the subscriber's body), missions (missions.py). One module per
noun, re-exported here. Entry points open ``transaction.atomic(durable=True)``; progress runs in
the emitter's transaction."""

from events.services.events import ClaimResult, event_claim, event_claim_key, event_force_claim, event_join
from events.services.progress import (
    ProgressReport,
    achievement_reward_grant,
    achievement_reward_key,
    period_reset_at,
    period_start,
    progress_count,
)

__all__ = [
    "ClaimResult",
    "ProgressReport",
    "achievement_reward_grant",
    "achievement_reward_key",
    "event_claim",
    "event_claim_key",
    "event_force_claim",
    "event_join",
    "period_reset_at",
    "period_start",
    "progress_count",
]
