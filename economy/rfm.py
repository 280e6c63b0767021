"""RFM (recency, frequency, monetary): the scoring rules, and the registry of the facts they
score.

The facts live in apps the economy may not import (games: rounds; shop: orders), so each
app registers a *source* from its ``AppConfig.ready()`` (:func:`register_rfm_source`),
the way apps plug into ``realtime.registry``. A source reads the same facts two ways,
which must agree (``economy/tests/test_segments_sources.py`` holds them to it):

* ``postgres(span)``: from the app's own tables;
* ``clickhouse(ch, span)``: from ``events_log`` (the domain events the sink copied), where a
  redelivered event may still be there twice before a merge, so a source counts
  ``uniqExact(event_id)`` (or one row per order) and takes ``max``/``min`` of times, never
  ``count()``.

Each returns, per player id, an :class:`RfmFacts` for the :class:`RfmSpan`: the time of the
player's latest activity before ``span.until`` (ever, not only in the window), the
activities in the window, the money spent in the window and ever, in minor units of
``span.currency`` only (an order in another currency counts as an activity, not as money).

The economy registers logins itself (``accounts``, below it, owns ``User.last_login``): a
password login makes a player *recent*, but is no activity of the window, because PostgreSQL
keeps only the last one and both sources must count alike.

The scores and the group are pure functions (:func:`rfm_scores`, :func:`rfm_group`) of the
figures and :class:`RfmThresholds` (the ``SEGMENT_*`` settings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from economy.models import RfmGroup

POSTGRESQL = "postgresql"
CLICKHOUSE = "clickhouse"

HIGH, MEDIUM, LOW = 5, 3, 1


# --- The rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RfmThresholds:
    """Score 5 at or within the ``high`` bound, 3 at or within ``medium``, else 1. Recency is
    in whole days (fewer is better); frequency in activities and monetary in minor units
    (more is better)."""

    recency_high_days: int = 7
    recency_medium_days: int = 30
    frequency_high: int = 50
    frequency_medium: int = 10
    monetary_high: int = 10_000
    monetary_medium: int = 1_000

    @classmethod
    def from_settings(cls) -> RfmThresholds:
        return cls(
            recency_high_days=settings.SEGMENT_RECENCY_HIGH_DAYS,
            recency_medium_days=settings.SEGMENT_RECENCY_MEDIUM_DAYS,
            frequency_high=settings.SEGMENT_FREQUENCY_HIGH,
            frequency_medium=settings.SEGMENT_FREQUENCY_MEDIUM,
            monetary_high=settings.SEGMENT_MONETARY_HIGH,
            monetary_medium=settings.SEGMENT_MONETARY_MEDIUM,
        )


@dataclass(frozen=True)
class RfmScores:
    recency: int
    frequency: int
    monetary: int


def rfm_scores(*, recency_days: int | None, frequency: int, monetary: int, thresholds: RfmThresholds) -> RfmScores:
    """The three scores. A player with no activity ever (``recency_days`` None) is as far
    away as can be: recency 1."""
    if recency_days is not None and recency_days <= thresholds.recency_high_days:
        recency = HIGH
    elif recency_days is not None and recency_days <= thresholds.recency_medium_days:
        recency = MEDIUM
    else:
        recency = LOW
    frequency_score = (
        HIGH if frequency >= thresholds.frequency_high else MEDIUM if frequency >= thresholds.frequency_medium else LOW
    )
    monetary_score = (
        HIGH if monetary >= thresholds.monetary_high else MEDIUM if monetary >= thresholds.monetary_medium else LOW
    )
    return RfmScores(recency=recency, frequency=frequency_score, monetary=monetary_score)


def rfm_group(scores: RfmScores) -> str:
    """Whale when all three scores are at least 4; otherwise by their mean: at least 3
    High-Value, at least 2 Medium-Value; below that At-Risk when recency is under 2 (gone
    quiet), else Low-Value. The mean is compared as a sum (no floating point)."""
    r, f, m = scores.recency, scores.frequency, scores.monetary
    if r >= 4 and f >= 4 and m >= 4:
        return RfmGroup.WHALE
    total = r + f + m
    if total >= 3 * 3:
        return RfmGroup.HIGH_VALUE
    if total >= 2 * 3:
        return RfmGroup.MEDIUM_VALUE
    return RfmGroup.AT_RISK if r < 2 else RfmGroup.LOW_VALUE


def recency_days(*, last_at: datetime | None, now: datetime) -> int | None:
    """Whole days from ``last_at`` to ``now`` (7 days and 23 hours: 7)."""
    if last_at is None:
        return None
    return max(0, (now - last_at).days)


# --- The facts and their sources -----------------------------------------------------------


@dataclass(frozen=True)
class RfmSpan:
    """What a source reads: activity before ``until``; the window is ``[since, until)``.
    Both are whole milliseconds (ClickHouse's resolution), so both sources cut at the same
    instant."""

    since: datetime
    until: datetime
    currency: str

    @property
    def since_ms(self) -> int:
        return epoch_ms(self.since)

    @property
    def until_ms(self) -> int:
        return epoch_ms(self.until)


@dataclass(frozen=True)
class RfmFacts:
    last_at: datetime | None = None
    activities: int = 0
    spent: int = 0
    spent_total: int = 0

    def __add__(self, other: RfmFacts) -> RfmFacts:
        last = [at for at in (self.last_at, other.last_at) if at is not None]
        return RfmFacts(
            last_at=max(last) if last else None,
            activities=self.activities + other.activities,
            spent=self.spent + other.spent,
            spent_total=self.spent_total + other.spent_total,
        )


PostgresFacts = Callable[[RfmSpan], Mapping[int, RfmFacts]]
ClickHouseFacts = Callable[[Any, RfmSpan], Mapping[int, RfmFacts]]


@dataclass(frozen=True)
class RfmSource:
    name: str
    postgres: PostgresFacts
    clickhouse: ClickHouseFacts


_SOURCES: dict[str, RfmSource] = {}


def register_rfm_source(name: str, *, postgres: PostgresFacts, clickhouse: ClickHouseFacts) -> None:
    """Add (or replace) a source of activity facts, from an ``AppConfig.ready()``."""
    _SOURCES[name] = RfmSource(name=name, postgres=postgres, clickhouse=clickhouse)


def rfm_sources() -> list[RfmSource]:
    return [_SOURCES[name] for name in sorted(_SOURCES)]


def rfm_facts_merge(parts: Iterable[Mapping[int, RfmFacts]]) -> dict[int, RfmFacts]:
    merged: dict[int, RfmFacts] = {}
    for part in parts:
        for user_id, facts in part.items():
            known = merged.get(user_id)
            merged[user_id] = facts if known is None else known + facts
    return merged


# --- Helpers for sources -------------------------------------------------------------------


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(value: int | None) -> datetime | None:
    """A ClickHouse ``occurred_ms`` as an aware datetime; 0 (an empty ``max``) is None."""
    if not value:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def truncate_to_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


# --- Logins: the economy's own source (accounts' data) --------------------------------------

LOGIN_EVENT = "user_logged_in"


def logins_postgres(span: RfmSpan) -> dict[int, RfmFacts]:
    from accounts.models import User

    rows = User.objects.filter(is_staff=False, last_login__lt=span.until).values_list("pk", "last_login")
    return {user_id: RfmFacts(last_at=last_login) for user_id, last_login in rows.iterator(chunk_size=10_000)}


def logins_clickhouse(ch: Any, span: RfmSpan) -> dict[int, RfmFacts]:
    from realtime import clickhouse

    # A constant table name; every value is a bound parameter.
    query = (
        f"SELECT user_id, max(occurred_ms) FROM {clickhouse.TABLE} "  # noqa: S608
        "WHERE type = %(type)s AND user_id > 0 AND occurred_ms < %(until_ms)s GROUP BY user_id"
    )
    rows = ch.execute(query, {"type": LOGIN_EVENT, "until_ms": span.until_ms})
    return {int(user_id): RfmFacts(last_at=from_epoch_ms(last_ms)) for user_id, last_ms in rows}


def register_login_source() -> None:
    register_rfm_source("logins", postgres=logins_postgres, clickhouse=logins_clickhouse)
