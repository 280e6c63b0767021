"""``{% pipeline_health %}``: outbox and sink health for the admin index."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django import template
from django.conf import settings
from django.core.cache import cache

from realtime.selectors import outbox_health

register = template.Library()


@register.inclusion_tag("admin/realtime/pipeline_health.html")
def pipeline_health() -> dict[str, Any]:
    health = outbox_health()
    last_insert = cache.get("sink:last_insert_at")
    return {
        # Embedded mode (no KAFKA_BOOTSTRAP_SERVERS): no relay, rows stay pending and their lag grows by design.
        "relay_on": bool(settings.KAFKA_BOOTSTRAP_SERVERS),
        "sink_on": bool(settings.CLICKHOUSE_URL),
        "pending": health.pending,
        "dead": health.dead,
        "lag_seconds": round(health.lag_seconds, 1),
        "last_sink_insert": datetime.fromtimestamp(last_insert, tz=UTC) if last_insert else None,
    }
