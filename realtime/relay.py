"""The outbox relay: pending ``OutboxEvent`` rows -> Kafka, at least once,
each player's events in id order.

One pass (:func:`outbox_relay_pass`):

1. claims up to ``batch_size`` due rows with ``SELECT ... FOR UPDATE SKIP
   LOCKED`` (oldest first, ``realtime.locks``), so two relays running at once
   never take the same row in the same pass. A row is not claimed while an
   older row of the same player waits for its retry, and claimed rows that
   would overtake an older row of their player (held by another relay) are
   held back unsent: Kafka is keyed by player because consumers rely on
   per-player order;
2. produces each envelope to ``KAFKA_TOPIC``, keyed by ``user_id`` (one
   player's events stay in one partition, in order) with ``event_id`` and
   ``type`` as headers, through an idempotent producer. Once a row of a player
   cannot be produced, the player's later rows wait for the next pass;
3. waits for the delivery reports and, in the same transaction that holds the
   locks, marks delivered rows ``sent`` and failed ones for a retry after
   ``min(300, 2 ** attempts)`` seconds, or ``dead`` after 10 attempts (a dead
   row no longer holds its player's later rows back). A row delivered although
   an older row of its player failed in the same pass is sent again after that
   one, so the last copy of every event a consumer reads is in id order.

If the process dies between produce and commit, the rows stay pending and are
sent again: Kafka may see an event twice, and the ClickHouse sink removes the
duplicate by ``event_id``.

The long-running relay (:func:`outbox_relay_forever`) starts and keeps running
when the broker is down: it waits, with a doubling delay up to
``DEPENDENCY_WAIT_MAX_SECONDS`` and one log line per try, until the broker
answers, and only then claims rows (so an outage does not use up their attempts).
"""

from __future__ import annotations

import logging
import signal
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from threading import Event
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from casino.db import json_encode
from casino.degraded import dependency_wait
from realtime import metrics
from realtime.locks import outbox_in_player_order, outbox_lock_due, outbox_mark_sent
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
    held: int = 0  # claimed but left for a later pass, behind an older row of their player


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
    return json_encode(row.envelope())


def outbox_relay_pass(*, producer: Any, batch_size: int | None = None, topic: str | None = None) -> RelayPass:
    batch_size = batch_size or settings.OUTBOX_RELAY_BATCH_SIZE
    topic = topic or settings.KAFKA_TOPIC
    # Durable: the row locks and the sent/failed marks must commit when the pass
    # ends, never ride along in a caller's longer transaction.
    with transaction.atomic(durable=True):
        now = timezone.now()
        claimed = outbox_lock_due(now=now, limit=batch_size)
        if not claimed:
            return RelayPass(0, 0, 0, 0)
        rows, held = outbox_in_player_order(claimed)
        errors: dict[int, str] = {}
        delivered: set[int] = set()
        not_produced: set[int] = set()  # behind a row of their player that could not be produced
        stuck_players: set[int] = set()

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
            if row.user_id in stuck_players:
                not_produced.add(row.pk)
                continue
            try:
                try:
                    send(row)
                except BufferError:
                    producer.poll(0.5)  # the local queue is full: let it drain, then try once more
                    send(row)
            except Exception as exc:  # noqa: BLE001 - recorded on the row, retried later
                errors[row.pk] = f"{type(exc).__name__}: {exc}"
                if row.user_id is not None:
                    stuck_players.add(row.user_id)
            producer.poll(0)
        remaining = producer.flush(settings.OUTBOX_RELAY_DELIVERY_TIMEOUT_MS / 1000 + 1)
        sent_at = timezone.now()
        # Per player in id order: after a row that failed, a delivered row has
        # overtaken it; it is sent again after the failed one (due now, behind it).
        failed_players: set[int] = set()
        overtook: set[int] = set()
        for row in rows:
            if row.pk in not_produced:
                continue
            if row.pk not in delivered:
                if row.user_id is not None:
                    failed_players.add(row.user_id)
            elif row.user_id in failed_players:
                overtook.add(row.pk)
        sent_ids = [row.pk for row in rows if row.pk in delivered and row.pk not in overtook]
        if sent_ids:
            outbox_mark_sent(sent_ids, sent_at=sent_at)
        if overtook:
            OutboxEvent.objects.filter(pk__in=overtook).update(
                next_attempt_at=sent_at, last_error="delivered ahead of an older event of the player: sent again"
            )
        # Failed rows, grouped by their attempt count (one UPDATE per group,
        # not one per row: Django's bulk_update would build a huge CASE).
        by_attempts: dict[int, list[OutboxEvent]] = defaultdict(list)
        for row in rows:
            if row.pk not in delivered and row.pk not in not_produced:
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
    return RelayPass(
        claimed=len(claimed),
        sent=sent,
        failed=failed,
        dead=dead,
        held=len(held) + len(not_produced) + len(overtook),
    )


