"""Counting what players do towards events, missions and achievements (design promise 8).

:func:`progress_count` is the body of the subscriber every metric's event type runs (inside the
emitter's transaction, so progress commits or rolls back with the round, the purchase, the
claim that caused it). For one domain event it

1. works out each registered metric's contribution (``events.metric_registry``); nothing to
   count: nothing is written;
2. claims the event's source key (``INSERT … ON CONFLICT DO NOTHING RETURNING``): an event
   already counted (the subscriber run again, the event delivered twice) stops here;
3. advances, with one statement each (skipped, with the source claim, when no running event,
   active mission or achievement uses the event's metrics — ``events.definitions`` keeps those
   in memory, so an event nothing counts costs no statement):

   * the player's joined, open event requirements on those metrics (one ``UPDATE … SET value =
     CASE metric …`` over the denormalised progress rows, inside the event's window, never past
     a requirement already met), then the participations touched: ``progress_version + 1``, and
     ``completed_at`` once no requirement is left below its target;
   * the player's mission instances of the current UTC day / ISO week (one multi-row upsert; a
     new period is a new row, so missions reset without a cron);
   * the player's achievement progress (one multi-row upsert), unlocking those that reach their
     threshold — each unlock grants its reward once (ledger key ``achievement:{user}:{code}``);

4. announces what changed: ``event_progress`` (events and missions) and
   ``achievement_progress``, each pushed and handed to its subscribers as an event of its own,
   all stored as one ``progress_update`` outbox row (``realtime.emit_grouped``).

``sum`` metrics add the contribution; ``max`` metrics keep the best value seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

import realtime
from economy.enums import LedgerReason
from economy.services import wallet_grant
from events import metrics
from events.definitions import definitions
from events.enums import Aggregation, MissionPeriod
from events.metric_registry import METRICS, Metric, game_of, metrics_for, source_key_of
from events.models import Achievement, MissionTemplate
from realtime.registry import DomainEvent

_CLAIM_SOURCE = (
    "INSERT INTO events_countedsource (source_key, user_id, created_at) VALUES (%s, %s, %s) "
    "ON CONFLICT (source_key) DO NOTHING RETURNING id"
)


@dataclass(frozen=True)
class Counted:
    metric: Metric
    amount: int


@dataclass
class ProgressReport:
    """What one domain event advanced (for tests and the caller's logs)."""

    counted: bool = False
    participations: list[dict[str, Any]] = field(default_factory=list)
    missions: list[dict[str, Any]] = field(default_factory=list)
    achievements: list[dict[str, Any]] = field(default_factory=list)
    unlocked: list[str] = field(default_factory=list)


def period_start(period: str, today: date) -> date:
    """The first day of the period ``today`` is in: the day itself, or the Monday of its ISO week."""
    return today if period == MissionPeriod.DAILY else today - timedelta(days=today.weekday())


def period_reset_at(period: str, today: date) -> datetime:
    """When the period ``today`` is in ends (UTC midnight of the next day / next Monday)."""
    days = 1 if period == MissionPeriod.DAILY else 7
    return datetime.combine(period_start(period, today) + timedelta(days=days), time.min, tzinfo=UTC)


def progress_count(*, event: DomainEvent) -> ProgressReport:
    """Count ``event`` towards the player's progress once (see the module docstring)."""
    report = ProgressReport()
    user_id = event.user_id
    if user_id is None:
        return report
    counted = [
        Counted(metric, amount) for metric in metrics_for(event.type) if (amount := metric.contribution(event)) > 0
    ]
    if not counted:
        return report
    now = timezone.now()
    in_force = definitions()
    codes = {item.metric.code for item in counted}
    game = game_of(event)
    if not (
        codes & in_force.event_metrics or in_force.templates_for(codes, game) or in_force.achievements_for(codes, game)
    ):
        return report  # nothing counts these metrics now: no statement at all
    key = source_key_of(event)
    if key is None:
        return report
    work = _Work(
        user_id=user_id,
        game=game,
        counted=counted,
        now=now,
        events=bool(codes & in_force.event_metrics),
        templates=in_force.templates_for(codes, game),
        achievements={a.pk: a for a in in_force.achievements_for(codes, game)},
    )
    returned = _count_in_one_statement(key, work) if connection.vendor == "postgresql" else _count_apart(key, work)
    if returned is None:
        return report  # counted before
    report.counted = True
    report.participations = _participation_changes(returned.participations, now)
    report.missions = _mission_changes(returned.missions)
    report.achievements, report.unlocked = _achievement_changes(work, returned.achievements)
    _announce(user_id, report)
    metrics.progress_counted_on_commit(source=event.type, unlocked=len(report.unlocked))
    return report


@dataclass(frozen=True)
class _Work:
    """What one domain event advances: the player, the metrics it counts and the definitions in force."""

    user_id: int
    game: str
    counted: list[Counted]
    now: datetime
    events: bool  # a running event requires one of the metrics
    templates: list[MissionTemplate]
    achievements: dict[int, Achievement]


@dataclass
class _Returned:
    """The rows the statements returned: participations (id, event_id, progress_version,
    completed_at), missions (id, template_id, value, target, completed_at, claimed_at),
    achievements (achievement_id, value, target, unlocked_at)."""

    participations: list[tuple[Any, ...]] = field(default_factory=list)
    missions: list[tuple[Any, ...]] = field(default_factory=list)
    achievements: list[tuple[Any, ...]] = field(default_factory=list)


def _count_in_one_statement(key: str, work: _Work) -> _Returned | None:
    """PostgreSQL: the source claim and every advance in one statement (data-modifying CTEs, each
    advance only when the claim inserted its row); None when the event was counted before.

    Every part of a statement sees the same snapshot, so the participations' completion check
    takes the requirements this statement advanced from ``ev`` (their new values) and the others
    from the table."""
    params: list[Any] = [key[:128], work.user_id, work.now]
    ctes = [f"claimed AS ({_CLAIM_SOURCE})"]
    selects = [
        "SELECT 'claimed', id, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz, NULL::timestamptz "
        "FROM claimed"
    ]
    if work.events:
        update, update_params = _event_progress_update(work)
        ctes.append(
            # The UPDATE is this module's, with placeholders only (``_event_progress_update``).
            f"ev AS ({update} AND EXISTS (SELECT 1 FROM claimed) RETURNING id, participation_id, value, target)"  # noqa: S608
        )
        ctes.append(
            "part AS (UPDATE events_eventparticipation AS p SET progress_version = p.progress_version + 1, "
            "completed_at = CASE WHEN p.completed_at IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM ev WHERE ev.participation_id = p.id AND ev.value < ev.target) "
            "AND NOT EXISTS (SELECT 1 FROM events_eventprogress r WHERE r.participation_id = p.id "
            "AND r.value < r.target AND r.id NOT IN (SELECT id FROM ev)) "
            "THEN %s ELSE p.completed_at END "
            "WHERE p.id IN (SELECT participation_id FROM ev) "
            "RETURNING p.id, p.event_id, p.progress_version, p.completed_at)"
        )
        params += [*update_params, work.now]
        selects.append("SELECT 'event', id, event_id, progress_version, NULL, completed_at, NULL FROM part")
    if work.templates:
        upsert, upsert_params = _upsert_sql(_mission_upsert(work), guarded=True)
        ctes.append(f"mis AS ({upsert})")
        params += upsert_params
        selects.append("SELECT 'mission', id, template_id, value, target, completed_at, claimed_at FROM mis")
    if work.achievements:
        upsert, upsert_params = _upsert_sql(_achievement_upsert(work), guarded=True)
        ctes.append(f"ach AS ({upsert})")
        params += upsert_params
        selects.append("SELECT 'achievement', achievement_id, value, target, NULL, unlocked_at, NULL FROM ach")
    with connection.cursor() as cursor:
        cursor.execute("WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(selects), params)
        rows = cursor.fetchall()
    if not any(row[0] == "claimed" for row in rows):
        return None
    returned = _Returned()
    for kind, a, b, c, d, moment, claimed_at in rows:
        if kind == "event":
            returned.participations.append((a, b, c, moment))
        elif kind == "mission":
            returned.missions.append((a, b, c, d, moment, claimed_at))
        elif kind == "achievement":
            returned.achievements.append((a, b, c, moment))
    return returned


def _count_apart(key: str, work: _Work) -> _Returned | None:
    """Elsewhere (SQLite, embedded mode): the claim, then one statement per advance."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SOURCE, [key[:128], work.user_id, work.now])
        if cursor.fetchone() is None:
            return None
        returned = _Returned()
        if work.events:
            update, update_params = _event_progress_update(work)
            cursor.execute(f"{update} RETURNING participation_id", update_params)
            touched = sorted({int(row[0]) for row in cursor.fetchall()})
            if touched:
                ids = ", ".join(["%s"] * len(touched))
                cursor.execute(
                    "UPDATE events_eventparticipation AS p SET progress_version = progress_version + 1, "  # noqa: S608
                    "completed_at = CASE WHEN completed_at IS NULL AND NOT EXISTS ("
                    "  SELECT 1 FROM events_eventprogress r WHERE r.participation_id = p.id AND r.value < r.target"
                    ") THEN %s ELSE completed_at END "
                    f"WHERE id IN ({ids}) RETURNING id, event_id, progress_version, completed_at",
                    [work.now, *touched],
                )
                returned.participations = list(cursor.fetchall())
        for upsert, target in (
            (_mission_upsert(work) if work.templates else None, returned.missions),
            (_achievement_upsert(work) if work.achievements else None, returned.achievements),
        ):
            if upsert is not None:
                sql, upsert_params = _upsert_sql(upsert, guarded=False)
                cursor.execute(sql, upsert_params)
                target.extend(cursor.fetchall())
    return returned


def _new_value_sql(counted: Iterable[Counted], column: str, params: list[Any]) -> str:
    """``CASE metric WHEN … THEN <new value> … END`` for the metrics counted (params appended)."""
    whens = []
    for item in counted:
        if item.metric.aggregation == Aggregation.MAX:
            whens.append(f"WHEN %s THEN CASE WHEN {column} < %s THEN %s ELSE {column} END")
            params.extend([item.metric.code, item.amount, item.amount])
        else:
            whens.append(f"WHEN %s THEN {column} + %s")
            params.extend([item.metric.code, item.amount])
    return f"CASE metric {' '.join(whens)} ELSE {column} END"


def _event_progress_update(work: _Work) -> tuple[str, list[Any]]:
    """The player's joined, open event requirements on the counted metrics, advanced (never past
    a requirement already met); without its RETURNING clause."""
    params: list[Any] = []
    new_value = _new_value_sql(work.counted, "value", params)
    codes = [item.metric.code for item in work.counted]
    placeholders = ", ".join(["%s"] * len(codes))
    sql = (
        # Only placeholders and this module's constants are formatted in; every value is a parameter.
        f"UPDATE events_eventprogress SET value = {new_value} "  # noqa: S608
        f"WHERE user_id = %s AND metric IN ({placeholders}) AND (game = '' OR game = %s) "
        "AND starts_at <= %s AND ends_at > %s AND value < target"
    )
    return sql, [*params, work.user_id, *codes, work.game, work.now, work.now]


def _participation_changes(rows: list[tuple[Any, ...]], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "kind": "event",
            "participation_id": int(pid),
            "event_id": int(event_id),
            "progress_version": int(version),
            "completed": completed_at is not None,
            "completed_now": completed_at is not None and _same_instant(completed_at, now),
        }
        for pid, event_id, version, completed_at in sorted(rows, key=lambda row: int(row[0]))
    ]


def _same_instant(value: Any, now: datetime) -> bool:
    if isinstance(value, str):  # SQLite returns the raw text
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return bool(value == now)


@dataclass(frozen=True)
class _Upsert:
    """Progress rows to insert or advance: ``done_column`` (completed_at / unlocked_at) is set once
    the value reaches the row's target and then freezes the row."""

    table: str
    conflict: str
    columns: str
    casts: tuple[str, ...]  # each column's type, for the rows as a VALUES list inside a statement
    rows: list[tuple[Any, ...]]
    new_value: str
    done_column: str
    returning: str
    now: datetime


def _upsert_sql(upsert: _Upsert, *, guarded: bool) -> tuple[str, list[Any]]:
    """The upsert and its parameters; ``guarded``: inside :func:`_count_in_one_statement`, only when
    the source was claimed (the rows then come as a typed VALUES list, which no column infers)."""
    if guarded:
        row = "(" + ", ".join(f"%s::{cast}" for cast in upsert.casts) + ")"
        values = ", ".join([row] * len(upsert.rows))
        source = f"SELECT * FROM (VALUES {values}) AS v WHERE EXISTS (SELECT 1 FROM claimed)"  # noqa: S608
    else:
        row = "(" + ", ".join(["%s"] * len(upsert.casts)) + ")"
        source = "VALUES " + ", ".join([row] * len(upsert.rows))
    done, new_value = upsert.done_column, upsert.new_value
    sql = (
        # Table and column names are this module's constants; every value is a parameter.
        f"INSERT INTO {upsert.table} AS t ({upsert.columns}) {source} "
        f"ON CONFLICT ({upsert.conflict}) DO UPDATE SET "
        f"value = CASE WHEN t.{done} IS NULL THEN {new_value} ELSE t.value END, "
        f"{done} = CASE WHEN t.{done} IS NULL AND {new_value} >= t.target THEN %s "
        f"ELSE t.{done} END, updated_at = excluded.updated_at "
        # A row already done is frozen: not rewritten (no new row version) and not returned, so
        # nothing is announced for it.
        f"WHERE t.{done} IS NULL "
        f"RETURNING {upsert.returning}"
    )
    return sql, [*(value for row in upsert.rows for value in row), upsert.now]


def _mission_upsert(work: _Work) -> _Upsert:
    """The player's instances of the missions counting these metrics, in the current UTC day / ISO
    week (a new period is a new row, so missions reset without a cron)."""
    by_code = {item.metric.code: item for item in work.counted}
    today = work.now.date()
    rows = []
    for template in work.templates:
        amount = by_code[template.metric].amount
        done = work.now if amount >= template.target else None
        rows.append(
            (template.pk, work.user_id, period_start(template.period, today), template.target, amount, done, work.now)
        )
    aggregation = {template.pk: by_code[template.metric].metric.aggregation for template in work.templates}
    return _Upsert(
        table="events_missionprogress",
        conflict="template_id, user_id, period_start",
        columns="template_id, user_id, period_start, target, value, completed_at, updated_at",
        casts=("bigint", "bigint", "date", "bigint", "bigint", "timestamptz", "timestamptz"),
        rows=rows,
        # One CASE per template, since metrics may aggregate differently.
        new_value=_per_row_value_sql("template_id", aggregation),
        done_column="completed_at",
        returning="id, template_id, value, target, completed_at, claimed_at",
        now=work.now,
    )


def _mission_changes(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [
        {
            "kind": "mission",
            "mission_id": int(template_id),
            "progress_id": int(progress_id),
            "current_progress": int(value),
            "target_value": int(target),
            "completed": completed_at is not None,
            "claimed": claimed_at is not None,
        }
        for progress_id, template_id, value, target, completed_at, claimed_at in rows
    ]


def _per_row_value_sql(key_column: str, aggregation: dict[int, str]) -> str:
    """The new value of an upserted row: ``max`` rows keep the larger, ``sum`` rows add. The ids
    are integers from our own tables, written into the SQL as such."""
    max_ids = sorted(pk for pk, kind in aggregation.items() if kind == Aggregation.MAX)
    if not max_ids:
        return "t.value + excluded.value"
    ids = ", ".join(str(int(pk)) for pk in max_ids)
    return (
        f"CASE WHEN t.{key_column} IN ({ids}) THEN "
        "CASE WHEN excluded.value > t.value THEN excluded.value ELSE t.value END "
        "ELSE t.value + excluded.value END"
    )


def _achievement_upsert(work: _Work) -> _Upsert:
    """The player's progress towards the achievements counting these metrics."""
    by_code = {item.metric.code: item for item in work.counted}
    rows = []
    for achievement in work.achievements.values():
        amount = by_code[achievement.metric].amount
        done = work.now if amount >= achievement.threshold else None
        rows.append((achievement.pk, work.user_id, achievement.threshold, amount, done, work.now))
    aggregation = {pk: by_code[a.metric].metric.aggregation for pk, a in work.achievements.items()}
    return _Upsert(
        table="events_achievementprogress",
        conflict="achievement_id, user_id",
        columns="achievement_id, user_id, target, value, unlocked_at, updated_at",
        casts=("bigint", "bigint", "bigint", "bigint", "timestamptz", "timestamptz"),
        rows=rows,
        new_value=_per_row_value_sql("achievement_id", aggregation),
        done_column="unlocked_at",
        returning="achievement_id, value, target, unlocked_at",
        now=work.now,
    )


def _achievement_changes(work: _Work, rows: list[tuple[Any, ...]]) -> tuple[list[dict[str, Any]], list[str]]:
    """What the player is told of their achievements' progress; each unlocked now pays its reward."""
    progress: list[dict[str, Any]] = []
    unlocked: list[str] = []
    for achievement_id, value, target, unlocked_at in rows:
        achievement = work.achievements[int(achievement_id)]
        unlocked_now = unlocked_at is not None and _same_instant(unlocked_at, work.now)
        if unlocked_now:
            unlocked.append(achievement.code)
            achievement_reward_grant(user_id=work.user_id, achievement=achievement)
        if achievement.is_hidden and unlocked_at is None:
            continue  # a secret stays secret until unlocked: no push names it
        progress.append(
            {
                "achievement_id": achievement.pk,
                "code": achievement.code,
                "title": achievement.title,
                "progress": int(value),
                "threshold": int(target),
                "unlocked": unlocked_at is not None,
                "unlocked_now": unlocked_now,
            }
        )
    return progress, unlocked


def achievement_reward_key(user_id: int, code: str) -> str:
    return f"achievement:{user_id}:{code}"


def achievement_reward_grant(*, user_id: int, achievement: Achievement) -> None:
    """Pay an unlocked achievement's reward, once (a helper: the unlock's transaction)."""
    bundle = achievement.reward_bundle
    if bundle:
        wallet_grant(
            user=user_id,
            bundle=bundle,
            reason=LedgerReason.ACHIEVEMENT,
            idempotency_key=achievement_reward_key(user_id, achievement.code),
            reference=f"achievement:{achievement.code}",
        )
    if bundle or achievement.reward_items:
        metrics.achievement_rewarded_on_commit()
        realtime.emit(
            "reward_granted",
            user_id,
            {
                "source": LedgerReason.ACHIEVEMENT.value,
                "amounts": bundle,
                "items": list(achievement.reward_items),
                "achievement": achievement.code,
            },
        )


def _announce(user_id: int, report: ProgressReport) -> None:
    """One ``progress_update`` row for every change (a round advances a dozen), each change
    pushed and handed to its subscribers as an ``event_progress`` or ``achievement_progress``."""
    parts: list[tuple[str, dict[str, Any]]] = [
        ("event_progress", change) for change in [*report.participations, *report.missions]
    ]
    parts += [("achievement_progress", change) for change in report.achievements]
    realtime.emit_grouped("progress_update", user_id, parts)


def registered_metrics() -> list[Metric]:
    return sorted(METRICS.values(), key=lambda metric: metric.code)
