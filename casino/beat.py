"""The periodic tasks beat runs (``CELERY_BEAT_SCHEDULE``): data only, so that
the settings module stays one reading of the environment."""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab

_EVERY_RUN: dict[str, dict[str, object]] = {
    "idempotency-purge-expired": {"task": "casino.tasks.idempotency_purge_expired", "schedule": timedelta(hours=1)},
    "outbox-prune-sent": {"task": "realtime.tasks.outbox_prune_sent", "schedule": timedelta(hours=1)},
    "shop-expire-pending-orders": {"task": "shop.tasks.expire_pending_orders", "schedule": timedelta(minutes=1)},
    "shop-reconcile-pending-orders": {
        "task": "shop.tasks.reconcile_pending_orders",
        "schedule": timedelta(minutes=5),
    },
    "ledger-audit-daily": {"task": "economy.tasks.ledger_audit", "schedule": timedelta(days=1)},
    "streak-repair-daily": {"task": "economy.tasks.streak_repair", "schedule": timedelta(days=1)},
    # Scheduled campaigns whose time has come start sending (each once: a conditional UPDATE).
    "economy-campaigns-start": {
        "task": "economy.tasks.campaigns_start",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # Live crash rounds end at their crash time: a sweep every second (each round also has its
    # own ETA task; this catches any the broker lost). Expires so sweeps never pile up.
    "games-crash-settle-due": {
        "task": "games.tasks.crash_settle_due",
        "schedule": timedelta(seconds=1),
        "options": {"expires": 5},
    },
    # Missions: instances of periods over 35 days old, and counted domain events over 8 days old.
    "events-mission-instances-prune": {"task": "events.tasks.mission_instances_prune", "schedule": timedelta(days=1)},
    "events-counted-sources-prune": {"task": "events.tasks.counted_sources_prune", "schedule": timedelta(days=1)},
}


def beat_schedule(*, relay_via_beat: bool, segments_hour: int = 3) -> dict[str, dict[str, object]]:
    """Every periodic task; with ``relay_via_beat`` also a relay pass every
    second (expiring after 5 s, so passes never pile up behind a slow one)."""
    schedule = {name: dict(entry) for name, entry in _EVERY_RUN.items()}
    # Every player's RFM segment, once a night at a quiet hour (UTC; SEGMENT_COMPUTE_HOUR).
    schedule["economy-segments-nightly"] = {
        "task": "economy.tasks.segments_compute",
        "schedule": crontab(minute=0, hour=segments_hour),
    }
    if relay_via_beat:
        schedule["outbox-relay"] = {
            "task": "realtime.tasks.outbox_relay",
            "schedule": timedelta(seconds=1),
            "options": {"expires": 5},
        }
    return schedule
