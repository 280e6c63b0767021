"""The staff dashboard: the admin index's figures and 30-day charts, contributed by the apps.

``casino`` imports no app, so each app registers what it knows from its
``AppConfig.ready()``:

- :func:`register_dashboard_figure` — one number with its text (players online,
  revenue today, dead outbox rows...): ``provider(context) -> Figure``;
- :func:`register_dashboard_chart` — a daily series over the last :data:`CHART_DAYS`
  days: ``provider(context) -> {series label: {date: value}}`` (days without a
  value are drawn as 0);
- :func:`register_dashboard_table` — a small table (per-game figures, the week's
  biggest wins): ``provider(context) -> Table``.

Each carries the permission ("app_label.codename") a staff member needs to see
it; ``None`` shows it to every staff member.

Cost: the whole dashboard is built at once for everyone (:func:`dashboard_build`)
and cached for :data:`CACHE_SECONDS` (:func:`dashboard_cached`); each staff member
then sees the part their permissions allow (:func:`dashboard_for`). Providers
count with aggregate queries (never a loop over players); figures that share a
query compute it once through :meth:`DashboardContext.once`. What does not change
between builds is not counted again: a chart's final past days are kept one key per
day, and a slow-moving part of a figure (all-time revenue before today) for a few
minutes (:meth:`DashboardContext.kept`). A provider that fails shows "unavailable"
and never takes the page down. ``bench/dashboard.py`` measures it with 100,000 players.

Providers that read the analytics store (ClickHouse) fall back to PostgreSQL when it does
not answer: :func:`analytics_url` bounds how long a build waits for it, and
:meth:`DashboardContext.dependency_down` lets the first failure of a build spare the
providers after it the same wait.

Charts are inline SVG (``casino.dashboard_svg``: no script, no CDN, no ``style``
attribute), so the page renders offline under the Content-Security-Policy. The
platform's own card, the alerts firing in Prometheus, is ``casino.dashboard_alerts``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.cache import cache
from django.utils import timezone

from casino.dashboard_svg import ChartValue, chart_svg
from casino.permissions import staff_permission_held

logger = logging.getLogger(__name__)

CHART_DAYS = 30
CACHE_SECONDS = 10
CACHE_KEY = "staff-dashboard:v1"
# A final past day's chart values are kept as long as the day can be on a chart.
HISTORY_SECONDS = (CHART_DAYS + 1) * 24 * 3600
# The analytics store (ClickHouse) gets this long to connect and as long again to answer, per
# query; beyond it the provider reads PostgreSQL instead (see analytics_url).
ANALYTICS_TIMEOUT_SECONDS = 2

T = TypeVar("T")
Tone = str  # "" (neutral), "good", "warn" or "bad": how the card is marked


@dataclass(frozen=True)
class Figure:
    """What a figure provider returns: ``value`` is the measure itself (tests and
    tools read it: a count, a ratio, ``{currency: minor units}``; ``None`` when there
    is nothing to measure), ``text`` what staff read, ``note`` a line under it,
    ``url`` where the figure comes from (a filtered changelist)."""

    value: Any
    text: str
    note: str = ""
    url: str = ""
    tone: Tone = ""


@dataclass
class DashboardContext:
    """One build of the dashboard: its moment, the days (UTC) a chart provider counts, and a
    memo so that figures sharing a query run it once (``context.once(activity_counts)``).

    A chart provider counts the days from :attr:`first_day` to :attr:`last_day` (both
    included; by default the chart's :data:`CHART_DAYS` days ending today): for a chart
    whose past days are final the registry asks for the days it does not keep yet and for
    today separately (:meth:`narrowed`)."""

    now: datetime
    first_day: date | None = None
    last_day: date | None = None
    _memo: dict[tuple[Callable[..., Any], date, date], Any] = field(default_factory=dict, repr=False)
    _down: set[str] = field(default_factory=set, repr=False)

    @property
    def today(self) -> date:
        return self.now.astimezone(UTC).date()

    @property
    def days(self) -> list[date]:
        """The charts' days, oldest first; the last is today (so far)."""
        return [self.today - timedelta(days=back) for back in range(CHART_DAYS - 1, -1, -1)]

    @property
    def chart_first_day(self) -> date:
        return self.first_day or self.days[0]

    @property
    def chart_last_day(self) -> date:
        return self.last_day or self.today

    def chart_range(self) -> tuple[datetime, datetime]:
        """``[start, end)`` of the days a chart provider counts, as UTC datetimes."""
        return self.day_start(self.chart_first_day), self.day_start(self.chart_last_day + timedelta(days=1))

    @staticmethod
    def day_start(day: date) -> datetime:
        return datetime.combine(day, time.min, tzinfo=UTC)

    def days_start(self, days: int) -> datetime:
        """Midnight (UTC) starting the last ``days`` days, today included (1: today's midnight)."""
        return self.day_start(self.today - timedelta(days=days - 1))

    def narrowed(self, first_day: date, last_day: date) -> DashboardContext:
        """The same build, counting only ``first_day`` to ``last_day`` (the memo is shared)."""
        return DashboardContext(
            now=self.now, first_day=first_day, last_day=last_day, _memo=self._memo, _down=self._down
        )

    def dependency_down(self, name: str) -> bool:
        """Whether ``name`` (``"clickhouse"``) already failed in this build: a provider that
        would read it goes straight to its fallback instead of waiting for it again."""
        return name in self._down

    def mark_down(self, name: str) -> None:
        self._down.add(name)

    def kept(self, name: str, compute: Callable[[], T], *, seconds: int) -> T:
        """``compute()``, kept in the cache for ``seconds`` under ``name`` (across builds):
        for a slow-moving part of a figure that would cost the build too much, such as
        all-time revenue before today. Without the cache it is computed each time."""
        key = f"{CACHE_KEY}:kept:{name}"
        try:
            value = cache.get(key)
        except Exception:  # noqa: BLE001 - compute without the cache
            return compute()
        if value is None:
            value = compute()
            try:
                cache.set(key, value, timeout=seconds)
            except Exception:  # noqa: BLE001
                logger.warning("staff dashboard: could not keep %s", name, exc_info=True)
        result: T = value
        return result

    def once(self, compute: Callable[[DashboardContext], T]) -> T:
        key = (compute, self.chart_first_day, self.chart_last_day)
        if key not in self._memo:
            self._memo[key] = compute(self)
        result: T = self._memo[key]
        return result


FigureProvider = Callable[[DashboardContext], Figure]
ChartProvider = Callable[[DashboardContext], Mapping[str, Mapping[date, ChartValue]]]
# (series label, value) -> how staff read it, e.g. ("USD", 1299) -> "12.99 USD".
ValueText = Callable[[str, ChartValue], str]


@dataclass(frozen=True)
class TableColumn:
    """A column's heading; ``numeric`` columns are right-aligned."""

    label: str
    numeric: bool = False


@dataclass(frozen=True)
class Table:
    """What a table provider returns. ``rows`` hold what staff read, one string per column
    (plain text is escaped; a ``SafeString`` such as ``casino.admin_tools.player_link``'s is
    rendered as it is); ``value`` is the measure itself, for tests and tools, as
    :attr:`Figure.value`; ``note`` a line under the table (where it was read from), ``url``
    where its rows come from, ``empty`` what is said when there are no rows."""

    columns: tuple[TableColumn, ...]
    rows: tuple[tuple[str, ...], ...]
    value: Any = None
    note: str = ""
    url: str = ""
    empty: str = "nothing yet"


TableProvider = Callable[[DashboardContext], Table]


@dataclass(frozen=True)
class _FigureSpec:
    key: str
    title: str
    provider: FigureProvider
    order: int
    permission: str | None
    group: str


@dataclass(frozen=True)
class _ChartSpec:
    key: str
    title: str
    provider: ChartProvider
    order: int
    permission: str | None
    value_text: ValueText | None
    past_days_final: bool


@dataclass(frozen=True)
class _TableSpec:
    key: str
    title: str
    provider: TableProvider
    order: int
    permission: str | None


_FIGURES: dict[str, _FigureSpec] = {}
_CHARTS: dict[str, _ChartSpec] = {}
_TABLES: dict[str, _TableSpec] = {}


def register_dashboard_figure(
    key: str, title: str, provider: FigureProvider, *, order: int, permission: str | None, group: str = ""
) -> None:
    """Show ``provider``'s figure as a card titled ``title`` under ``group`` (cards are
    sorted by ``order``; a group is placed where its first card is) to staff holding
    ``permission``. Registering a key again replaces it (a reloaded app)."""
    _FIGURES[key] = _FigureSpec(key, title, provider, order, permission, group)


def register_dashboard_chart(
    key: str,
    title: str,
    provider: ChartProvider,
    *,
    order: int,
    permission: str | None,
    value_text: ValueText | None = None,
    past_days_final: bool = False,
) -> None:
    """Draw ``provider``'s daily series (one small chart per series label) to staff holding
    ``permission``; ``value_text`` writes a value (default: the number and the label).

    ``past_days_final``: a past day's values never change (rounds played, sign-ups), so each
    is counted once and kept (:func:`_chart_series`); a build counts today. Not for a series
    that later events change (revenue: a refund takes it back)."""
    _CHARTS[key] = _ChartSpec(key, title, provider, order, permission, value_text, past_days_final)


def register_dashboard_table(
    key: str, title: str, provider: TableProvider, *, order: int, permission: str | None
) -> None:
    """Show ``provider``'s table titled ``title`` to staff holding ``permission`` (tables are
    sorted by ``order`` and come between the cards and the charts). Built with the rest and
    cached with it; a provider that fails shows "unavailable"."""
    _TABLES[key] = _TableSpec(key, title, provider, order, permission)


# --- What a build holds (cached; plain data, so any cache backend can keep it) ----------------


@dataclass(frozen=True)
class ShownFigure:
    key: str
    title: str
    group: str
    permission: str | None
    figure: Figure


@dataclass(frozen=True)
class ChartSeries:
    label: str
    days: tuple[date, ...]
    values: tuple[ChartValue, ...]
    svg: str
    total_text: str
    today_text: str

    @property
    def total(self) -> ChartValue:
        return sum(self.values, 0)


@dataclass(frozen=True)
class ShownChart:
    key: str
    title: str
    permission: str | None
    series: tuple[ChartSeries, ...]
    error: str = ""


@dataclass(frozen=True)
class TableCell:
    text: str
    numeric: bool


@dataclass(frozen=True)
class ShownTable:
    key: str
    title: str
    permission: str | None
    columns: tuple[TableColumn, ...] = ()
    rows: tuple[tuple[TableCell, ...], ...] = ()
    value: Any = None
    note: str = ""
    url: str = ""
    empty: str = ""
    error: str = ""  # "unavailable": the provider failed


@dataclass(frozen=True)
class DashboardData:
    generated_at: datetime
    figures: tuple[ShownFigure, ...]
    charts: tuple[ShownChart, ...]
    tables: tuple[ShownTable, ...] = ()

    def figure(self, key: str) -> Figure:
        return next(shown.figure for shown in self.figures if shown.key == key)

    def chart(self, key: str) -> ShownChart:
        return next(chart for chart in self.charts if chart.key == key)

    def table(self, key: str) -> ShownTable:
        return next(table for table in self.tables if table.key == key)


def _number_text(value: ChartValue) -> str:
    if isinstance(value, int) or value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def default_value_text(label: str, value: ChartValue) -> str:
    return f"{_number_text(value)} {label}".strip()


UNAVAILABLE = Figure(value=None, text="unavailable", note="could not be computed (logged)", tone="warn")


def _build_figure(spec: _FigureSpec, context: DashboardContext) -> ShownFigure:
    try:
        figure = spec.provider(context)
    except Exception:  # one broken figure must not take the back office's front page down
        logger.exception("staff dashboard: figure %s failed", spec.key)
        figure = UNAVAILABLE
    return ShownFigure(spec.key, spec.title, spec.group, spec.permission, figure)


def _plain(series: Mapping[str, Mapping[date, ChartValue]]) -> dict[str, dict[date, ChartValue]]:
    return {label: dict(by_day) for label, by_day in series.items()}


def _chart_series(spec: _ChartSpec, context: DashboardContext) -> dict[str, dict[date, ChartValue]]:
    """The chart's values. For a chart whose past days are final each past day is kept in the
    cache under its own key (for as long as it can be on the chart), so a build counts today
    and the days not kept yet: the first build of a day counts yesterday, a cold cache 29 days."""
    if not spec.past_days_final:
        return _plain(context.once(spec.provider))
    past = context.days[:-1]
    keys = {day: f"{CACHE_KEY}:day:{spec.key}:{day.isoformat()}" for day in past}
    try:
        kept: dict[str, dict[str, ChartValue]] = cache.get_many(list(keys.values()))
    except Exception:  # noqa: BLE001 - count without the cache
        kept = {}
    missing = [day for day in past if keys[day] not in kept]
    if missing:
        counted = context.narrowed(missing[0], missing[-1]).once(spec.provider)
        fresh = {day: {label: by_day.get(day, 0) for label, by_day in counted.items()} for day in missing}
        kept.update({keys[day]: values for day, values in fresh.items()})
        try:
            cache.set_many({keys[day]: values for day, values in fresh.items()}, timeout=HISTORY_SECONDS)
        except Exception:  # noqa: BLE001
            logger.warning("staff dashboard: could not keep the past days of %s", spec.key, exc_info=True)
    series: dict[str, dict[date, ChartValue]] = {}
    for day in past:
        for label, value in kept.get(keys[day], {}).items():
            series.setdefault(label, {})[day] = value
    for label, by_day in context.narrowed(context.today, context.today).once(spec.provider).items():
        series.setdefault(label, {}).update(by_day)
    return series


def _build_chart(spec: _ChartSpec, context: DashboardContext) -> ShownChart:
    days = tuple(context.days)
    try:
        raw = _chart_series(spec, context)
    except Exception:  # as for figures
        logger.exception("staff dashboard: chart %s failed", spec.key)
        return ShownChart(spec.key, spec.title, spec.permission, (), error="unavailable")
    value_text = spec.value_text or default_value_text
    series = []
    # Always at least one series, so a chart with no data still shows its days.
    for label, by_day in sorted((raw or {"": {}}).items()):
        values = tuple(by_day.get(day, 0) for day in days)

        def text(value: ChartValue, label: str = label) -> str:
            return value_text(label, value)

        svg = chart_svg(title=f"{spec.title} {label}".strip(), days=days, values=values, text=text)
        total, today = text(sum(values, 0)), text(values[-1])
        series.append(ChartSeries(label, days, values, svg, total_text=total, today_text=today))
    return ShownChart(spec.key, spec.title, spec.permission, tuple(series))


def _build_table(spec: _TableSpec, context: DashboardContext) -> ShownTable:
    try:
        table = spec.provider(context)
        columns = table.columns
        rows = []
        for row in table.rows:
            if len(row) != len(columns):
                raise ValueError(f"a row of {len(row)} cells under {len(columns)} columns")
            rows.append(tuple(TableCell(cell, column.numeric) for cell, column in zip(row, columns, strict=True)))
    except Exception:  # as for figures
        logger.exception("staff dashboard: table %s failed", spec.key)
        return ShownTable(spec.key, spec.title, spec.permission, error="unavailable")
    return ShownTable(
        spec.key, spec.title, spec.permission, columns, tuple(rows), table.value, table.note, table.url, table.empty
    )


def dashboard_build(*, now: datetime | None = None) -> DashboardData:
    """Every registered figure, table and chart, computed now (uncached)."""
    context = DashboardContext(now=now or timezone.now())
    figures = tuple(_build_figure(spec, context) for spec in sorted(_FIGURES.values(), key=lambda s: s.order))
    tables = tuple(_build_table(spec, context) for spec in sorted(_TABLES.values(), key=lambda s: s.order))
    charts = tuple(_build_chart(spec, context) for spec in sorted(_CHARTS.values(), key=lambda s: s.order))
    return DashboardData(generated_at=context.now, figures=figures, charts=charts, tables=tables)


def dashboard_cached() -> DashboardData:
    """The dashboard as built at most :data:`CACHE_SECONDS` ago (one build serves every
    staff member). Without the cache (Redis down) it is built for each request."""
    try:
        data = cache.get(CACHE_KEY)
    except Exception:  # noqa: BLE001 - the cache is an optimisation here: fail open
        logger.warning("staff dashboard: cache unavailable, building uncached", exc_info=True)
        return dashboard_build()
    if isinstance(data, DashboardData):
        return data
    data = dashboard_build()
    try:
        cache.set(CACHE_KEY, data, timeout=CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        logger.warning("staff dashboard: could not cache the build", exc_info=True)
    return data


# --- What one staff member sees ----------------------------------------------------------


@dataclass(frozen=True)
class FigureGroup:
    name: str
    figures: tuple[ShownFigure, ...]


@dataclass(frozen=True)
class ToolLink:
    name: str
    url: str
    setting: str


@dataclass(frozen=True)
class StaffDashboard:
    generated_at: datetime
    groups: tuple[FigureGroup, ...]
    charts: tuple[ShownChart, ...]
    tools: tuple[ToolLink, ...]
    cache_seconds: int = CACHE_SECONDS
    tables: tuple[ShownTable, ...] = ()

    @property
    def figure_keys(self) -> list[str]:
        return [shown.key for group in self.groups for shown in group.figures]


def _may_see(user: AbstractBaseUser, permission: str | None) -> bool:
    if permission is None:
        return bool(getattr(user, "is_staff", False)) and user.is_active
    return staff_permission_held(actor=user, permission=permission)


def tool_links() -> tuple[ToolLink, ...]:
    """The ops tools the dashboard links (an empty URL: not configured)."""
    return (
        ToolLink("Flower (Celery)", settings.FLOWER_URL, "FLOWER_URL"),
        ToolLink("Grafana", settings.GRAFANA_URL, "GRAFANA_URL"),
        ToolLink("Prometheus", settings.PROMETHEUS_URL, "PROMETHEUS_URL"),
    )


def dashboard_for(user: AbstractBaseUser, *, data: DashboardData | None = None) -> StaffDashboard:
    """The figures, tables and charts ``user`` may see, grouped in the registry's order."""
    data = data or dashboard_cached()
    held: dict[str | None, bool] = {}

    def visible(permission: str | None) -> bool:
        if permission not in held:
            held[permission] = _may_see(user, permission)
        return held[permission]

    groups: dict[str, list[ShownFigure]] = {}
    for shown in data.figures:
        if visible(shown.permission):
            groups.setdefault(shown.group, []).append(shown)
    return StaffDashboard(
        generated_at=data.generated_at,
        groups=tuple(FigureGroup(name, tuple(figures)) for name, figures in groups.items()),
        charts=tuple(chart for chart in data.charts if visible(chart.permission)),
        tools=tool_links(),
        tables=tuple(table for table in data.tables if visible(table.permission)),
    )


def analytics_url(url: str) -> str:
    """The analytics store's URL (``CLICKHOUSE_URL``) with the timeouts a build can afford
    (:data:`ANALYTICS_TIMEOUT_SECONDS` to connect and to answer; the driver's own defaults
    are 10 s and 300 s): a store that hangs costs a build seconds, not the page. Timeouts
    the URL already names are kept."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name in ("connect_timeout", "send_receive_timeout", "sync_request_timeout"):
        query.setdefault(name, str(ANALYTICS_TIMEOUT_SECONDS))
    return urlunsplit(parts._replace(query=urlencode(query)))
