"""Celery entry points of the event pipeline."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from realtime import relay
from realtime.degraded import dependency_failed

_producer: Any = None
_broker_down = False  # the last pass got nothing through: check the broker before claiming


def _shared_producer() -> Any:
    """One producer per worker process (connecting costs more than a pass)."""
    global _producer
    if _producer is None:
        _producer = relay.make_producer()
    return _producer


@shared_task(name="realtime.tasks.outbox_relay", ignore_result=True)
def outbox_relay() -> dict[str, int]:
    """One relay pass (beat runs it every second; `manage.py relay_outbox` is
    the long-running alternative). Does nothing when Kafka is not configured.

    After a pass in which nothing got through, the next run first asks the
    broker for metadata and claims nothing while it does not answer, so a
    broker outage does not use up the rows' attempts."""
    if not settings.KAFKA_BOOTSTRAP_SERVERS:
        return {"claimed": 0}
    global _producer, _broker_down
    if _broker_down:
        try:
            relay.broker_check(_shared_producer(), timeout=2.0)
        except Exception as error:  # noqa: BLE001 - the broker is still down: try again next second
            dependency_failed(dependency="kafka", use="relay", error=error)
            return {"claimed": 0, "waiting": 1}
        _broker_down = False
    result = relay.outbox_relay_pass(producer=_shared_producer())
    if (result.failed or result.dead) and not result.sent:
        _producer = None  # start afresh next time (see relay.outbox_relay_forever)
        _broker_down = True
    return {"claimed": result.claimed, "sent": result.sent, "failed": result.failed, "dead": result.dead}


@shared_task(name="realtime.tasks.outbox_prune_sent", ignore_result=True)
def outbox_prune_sent() -> int:
    return relay.outbox_prune_sent()
