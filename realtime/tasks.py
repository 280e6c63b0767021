"""Celery entry points of the event pipeline."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from casino.degraded import dependency_failed
from realtime import relay

logger = logging.getLogger(__name__)

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


# --- Web Push of notifications (realtime.notifications) ---------------------------
WEB_PUSH_MAX_RETRIES = 6
WEB_PUSH_BACKOFF_MAX_SECONDS = 600


@shared_task(name="realtime.tasks.notification_web_push_fanout", ignore_result=True)
def notification_web_push_fanout(notification_id: int) -> int:
    """Queued on commit of a new notification: one delivery task per
    subscription of its player (each retries on its own)."""
    from realtime.models import Notification
    from realtime.notifications.selectors import push_subscription_ids_for

    user_id = Notification.objects.filter(pk=notification_id).values_list("user_id", flat=True).first()
    if user_id is None:
        return 0
    subscription_ids = push_subscription_ids_for(user_id=user_id)
    for subscription_id in subscription_ids:
        notification_web_push.delay(notification_id, subscription_id)
    return len(subscription_ids)


@shared_task(name="realtime.tasks.notification_web_push", ignore_result=True)
def notification_web_push(notification_id: int, subscription_id: int, attempt: int = 0) -> str:
    """One push; a push service that is down (5xx, 429, no answer) is tried
    again with a doubling delay (30 s, 60 s, ... up to 10 min), at most
    ``WEB_PUSH_MAX_RETRIES`` times, then given up (logged). The retry is a new
    task carrying ``attempt`` (Celery's eager mode, embedded, runs it at once)."""
    from realtime.notifications.services import PushOutcome, web_push_deliver

    outcome = web_push_deliver(notification_id=notification_id, subscription_id=subscription_id)
    if outcome is not PushOutcome.RETRY:
        return outcome.value
    if attempt >= WEB_PUSH_MAX_RETRIES:
        logger.warning("giving up web push of notification %s to subscription %s", notification_id, subscription_id)
        return "gave_up"
    notification_web_push.apply_async(
        (notification_id, subscription_id, attempt + 1),
        countdown=min(WEB_PUSH_BACKOFF_MAX_SECONDS, 30 * 2**attempt),
    )
    return "retrying"
