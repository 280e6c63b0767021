"""What the channel layer sends a player's sockets (``realtime.channel_layer``): a
:class:`Push` for a group, the messages a batch of pushes becomes (consecutive domain events of
one player as one ``domain.events`` message), the events a received message carries, what a
batch came to (:class:`PushResult`) and drops counted and logged.

Plain data and functions, shared by the code that pushes (``realtime.push``,
``realtime.services``) and the socket server's consumer (``realtime.consumers``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from realtime import metrics

logger = logging.getLogger(__name__)

DROP_LOG_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class Push:
    """One message for a group. ``user_id``: the player whose group it is
    (skipped when they have no socket); ``numbered``: give it the player's
    next sequence number (domain events; not a session close)."""

    group: str
    message: dict[str, Any]
    user_id: int | None = None
    numbered: bool = False


EVENT_MESSAGE = "domain.event"  # one domain event: {"type", "envelope"}
EVENTS_MESSAGE = "domain.events"  # several of one player, numbered from the message's seq: {"type", "envelopes"}


def push_runs(pushes: Sequence[Push]) -> list[tuple[Push, list[dict[str, Any]]]]:
    """The pushes as the messages to send, in order: consecutive domain events of one player
    together (the first push and every envelope), anything else on its own (the push and its
    message)."""
    runs: list[tuple[Push, list[dict[str, Any]]]] = []
    for push in pushes:
        if not _is_event(push):
            runs.append((push, [push.message]))
        elif runs and _is_event(runs[-1][0]) and (runs[-1][0].group, runs[-1][0].user_id) == (push.group, push.user_id):
            runs[-1][1].append(push.message["envelope"])
        else:
            runs.append((push, [push.message["envelope"]]))
    return runs


def event_messages(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A received message as the ``domain.event`` messages it carries (itself, unless it
    is several events at once), each with its own ``seq``."""
    if message.get("type") != EVENTS_MESSAGE:
        return [message]
    seq = message.get("seq")
    return [
        {"type": EVENT_MESSAGE, "envelope": envelope} | ({} if seq is None else {"seq": seq + index})
        for index, envelope in enumerate(message["envelopes"])
    ]


def push_result(answer: Sequence[Any], *, events: int) -> PushResult:
    written, dropped, absent = answer
    return PushResult(written=int(written), dropped=int(dropped), absent=int(absent), events=events)


def _is_event(push: Push) -> bool:
    """A numbered domain event and nothing else (those are sent together)."""
    message = push.message
    return (
        push.numbered
        and push.user_id is not None
        and message.get("type") == EVENT_MESSAGE
        and len(message) == 2
        and "envelope" in message
    )


@dataclass
class PushResult:
    written: int = 0  # messages written to process queues
    dropped: int = 0  # events in messages refused because the queue was full
    absent: int = 0  # events for a group with nobody in it (no message, no number)
    events: int = 0

    def add(self, other: PushResult) -> None:
        self.written += other.written
        self.dropped += other.dropped
        self.absent += other.absent
        self.events += other.events


@dataclass
class _DropLog:
    lock: threading.Lock = field(default_factory=threading.Lock)
    last: float = 0.0
    unlogged: int = 0


_drop_log = _DropLog()


def report_drops(count: int, *, reason: str, detail: str) -> None:
    """Count dropped pushes and log a warning (at most one per
    ``DROP_LOG_EVERY_SECONDS``, with the count since the last one)."""
    if count <= 0:
        return
    metrics.push_dropped.labels(reason=reason).inc(count)
    now = time.monotonic()
    with _drop_log.lock:
        _drop_log.unlogged += count
        if now - _drop_log.last < DROP_LOG_EVERY_SECONDS:
            return
        _drop_log.last = now
        unlogged, _drop_log.unlogged = _drop_log.unlogged, 0
    logger.warning("realtime push dropped %d message(s) (%s): %s", unlogged, reason, detail)
