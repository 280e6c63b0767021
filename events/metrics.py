"""Prometheus metrics of events/ (live ops): source events counted towards progress, event joins,
reward claims, achievement unlocks, staff force-claims.

Counted after the commit, never for work that rolled back: the claim services own a durable
transaction, so :func:`claim_counted` wraps it and counts once the ``with`` block is left; progress
and unlocks happen inside the emitter's transaction (a round, an order, a login), so they count
through ``transaction.on_commit``. Labels are bounded (the source event types, the kinds, the
error codes of events/); never a player, an event or a mission.

Progress runs in the process that emitted the source event: web for almost everything, a Celery
worker for a crash round it settled on the clock or an order a task settled. A worker's registry
is not scraped (the compose stack watches Celery through Flower), so those few are not counted here.

PromQL: claims paid per second ``sum by (kind) (rate(live_ops_claims_total{result="claimed"}[5m]))``;
refusals are the other results (an error code of events/, ``reward_already_claimed`` say: the
player's doing); ``result="error"`` is an unexpected failure (alert LiveOpsClaimsFailing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import transaction
from prometheus_client import Counter

from casino.errors import ApplicationError

CLAIMED = "claimed"
ERROR = "error"

progress_events = Counter(
    "live_ops_progress_events",
    "Source events counted towards events, missions or achievements (once each), by event type.",
    ["source"],
)
event_joins = Counter("live_ops_event_joins", "Players who joined a live event.")
claims = Counter(
    "live_ops_claims",
    "Reward claims by kind (event, mission, achievement) and result: claimed, a refusal's error code, or error.",
    ["kind", "result"],
)
achievement_unlocks = Counter("live_ops_achievement_unlocks", "Achievements unlocked.")
force_claims = Counter(
    "live_ops_force_claims",
    "Staff force-claims by kind and result (paid; already_paid: the reward had been paid, nothing more).",
    ["kind", "result"],
)


@contextmanager
def claim_counted(kind: str) -> Iterator[None]:
    """Count one player's claim of ``kind``: ``claimed`` once the block (the claim's transaction)
    is left normally, the error code when it refuses, ``error`` for anything else. Put it outside
    the ``transaction.atomic`` block, so that the count follows the commit."""
    try:
        yield
    except ApplicationError as refusal:
        claims.labels(kind=kind, result=refusal.code).inc()
        raise
    except Exception:
        claims.labels(kind=kind, result=ERROR).inc()
        raise
    claims.labels(kind=kind, result=CLAIMED).inc()


def force_claimed(*, kind: str, paid: bool) -> None:
    """A staff force-claim was committed (``paid``: this one paid the reward)."""
    force_claims.labels(kind=kind, result="paid" if paid else "already_paid").inc()


def event_joined() -> None:
    event_joins.inc()


def progress_counted_on_commit(*, source: str, unlocked: int) -> None:
    """One source event was counted (inside the emitter's transaction), unlocking ``unlocked``
    achievements: counted when that transaction commits."""

    def count() -> None:
        progress_events.labels(source=source).inc()
        if unlocked:
            achievement_unlocks.inc(unlocked)

    _on_commit(count)


def achievement_rewarded_on_commit() -> None:
    """An unlock paid its reward (an achievement's claim is its unlock): counted on commit."""
    _on_commit(lambda: claims.labels(kind="achievement", result=CLAIMED).inc())


def _on_commit(count: Callable[[], None]) -> None:
    # robust: a metric must never keep the other on-commit callbacks (pushes, tasks) from running.
    transaction.on_commit(count, robust=True)
