"""What accounts shows on the staff dashboard (``casino.dashboard``; registered in
``accounts/apps.py``): players online, daily, weekly and monthly actives, sign-ups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.urls import reverse

from accounts.models import PlayerDay, User
from casino.dashboard import DashboardContext, Figure
from realtime.selectors import ONLINE_WINDOW


@dataclass(frozen=True)
class ActivityCounts:
    online: int  # active accounts seen in the last ONLINE_WINDOW (the live metrics' rule)
    daily: int  # seen since 00:00 UTC
    weekly: int  # seen on one of the last 7 UTC days, today included
    monthly: int  # ... of the last 30
    new_today: int  # joined since 00:00 UTC


def activity_counts(context: DashboardContext) -> ActivityCounts:
    """Players online, DAU, WAU, MAU and today's sign-ups in one query.

    ``last_seen_at`` only moves forward, so a player active at any time in a window
    is exactly one whose ``last_seen_at`` falls in it: the windows are ranges of that
    column's index (and ``date_joined``'s), not a distinct count over ``PlayerDay``."""
    midnight = context.days_start(1)
    week, month = context.days_start(7), context.days_start(30)
    online_since = context.now - ONLINE_WINDOW
    row = User.objects.filter(Q(last_seen_at__gte=month) | Q(date_joined__gte=midnight)).aggregate(
        online=Count("pk", filter=Q(last_seen_at__gte=online_since, is_active=True)),
        daily=Count("pk", filter=Q(last_seen_at__gte=midnight)),
        weekly=Count("pk", filter=Q(last_seen_at__gte=week)),
        monthly=Count("pk", filter=Q(last_seen_at__gte=month)),
        new_today=Count("pk", filter=Q(date_joined__gte=midnight)),
    )
    return ActivityCounts(**{name: int(value) for name, value in row.items()})


def _count(value: int, note: str, url: str = "") -> Figure:
    return Figure(value=value, text=f"{value:,}", note=note, url=url)


def _users_since(since: datetime, field: str) -> str:
    query = urlencode({f"{field}__gte": since.isoformat(sep=" ")})
    return f"{reverse('admin:accounts_user_changelist')}?{query}"


def dashboard_online(context: DashboardContext) -> Figure:
    minutes = int(ONLINE_WINDOW.total_seconds() // 60)
    return _count(context.once(activity_counts).online, f"seen in the last {minutes} minutes")


def dashboard_daily_active(context: DashboardContext) -> Figure:
    since = context.days_start(1)
    return _count(context.once(activity_counts).daily, "since 00:00 UTC", _users_since(since, "last_seen_at"))


def dashboard_weekly_active(context: DashboardContext) -> Figure:
    since = context.days_start(7)
    return _count(context.once(activity_counts).weekly, "the last 7 days (UTC)", _users_since(since, "last_seen_at"))


def dashboard_monthly_active(context: DashboardContext) -> Figure:
    since = context.days_start(30)
    return _count(context.once(activity_counts).monthly, "the last 30 days (UTC)", _users_since(since, "last_seen_at"))


def dashboard_new_today(context: DashboardContext) -> Figure:
    since = context.days_start(1)
    return _count(context.once(activity_counts).new_today, "joined since 00:00 UTC", _users_since(since, "date_joined"))


def dashboard_signups_per_day(context: DashboardContext) -> dict[str, dict[date, int]]:
    """Accounts created per UTC day of the chart (``date_joined``'s index)."""
    start, end = context.chart_range()
    rows = (
        User.objects.filter(date_joined__gte=start, date_joined__lt=end)
        .annotate(day=TruncDate("date_joined", tzinfo=UTC))
        .values("day")
        .annotate(count=Count("*"))
    )
    return {"": {row["day"]: row["count"] for row in rows}}


def dashboard_active_per_day(context: DashboardContext) -> dict[str, dict[date, int]]:
    """Players active per UTC day (``PlayerDay``: an index-only count over its ``(day, user)`` key)."""
    days = PlayerDay.objects.filter(day__gte=context.chart_first_day, day__lte=context.chart_last_day)
    rows = days.values("day").annotate(count=Count("*"))
    return {"": {row["day"]: row["count"] for row in rows}}
