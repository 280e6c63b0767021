"""What realtime shows on the staff dashboard (``casino.dashboard``; registered in
``realtime/apps.py``): the event pipeline (dead outbox rows, relay lag)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from casino.dashboard import DashboardContext, Figure
from realtime.models import OutboxEvent
from realtime.selectors import OutboxHealth, outbox_health

# The same reading as the admin index's pipeline panel (realtime/templatetags/pipeline.py).
RELAY_LAG_WARNING_SECONDS = 60.0


def _outbox_health(context: DashboardContext) -> OutboxHealth:
    return outbox_health()


def dashboard_dead_outbox_rows(context: DashboardContext) -> Figure:
    dead = context.once(_outbox_health).dead
    url = f"{reverse('admin:realtime_outboxevent_changelist')}?status__exact={OutboxEvent.Status.DEAD}"
    note = "gave up after 10 attempts: read why, then retry" if dead else "none gave up"
    return Figure(value=dead, text=f"{dead:,}", note=note, url=url, tone="bad" if dead else "good")


def dashboard_relay_lag(context: DashboardContext) -> Figure:
    """The age of the oldest pending outbox row; in embedded mode (no Kafka) nothing ships
    the outbox, so rows stay pending by design and there is no lag to watch."""
    health = context.once(_outbox_health)
    if not settings.KAFKA_BOOTSTRAP_SERVERS:
        return Figure(
            value=None,
            text="relay off",
            note=f"embedded mode (KAFKA_BOOTSTRAP_SERVERS unset): nothing ships the outbox; "
            f"{health.pending:,} row{'s' if health.pending != 1 else ''} kept by design",
        )
    lag = round(health.lag_seconds, 1)
    return Figure(
        value=lag,
        text=f"{lag:,} s",
        note=f"oldest of {health.pending:,} pending row{'s' if health.pending != 1 else ''}",
        url=f"{reverse('admin:realtime_outboxevent_changelist')}?status__exact={OutboxEvent.Status.PENDING}",
        tone="warn" if lag > RELAY_LAG_WARNING_SECONDS else "good",
    )
