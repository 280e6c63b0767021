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
   ``achievement_progress``.

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
from events.models import Achievement
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
    if not _claim_source(key, user_id, now):
        return report
    report.counted = True
    report.participations = _advance_events(user_id, game, counted, now) if codes & in_force.event_metrics else []
    report.missions = _advance_missions(user_id, game, counted, now)
    report.achievements, report.unlocked = _advance_achievements(user_id, game, counted, now)
    _announce(user_id, report)
    metrics.progress_counted_on_commit(source=event.type, unlocked=len(report.unlocked))
    return report


def _claim_source(key: str, user_id: int, now: datetime) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_SOURCE, [key[:128], user_id, now])
        return cursor.fetchone() is not None


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


def _advance_events(user_id: int, game: str, counted: list[Counted], now: datetime) -> list[dict[str, Any]]:
    params: list[Any] = []
    new_value = _new_value_sql(counted, "value", params)
    codes = [item.metric.code for item in counted]
    placeholders = ", ".join(["%s"] * len(codes))
    sql = (
        # Only placeholders and this module's constants are formatted in; every value is a parameter.
        f"UPDATE events_eventprogress SET value = {new_value} "  # noqa: S608
        f"WHERE user_id = %s AND metric IN ({placeholders}) AND (game = '' OR game = %s) "
        "AND starts_at <= %s AND ends_at > %s AND value < target "
        "RETURNING participation_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, user_id, *codes, game, now, now])
        touched = sorted({int(row[0]) for row in cursor.fetchall()})
        if not touched:
            return []
        ids = ", ".join(["%s"] * len(touched))
        cursor.execute(
            "UPDATE events_eventparticipation AS p SET progress_version = progress_version + 1, "  # noqa: S608
            "completed_at = CASE WHEN completed_at IS NULL AND NOT EXISTS ("
            "  SELECT 1 FROM events_eventprogress r WHERE r.participation_id = p.id AND r.value < r.target"
            ") THEN %s ELSE completed_at END "
            f"WHERE id IN ({ids}) RETURNING id, event_id, progress_version, completed_at",
            [now, *touched],
        )
        rows = cursor.fetchall()
    return [
        {
            "kind": "event",
            "participation_id": int(pid),
            "event_id": int(event_id),
            "progress_version": int(version),
            "completed": completed_at is not None,
            "completed_now": completed_at is not None and _same_instant(completed_at, now),
        }
        for pid, event_id, version, completed_at in rows
    ]


def _same_instant(value: Any, now: datetime) -> bool:
    if isinstance(value, str):  # SQLite returns the raw text
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return bool(value == now)


def _upsert(
    table: str,
    conflict: str,
    rows: list[tuple[Any, ...]],
    columns: str,
    new_value: str,
    done_column: str,
    now: datetime,
    returning: str,
) -> list[tuple[Any, ...]]:
    """Insert the rows or advance the existing ones; ``done_column`` (completed_at / unlocked_at)
    is set once the value reaches the row's target and then freezes the row."""
    values = ", ".join(["(" + ", ".join(["%s"] * len(rows[0])) + ")"] * len(rows))
    sql = (
        # Table and column names are this module's constants; every value is a parameter.
        f"INSERT INTO {table} AS t ({columns}) VALUES {values} "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO UPDATE SET "
        f"value = CASE WHEN t.{done_column} IS NULL THEN {new_value} ELSE t.value END, "
        f"{done_column} = CASE WHEN t.{done_column} IS NULL AND {new_value} >= t.target THEN %s "
        f"ELSE t.{done_column} END, updated_at = excluded.updated_at "
        f"RETURNING {returning}"
    )
    params = [value for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, now])
        return list(cursor.fetchall())


def _row_value(item: Counted) -> int:
    return item.amount


def _advance_missions(user_id: int, game: str, counted: list[Counted], now: datetime) -> list[dict[str, Any]]:
    by_code = {item.metric.code: item for item in counted}
    templates = definitions().templates_for(set(by_code), game)
    if not templates:
        return []
    today = now.date()
    rows = []
    for template in templates:
        amount = by_code[template.metric].amount
        done = now if amount >= template.target else None
        rows.append((template.pk, user_id, period_start(template.period, today), template.target, amount, done, now))
    aggregation = {template.pk: by_code[template.metric].metric.aggregation for template in templates}
    # One CASE per template, since metrics may aggregate differently.
    new_value = _per_row_value_sql("template_id", aggregation)
    returned = _upsert(
        "events_missionprogress",
        "template_id, user_id, period_start",
        rows,
        "template_id, user_id, period_start, target, value, completed_at, updated_at",
        new_value,
        "completed_at",
        now,
        "id, template_id, value, target, completed_at, claimed_at",
    )
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
        for progress_id, template_id, value, target, completed_at, claimed_at in returned
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


def _advance_achievements(
    user_id: int, game: str, counted: list[Counted], now: datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    by_code = {item.metric.code: item for item in counted}
    achievements = {a.pk: a for a in definitions().achievements_for(set(by_code), game)}
    if not achievements:
        return [], []
    rows = []
    for achievement in achievements.values():
        amount = by_code[achievement.metric].amount
        done = now if amount >= achievement.threshold else None
        rows.append((achievement.pk, user_id, achievement.threshold, amount, done, now))
    aggregation = {pk: by_code[a.metric].metric.aggregation for pk, a in achievements.items()}
    returned = _upsert(
        "events_achievementprogress",
        "achievement_id, user_id",
        rows,
        "achievement_id, user_id, target, value, unlocked_at, updated_at",
        _per_row_value_sql("achievement_id", aggregation),
        "unlocked_at",
        now,
        "achievement_id, value, target, unlocked_at",
    )
    progress: list[dict[str, Any]] = []
    unlocked: list[str] = []
    for achievement_id, value, target, unlocked_at in returned:
        achievement = achievements[int(achievement_id)]
        unlocked_now = unlocked_at is not None and _same_instant(unlocked_at, now)
        if unlocked_now:
            unlocked.append(achievement.code)
            achievement_reward_grant(user_id=user_id, achievement=achievement)
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
    events: list[tuple[str, Any, dict[str, Any]]] = [
        ("event_progress", user_id, change) for change in [*report.participations, *report.missions]
    ]
    events += [("achievement_progress", user_id, change) for change in report.achievements]
    if events:
        realtime.emit_many(events)


def registered_metrics() -> list[Metric]:
    return sorted(METRICS.values(), key=lambda metric: metric.code)
