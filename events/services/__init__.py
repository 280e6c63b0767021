"""Writes of events/: joining events and claiming their rewards (events.py), counting progress
from domain events (progress.py; the subscriber's body), missions (missions.py). One module per
noun, re-exported here. Entry points open ``transaction.atomic(durable=True)``; progress runs in
the emitter's transaction."""

from events.services.achievements import (
    achievement_check,
    achievement_create,
    achievement_set_active,
    achievement_unlocked_notification,
    achievement_update,
)
from events.services.event_admin import (
    RequirementSpec,
    event_requirements_check,
    event_save,
    event_set_active,
    public_events_invalidate,
)
from events.services.events import ClaimResult, event_claim, event_claim_key, event_force_claim, event_join
from events.services.missions import (
    MissionClaimResult,
    counted_sources_prune,
    mission_claim,
    mission_claim_key,
    mission_instances_prune,
    mission_template_create,
    mission_template_set_active,
    mission_template_update,
)
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
    "MissionClaimResult",
    "ProgressReport",
    "RequirementSpec",
    "achievement_check",
    "achievement_create",
    "achievement_reward_grant",
    "achievement_reward_key",
    "achievement_set_active",
    "achievement_unlocked_notification",
    "achievement_update",
    "counted_sources_prune",
    "event_claim",
    "event_claim_key",
    "event_force_claim",
    "event_join",
    "event_requirements_check",
    "event_save",
    "event_set_active",
    "mission_claim",
    "mission_claim_key",
    "mission_instances_prune",
    "mission_template_create",
    "mission_template_set_active",
    "mission_template_update",
    "period_reset_at",
    "period_start",
    "progress_count",
    "public_events_invalidate",
]
