"""Celery entry points of the event pipeline."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from realtime import relay

_producer: Any = None


def _shared_producer() -> Any:
    """One producer per worker process (connecting costs more than a pass)."""
    global _producer
    if _producer is None:
        _producer = relay.make_producer()
    return _producer


@shared_task(name="realtime.tasks.outbox_relay", ignore_result=True)
def outbox_relay() -> dict[str, int]:
    """One relay pass (beat runs it every second; `manage.py relay_outbox` is
    the long-running alternative). Does nothing when Kafka is not configured."""
    if not settings.KAFKA_BOOTSTRAP_SERVERS:
        return {"claimed": 0}
    global _producer
    result = relay.outbox_relay_pass(producer=_shared_producer())
    if result.claimed and not result.sent:
        _producer = None  # start afresh next time (see relay.outbox_relay_forever)
    return {"claimed": result.claimed, "sent": result.sent, "failed": result.failed, "dead": result.dead}


@shared_task(name="realtime.tasks.outbox_prune_sent", ignore_result=True)
def outbox_prune_sent() -> int:
    return relay.outbox_prune_sent()