def broker_check(producer: Any, timeout: float = 2.0) -> None:
    """Raise unless the broker answers a metadata request within ``timeout`` seconds."""
    producer.list_topics(timeout=timeout)


def outbox_relay_forever(
    *,
    stop: Event | None = None,
    idle_sleep: float = 0.2,
    batch_size: int | None = None,
    gather_seconds: float | None = None,
) -> None:
    """The long-running relay (``manage.py relay_outbox``): passes back to back
    while each claims a full batch (a backlog), a short sleep when idle; stops
    on SIGTERM/SIGINT.

    After a pass that claimed less than a full batch it waits
    ``gather_seconds`` (``OUTBOX_RELAY_GATHER_SECONDS``) before the next, so
    the rows of the transactions committed meanwhile go together: under a
    steady trickle of commits, passes back to back would claim a row or two
    each, and every pass costs its statements, a commit and a wait for the
    broker's acknowledgements whatever it carries. An event reaches Kafka at
    most that much later (ClickHouse's ingestion target is seconds; the
    players' pushes do not go through the relay).

    Before the first pass, and after a pass in which nothing got through, it
    waits until the broker answers (``casino.degraded.dependency_wait``: a
    doubling delay, one ``waiting for the Kafka broker`` line per try), so an
    outage neither ends the process nor uses up the rows' attempts. A pass that
    fails (the database is down) is retried after a doubling delay too."""
    stop = stop or Event()
    full_batch = batch_size or settings.OUTBOX_RELAY_BATCH_SIZE
    gather = settings.OUTBOX_RELAY_GATHER_SECONDS if gather_seconds is None else gather_seconds
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(signum, lambda *_: stop.set())
        except ValueError:  # not the main thread (tests)
            break
    broker = f"the Kafka broker at {settings.KAFKA_BOOTSTRAP_SERVERS}"
    producer = make_producer()
    broker_ok = False
    failures = 0
    try:
        while not stop.is_set():
            if not broker_ok:
                if not dependency_wait(partial(broker_check, producer), dependency="kafka", name=broker, stop=stop):
                    break
                broker_ok = True
            try:
                result = outbox_relay_pass(producer=producer, batch_size=batch_size)
            except Exception:
                failures += 1
                delay = min(settings.DEPENDENCY_WAIT_MAX_SECONDS, 0.5 * 2**failures)
                logger.exception("outbox relay pass failed; next try in %.1fs", delay)
                stop.wait(delay)
                continue
            failures = 0
            if (result.failed or result.dead) and not result.sent:
                # Nothing got through: start a fresh producer. An idempotent
                # producer keeps its producer id across an outage, and a broker
                # that lost its state (a restarted dev broker) refuses that id
                # forever. Then wait for the broker before claiming again.
                producer.flush(1)
                producer = make_producer()
                broker_ok = False
            if result.claimed == result.held:
                stop.wait(idle_sleep)  # nothing due, or all of it behind rows another relay sends
            elif result.claimed < full_batch and gather > 0:
                stop.wait(gather)  # no backlog: let the next commits' rows gather for one pass
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
    """Staff: put dead rows back in the queue (audited; ``realtime.retry_outbox``)."""
    from casino.permissions import staff_permission_require
    from casino.services import audit_record

    staff_permission_require(actor=actor, permission="realtime.retry_outbox")
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
