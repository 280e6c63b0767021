"""Player segments: every player's RFM group, computed nightly, and the saved filters staff
define over players (``economy.segment_filters`` says who a saved segment holds).

**The computation** (:func:`segments_compute`; ``manage.py compute_segments``, the nightly
task, the admin's "Recompute now") scores every player who is not staff -- banned players
too: the figures say what happened, and a ban can be lifted; the saved filters leave banned
players out -- over the last ``SEGMENT_WINDOW_DAYS`` days, from ClickHouse when
``CLICKHOUSE_URL`` is set and from PostgreSQL otherwise (``economy.rfm``: the apps'
sources, which agree). It replaces every player's ``PlayerSegment`` with one upsert per
chunk, all in one transaction with the ``SegmentRun`` that records the group sizes and
timings, so readers see the previous run's rows until the new ones are complete.

**Saved segments** are created, changed and deleted through the audited services below,
each needing the model's add/change/delete permission; previewing one
(:func:`segment_preview`) needs ``economy.preview_segment`` and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import status

from casino.errors import ApplicationError
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.models import PlayerSegment, RfmGroup, Segment, SegmentRun
from economy.rfm import (
    CLICKHOUSE,
    POSTGRESQL,
    RfmFacts,
    RfmSpan,
    RfmThresholds,
    recency_days,
    rfm_facts_merge,
    rfm_group,
    rfm_scores,
    rfm_sources,
    truncate_to_ms,
)
from economy.segment_filters import segment_players

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

AUTO = "auto"
SOURCES = (AUTO, CLICKHOUSE, POSTGRESQL)
COMPUTE_PERMISSION = "economy.compute_segments"
PREVIEW_PERMISSION = "economy.preview_segment"
WRITE_CHUNK = 10_000
PREVIEW_PLAYERS = 20
# The columns a run rewrites on a player's existing row.
SEGMENT_COMPUTED_FIELDS = (
    "rfm_group",
    "recency_score",
    "frequency_score",
    "monetary_score",
    "recency_days",
    "frequency",
    "monetary",
    "total_spent",
    "source",
    "computed_at",
)
# Fields staff edit in the segment form (the audit records keep their values).
SEGMENT_FIELDS = (
    "name",
    "description",
    "rfm_groups",
    "vip_tiers",
    "level_min",
    "level_max",
    "seen_within_days",
    "unseen_for_days",
    "total_spent_min",
    "total_spent_max",
    "phone_prefixes",
)

Progress = Callable[[int, int], None]
Say = Callable[[str], None]


class SegmentSourceUnavailable(ApplicationError):
    """The source asked for cannot be read (ClickHouse not configured, or not answering)."""

    code = "segment_source_unavailable"
    message = "That source of player activity is not available."
    status = status.HTTP_503_SERVICE_UNAVAILABLE


class UnknownSegmentSource(ApplicationError):
    code = "unknown_segment_source"
    message = "The source must be auto, clickhouse or postgresql."


# --- The computation ---------------------------------------------------------------------


def segment_span(*, now: datetime, window_days: int, currency: str) -> RfmSpan:
    until = truncate_to_ms(now)
    return RfmSpan(since=until - timedelta(days=window_days), until=until, currency=currency)


def rfm_facts_read(*, source: str, span: RfmSpan) -> dict[int, RfmFacts]:
    """Every registered source's facts for ``span``, merged per player, from ``source``
    (``clickhouse`` or ``postgresql``)."""
    if source == POSTGRESQL:
        return rfm_facts_merge(registered.postgres(span) for registered in rfm_sources())
    from realtime import clickhouse

    ch = clickhouse.client()
    try:
        return rfm_facts_merge(registered.clickhouse(ch, span) for registered in rfm_sources())
    finally:
        ch.disconnect()


def _facts_with_fallback(*, source: str, span: RfmSpan, say: Say) -> tuple[str, dict[int, RfmFacts]]:
    if source not in SOURCES:
        raise UnknownSegmentSource(source=source)
    if source == CLICKHOUSE and not settings.CLICKHOUSE_URL:
        raise SegmentSourceUnavailable("CLICKHOUSE_URL is not set.", source=source)
    wanted = source if source != AUTO else (CLICKHOUSE if settings.CLICKHOUSE_URL else POSTGRESQL)
    if wanted == POSTGRESQL:
        return POSTGRESQL, rfm_facts_read(source=POSTGRESQL, span=span)
    try:
        return CLICKHOUSE, rfm_facts_read(source=CLICKHOUSE, span=span)
    except Exception as exc:
        if source == CLICKHOUSE:
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SegmentSourceUnavailable(f"ClickHouse did not answer: {first_line}", source=source) from exc
        # Nightly runs go on from PostgreSQL (the same figures) rather than not at all.
        from casino.degraded import dependency_failed

        dependency_failed(dependency="clickhouse", use="segments", error=exc)
        say(f"ClickHouse did not answer ({type(exc).__name__}); reading PostgreSQL instead.")
        return POSTGRESQL, rfm_facts_read(source=POSTGRESQL, span=span)


# One player's scored figures: user id, group, the three scores, recency days, frequency,
# monetary, total spent (the columns of PlayerSegment but the run's source and time).
ScoredRow = tuple[int, str, int, int, int, int | None, int, int, int]


def _scored_rows(
    *, player_ids: list[int], facts: dict[int, RfmFacts], now: datetime, thresholds: RfmThresholds
) -> list[ScoredRow]:
    none = RfmFacts()
    rows: list[ScoredRow] = []
    for user_id in player_ids:
        known = facts.get(user_id, none)
        days = recency_days(last_at=known.last_at, now=now)
        scores = rfm_scores(recency_days=days, frequency=known.activities, monetary=known.spent, thresholds=thresholds)
        rows.append(
            (
                user_id,
                rfm_group(scores),
                scores.recency,
                scores.frequency,
                scores.monetary,
                days,
                known.activities,
                known.spent,
                known.spent_total,
            )
        )
    return rows


def _rows_write(rows: list[ScoredRow], *, source: str, now: datetime) -> None:
    """Insert or replace these players' rows with one upsert. On PostgreSQL the rows are
    first streamed into a temporary table with ``COPY`` (no parameters, no model objects),
    which is several times faster than binding them; elsewhere (SQLite, embedded mode)
    ``bulk_create`` does it."""
    if connection.vendor != "postgresql":
        PlayerSegment.objects.bulk_create(
            [PlayerSegment(**dict(zip(_COLUMNS, (*row, source, now), strict=True))) for row in rows],
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=SEGMENT_COMPUTED_FIELDS,
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(_STAGING_CREATE)
        with cursor.cursor.copy(f"COPY {_STAGING} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(_UPSERT, [source, now])
        cursor.execute(f"TRUNCATE {_STAGING}")


_STAGING = "segment_rows_in"
_STAGING_CREATE = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} (user_id bigint, rfm_group text, recency_score smallint, "
    "frequency_score smallint, monetary_score smallint, recency_days integer, frequency integer, monetary bigint, "
    "total_spent bigint) ON COMMIT DROP"
)
_COLUMNS = ("user_id", *SEGMENT_COMPUTED_FIELDS)
# Fixed names from the model; every value is a bound parameter.
_UPSERT = (
    f"INSERT INTO {PlayerSegment._meta.db_table} ({', '.join(_COLUMNS)}) "  # noqa: S608
    f"SELECT *, %s::text, %s::timestamptz FROM {_STAGING} "
    "ON CONFLICT (user_id) DO UPDATE SET "
    + ", ".join(f"{column} = EXCLUDED.{column}" for column in SEGMENT_COMPUTED_FIELDS)
)


def segments_compute(
    *,
    source: str = AUTO,
    now: datetime | None = None,
    progress: Progress | None = None,
    say: Say | None = None,
) -> SegmentRun:
    """Score every non-staff player and replace their ``PlayerSegment`` rows; record the run.

    ``source``: ``auto`` (ClickHouse when configured, falling back to PostgreSQL when it
    does not answer), ``clickhouse`` (refused with ``segment_source_unavailable`` rather
    than falling back) or ``postgresql``. ``progress(done, total)`` after each chunk
    written, ``say(text)`` at each stage (the command prints both)."""
    from accounts.models import User

    say = say or (lambda text: None)
    now = truncate_to_ms(now or timezone.now())
    window_days = int(settings.SEGMENT_WINDOW_DAYS)
    span = segment_span(now=now, window_days=window_days, currency=str(settings.SEGMENT_CURRENCY).upper())
    thresholds = RfmThresholds.from_settings()
    clock = time.monotonic()

    used, facts = _facts_with_fallback(source=source, span=span, say=say)
    player_ids = sorted(User.objects.filter(is_staff=False).values_list("pk", flat=True).iterator(chunk_size=20_000))
    read_seconds = time.monotonic() - clock
    say(
        f"Read the activity of the last {window_days} days from {used} "
        f"({len(facts)} active player(s), {len(player_ids)} player(s) to score) in {read_seconds:.2f} s."
    )

    started = time.monotonic()
    rows = _scored_rows(player_ids=player_ids, facts=facts, now=now, thresholds=thresholds)
    sizes = Counter(row[1] for row in rows)
    score_seconds = time.monotonic() - started
    write_seconds = 0.0
    with transaction.atomic(durable=True):
        run = SegmentRun.objects.create(started_at=now, source=used, window_days=window_days)
        done = 0
        for offset in range(0, len(rows), WRITE_CHUNK):
            chunk = rows[offset : offset + WRITE_CHUNK]
            started = time.monotonic()
            _rows_write(chunk, source=used, now=now)
            write_seconds += time.monotonic() - started
            done += len(chunk)
            if progress is not None:
                progress(done, len(rows))
        # Staff accounts are no players (someone made staff since the last run).
        PlayerSegment.objects.filter(user__is_staff=True).delete()
        run.players = done
        run.sizes = {group: sizes.get(group, 0) for group in RfmGroup.values}
        run.finished_at = timezone.now()
        run.timings = {
            "read_seconds": round(read_seconds, 3),
            "score_seconds": round(score_seconds, 3),
            "write_seconds": round(write_seconds, 3),
            "total_seconds": round(time.monotonic() - clock, 3),
        }
        run.save(update_fields=["players", "sizes", "finished_at", "timings"])
    say(
        f"Segment run #{run.pk}: {done} player(s) scored from {used} in {run.timings['total_seconds']:.2f} s "
        f"({run.timings['write_seconds']:.2f} s writing): "
        + ", ".join(f"{RfmGroup(group).label} {count}" for group, count in run.sizes.items())
        + "."
    )
    return run


# --- Saved segments ------------------------------------------------------------------------


def _values(segment: Segment) -> dict[str, Any]:
    return {field: getattr(segment, field) for field in SEGMENT_FIELDS}


def segment_create(*, actor: User, segment: Segment, reason: str) -> Segment:
    """Save a segment the back office's add form built. Not durable: the admin's own
    transaction wraps it (its atomic block is then a savepoint)."""
    staff_permission_require(actor=actor, permission="economy.add_segment")
    now = timezone.now()
    segment.created_by = actor
    segment.created_at = segment.updated_at = now
    with transaction.atomic():
        segment.save(force_insert=True)
        audit_record(actor=actor, action="segment_create", target=segment, reason=reason, data=_values(segment))
    return segment


def segment_update(*, actor: User, segment: Segment, changed_fields: Collection[str], reason: str) -> Segment:
    """Save the fields the change form edited; the audit record keeps each before and after."""
    staff_permission_require(actor=actor, permission="economy.change_segment")
    fields = [field for field in SEGMENT_FIELDS if field in changed_fields]
    if not fields:
        return segment
    with transaction.atomic():
        before = Segment.objects.select_for_update(of=("self",)).values(*fields).get(pk=segment.pk)
        segment.updated_at = timezone.now()
        segment.save(update_fields=[*fields, "updated_at"])
        changes = {field: [before[field], getattr(segment, field)] for field in fields}
        audit_record(actor=actor, action="segment_update", target=segment, reason=reason, data={"changes": changes})
    return segment


def segment_delete(*, actor: User, segment: Segment, reason: str) -> None:
    staff_permission_require(actor=actor, permission="economy.delete_segment")
    with transaction.atomic():
        audit_record(actor=actor, action="segment_delete", target=segment, reason=reason, data=_values(segment))
        segment.delete()


@dataclass(frozen=True)
class SegmentPreview:
    count: int
    players: list[User]


def segment_preview(*, actor: User, segment: Segment, limit: int = PREVIEW_PLAYERS) -> SegmentPreview:
    """How many players ``segment`` (saved or not) holds, and the first ``limit`` of them."""
    staff_permission_require(actor=actor, permission=PREVIEW_PERMISSION)
    players = segment_players(segment)
    return SegmentPreview(count=players.count(), players=list(players[:limit]))
