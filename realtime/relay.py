"""The outbox relay: pending ``OutboxEvent`` rows -> Kafka, at least once.

One pass (:func:`outbox_relay_pass`):

1. claims up to ``batch_size`` due rows with ``SELECT ... FOR UPDATE SKIP
   LOCKED`` (oldest first), so two relays running at once never take the same
   row in the same pass;
2. produces each envelope to ``KAFKA_TOPIC``, keyed by ``user_id`` (one
   player's events stay in one partition, in order) with ``event_id`` and
   ``type`` as headers, through an idempotent producer;
3. waits for the delivery reports and, in the same transaction that holds the
   locks, marks delivered rows ``sent`` and failed ones for a retry after
   ``min(300, 2 ** attempts)`` seconds, or ``dead`` after 10 attempts.

If the process dies between produce and commit, the rows stay pending and are
sent again: Kafka may see an event twice, and the ClickHouse sink removes the
duplicate by ``event_id``.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from threading import Event
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from realtime import metrics
from realtime.models import OutboxEvent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
MAX_BACKOFF_SECONDS = 300


def _group_by(rows: list[OutboxEvent], key: Callable[[OutboxEvent], str]) -> dict[str, list[OutboxEvent]]:
    groups: dict[str, list[OutboxEvent]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


def backoff_seconds(attempts: int) -> int:
    """Delay before retry number ``attempts`` (1-based): 2, 4, 8 ... capped at 300 s."""
    return int(min(MAX_BACKOFF_SECONDS, 2**attempts))


@dataclass(frozen=True)
class RelayPass:
    claimed: int
    sent: int
    failed: int
    dead: int


def make_producer(bootstrap_servers: str | None = None, **overrides: Any) -> Any:
    from confluent_kafka import Producer

    config = {
        "bootstrap.servers": bootstrap_servers or settings.KAFKA_BOOTSTRAP_SERVERS,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": settings.OUTBOX_RELAY_DELIVERY_TIMEOUT_MS,
        "socket.timeout.ms": 5000,
        "client.id": "casino-outbox-relay",
    }
    config.update(overrides)
    return Producer(config)


def _serialize(row: OutboxEvent) -> bytes:
    return json.dumps(row.envelope(), cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def outbox_relay_pass(*, producer: Any, batch_size: int | None = None, topic: str | None = None) -> RelayPass:
    batch_size = batch_size or settings.OUTBOX_RELAY_BATCH_SIZE
    topic = topic or settings.KAFKA_TOPIC
    # Durable: the row locks and the sent/failed marks must commit when the pass
    # ends, never ride along in a caller's longer transaction.
    with transaction.atomic(durable=True):
        now = timezone.now()
        rows = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxEvent.Status.PENDING, next_attempt_at__lte=now)
            .order_by("id")[:batch_size]
        )
        if not rows:
            return RelayPass(0, 0, 0, 0)
        errors: dict[int, str] = {}
        delivered: set[int] = set()

        def report(row_id: int) -> Any:
            def on_delivery(error: Any, _message: Any) -> None:
                if error is None:
                    delivered.add(row_id)
                else:
                    errors[row_id] = str(error)

            return on_delivery

        def send(row: OutboxEvent) -> None:
            producer.produce(
                topic,
                key=str(row.user_id if row.user_id is not None else "").encode(),
                value=_serialize(row),
                headers=[("event_id", str(row.event_id).encode()), ("type", row.type.encode())],
                on_delivery=report(row.pk),
            )

        for row in rows:
            try:
                try:
                    send(row)
                except BufferError:
                    producer.poll(0.5)  # the local queue is full: let it drain, then try once more
                    send(row)
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
                errors[row.pk] = f"{type(exc).__name__}: {exc}"
            producer.poll(0)
        remaining = producer.flush(settings.OUTBOX_RELAY_DELIVERY_TIMEOUT_MS / 1000 + 1)
        sent_at = timezone.now()
        sent_ids = [row.pk for row in rows if row.pk in delivered]
        if sent_ids:
            OutboxEvent.objects.filter(pk__in=sent_ids).update(
                status=OutboxEvent.Status.SENT, sent_at=sent_at, last_error=""
            )
        # Failed rows, grouped by their attempt count (one UPDATE per group,
        # not one per row: Django's bulk_update would build a huge CASE).
        by_attempts: dict[int, list[OutboxEvent]] = defaultdict(list)
        for row in rows:
            if row.pk not in delivered:
                by_attempts[row.attempts + 1].append(row)
        failed = dead = 0
        for attempts, group in by_attempts.items():
            for error, same_error in _group_by(
                group, lambda row: errors.get(row.pk) or ("delivery timed out" if remaining else "not delivered")
            ).items():
                ids = [row.pk for row in same_error]
                if attempts >= MAX_ATTEMPTS:
                    OutboxEvent.objects.filter(pk__in=ids).update(
                        status=OutboxEvent.Status.DEAD, attempts=attempts, last_error=error[:2000]
                    )
                    dead += len(ids)
                else:
                    OutboxEvent.objects.filter(pk__in=ids).update(
                        attempts=attempts,
                        next_attempt_at=sent_at + timedelta(seconds=backoff_seconds(attempts)),
                        last_error=error[:2000],
                    )
                    failed += len(ids)
        sent = len(sent_ids)
    if failed or dead:
        metrics.kafka_publish_failures.inc(failed + dead)
        logger.warning("outbox relay: %s failed, %s dead of %s", failed, dead, len(rows))
    metrics.outbox_relayed.inc(sent)
    return RelayPass(claimed=len(rows), sent=sent, failed=failed, dead=dead)


def outbox_relay_forever(*, stop: Event | None = None, idle_sleep: float = 0.2, batch_size: int | None = None) -> None:
    """The long-running relay (``manage.py relay_outbox``): passes back to back
    while there is work, a short sleep when idle; stops on SIGTERM/SIGINT."""
    stop = stop or Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(signum, lambda *_: stop.set())
        except ValueError:  # not the main thread (tests)
            break
    producer = make_producer()
    try:
        while not stop.is_set():
            try:
                result = outbox_relay_pass(producer=producer, batch_size=batch_size)
            except Exception:
                logger.exception("outbox relay pass failed")
                time.sleep(1)
                continue
            if result.claimed and not result.sent:
                # Nothing got through: start a fresh producer. An idempotent
                # producer keeps its producer id across an outage, and a broker
                # that lost its state (a restarted dev broker) refuses that id forever.
                producer.flush(1)
                producer = make_producer()
            if result.claimed == 0:
                stop.wait(idle_sleep)
    finally:
        producer.flush(5)


def outbox_prune_sent(*, older_than: timedelta | None = None, batch_size: int = 10_000) -> int:
    """Delete sent rows older than the retention; returns how many went."""
    cutoff = timezone.now() - (older_than or settings.OUTBOX_SENT_RETENTION)
    deleted_total = 0
    while True:
        ids = list(
            OutboxEvent.objects.filter(status=OutboxEvent.Status.SENT, sent_at__lt=cutoff).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted_total
        deleted, _ = OutboxEvent.objects.filter(pk__in=ids).delete()
        deleted_total += deleted


def outbox_retry_dead(*, actor: AbstractBaseUser, event_ids: list[int], reason: str) -> int:
    """Staff: put dead rows back in the queue (audited)."""
    from casino.services import audit_record

    with transaction.atomic(durable=True):
        revived = OutboxEvent.objects.filter(pk__in=event_ids, status=OutboxEvent.Status.DEAD).update(
            status=OutboxEvent.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), last_error=""
        )
        audit_record(
            actor=actor,
            action="outbox_retry_dead",
            target_type="realtime.outboxevent",
            target_id=f"{revived} rows",
            reason=reason,
            data={"ids": event_ids},
        )
    return revived
