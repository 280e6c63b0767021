"""The periodic tasks beat runs (``CELERY_BEAT_SCHEDULE``): data only, so that
the settings module stays one reading of the environment."""

from __future__ import annotations

from datetime import timedelta

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
}


def beat_schedule(*, relay_via_beat: bool) -> dict[str, dict[str, object]]:
    """Every periodic task; with ``relay_via_beat`` also a relay pass every
    second (expiring after 5 s, so passes never pile up behind a slow one)."""
    schedule = {name: dict(entry) for name, entry in _EVERY_RUN.items()}
    if relay_via_beat:
        schedule["outbox-relay"] = {
            "task": "realtime.tasks.outbox_relay",
            "schedule": timedelta(seconds=1),
            "options": {"expires": 5},
        }
    return schedule
