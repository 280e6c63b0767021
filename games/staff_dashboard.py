"""What games shows on the staff dashboard (``casino.dashboard``; registered in
games/apps.py): the rounds card and chart (:func:`dashboard_rounds_today`,
:func:`dashboard_rounds_per_day`) and the game analytics tables.

The tables: for each game and currency, the rounds, what was bet, what was paid and the measured RTP
(paid / bet) of today and of the last :data:`WEEK_DAYS` days, next to the RTP the game's live
configuration declares; and the biggest wins of those days.

Two sources, one definition, so the figures are the same whichever answers:

* ClickHouse's ``events_log`` when ``CLICKHOUSE_URL`` is set: the ``game_round`` events the
  outbox -> Kafka -> sink pipeline stores (``games.services.rounds.round_event_data``). The table
  is a ReplacingMergeTree fed at least once, so it may still hold a redelivered copy: every query
  first collapses the events by ``event_id`` (``GROUP BY event_id``), then sums;
* PostgreSQL's ``games_gameround`` otherwise, and whenever ClickHouse does not answer (counted
  as ``dependency_failures_total{dependency="clickhouse", use="staff_dashboard"}``).

A round counts once it is settled (its ``game_round`` event is emitted then; a live crash round
still open is in neither source), on the UTC day its bet was placed (``created_at``: the
``(game, created_at)`` index in PostgreSQL, the event's ``created_at`` in ClickHouse), the day
the "Rounds today" card counts it on. Amounts stay per currency: a game's currency is part of
its configuration, so a game may have rounds in gold and in gems. A big win is a round that paid
more than its bet; the biggest are the largest payouts per currency, a tie going to the earlier
round (the lower id). Times are kept to the millisecond, what the event carries.

Cost: aggregates only (GROUP BY game and currency; the top wins by a window function in
PostgreSQL, ``LIMIT n BY`` in ClickHouse), read twice per build: the past days once every
:data:`PAST_KEPT_SECONDS` (``DashboardContext.kept``), today every build.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from django.conf import settings
from django.db.models import Count, F, Sum, Window
from django.db.models.functions import RowNumber, TruncDate
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import User
from casino.admin_tools import player_link
from casino.dashboard import DashboardContext, Figure, Table, TableColumn, analytics_url
from casino.degraded import dependency_failed
from games.enums import Game, RoundResult, RoundStatus
from games.fairness import RPS_MOVES, crash_rtp, rps_rtp
from games.models import GameConfig, GameRound

logger = logging.getLogger(__name__)

WEEK_DAYS = 7
TOP_WINS = 5  # per currency
CLICKHOUSE = "clickhouse"
POSTGRESQL = "postgresql"
# The past days' reading is kept this long between builds, per source: a round settled after its
# day ended (a live crash round played just before midnight) or an event that reached ClickHouse
# late shows within it. ClickHouse sums a week in milliseconds; PostgreSQL takes about a second
# for 600,000 rounds (100,000 a day; today's rounds, read every build, a few hundred ms at most).
PAST_KEPT_SECONDS = {CLICKHOUSE: 300, POSTGRESQL: 3600}
GAME_ROUND_EVENT = "game_round"

GameKey = tuple[str, str]  # (game, currency)


@dataclass(frozen=True)
class RoundTotals:
    rounds: int = 0
    bet: int = 0
    paid: int = 0

    def __add__(self, other: RoundTotals) -> RoundTotals:
        return RoundTotals(self.rounds + other.rounds, self.bet + other.bet, self.paid + other.paid)

    @property
    def rtp(self) -> Fraction | None:
        """The measured return to player, paid / bet (None: nothing was bet)."""
        return Fraction(self.paid, self.bet) if self.bet else None


@dataclass(frozen=True)
class BigWin:
    round_id: int
    user_id: int
    game: str
    currency: str
    bet: int
    payout: int
    created_at: datetime  # UTC, to the millisecond


@dataclass(frozen=True)
class RoundsReading:
    """What one source holds for a span of days: totals per (game, currency) and the
    :data:`TOP_WINS` biggest wins of each currency."""

    totals: dict[GameKey, RoundTotals]
    big_wins: tuple[BigWin, ...]


def _to_millisecond(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def _win_order(win: BigWin) -> tuple[str, int, int]:
    return (win.currency, -win.payout, win.round_id)


def _top_wins(wins: Iterable[BigWin]) -> tuple[BigWin, ...]:
    """The :data:`TOP_WINS` biggest of each currency, currencies in order, biggest first."""
    kept: dict[str, list[BigWin]] = {}
    seen: set[int] = set()
    for win in sorted(wins, key=_win_order):
        of_currency = kept.setdefault(win.currency, [])
        if len(of_currency) < TOP_WINS and win.round_id not in seen:
            of_currency.append(win)
            seen.add(win.round_id)
    return tuple(win for currency in sorted(kept) for win in kept[currency])


def rounds_from_postgres(first_day: date, last_day: date) -> RoundsReading:
    """Two queries over the rounds played from ``first_day`` to ``last_day`` (UTC, both included)."""
    start = DashboardContext.day_start(first_day)
    end = DashboardContext.day_start(last_day + timedelta(days=1))
    # Naming every game lets PostgreSQL read the (game, created_at) index, one range per game.
    settled = GameRound.objects.filter(
        game__in=Game.values, created_at__gte=start, created_at__lt=end, status=RoundStatus.SETTLED
    ).order_by()
    totals = {
        (row["game"], row["currency"]): RoundTotals(int(row["rounds"]), int(row["bet"]), int(row["paid"]))
        for row in settled.values("game", "currency").annotate(
            rounds=Count("*"), bet=Sum("bet_amount"), paid=Sum("payout")
        )
    }
    ranked = (
        settled.filter(result=RoundResult.WIN)
        .annotate(rank=Window(RowNumber(), partition_by=[F("currency")], order_by=[F("payout").desc(), F("id").asc()]))
        .filter(rank__lte=TOP_WINS)
        .values_list("id", "user_id", "game", "currency", "bet_amount", "payout", "created_at")
    )
    wins = [
        BigWin(round_id, user_id, game, currency, bet, payout, _to_millisecond(created_at))
        for round_id, user_id, game, currency, bet, payout, created_at in ranked
    ]
    return RoundsReading(totals=totals, big_wins=_top_wins(wins))


# One row per event (a copy the ReplacingMergeTree has not merged away yet counts once), with
# the fields the figures read. An event from before ``created_at`` was in the data is counted on
# the day it settled. ``event_date`` (the day the event happened, when the round settled) is never
# before the day of the bet, so it bounds the partitions read.
_CLICKHOUSE_ROUNDS = """
SELECT event_id,
       any(user_id) AS player,
       any(visitParamExtractUInt(data, 'round_id')) AS round_id,
       any(visitParamExtractString(data, 'game')) AS game,
       any(visitParamExtractString(data, 'currency')) AS currency,
       any(visitParamExtractInt(data, 'bet_amount')) AS bet,
       any(visitParamExtractInt(data, 'payout')) AS paid,
       any(visitParamExtractString(data, 'result')) AS result,
       any(if(visitParamExtractString(data, 'created_at') = '', visitParamExtractString(data, 'settled_at'),
              visitParamExtractString(data, 'created_at'))) AS created
FROM {table}
WHERE type = %(type)s AND event_date >= %(first_day)s
GROUP BY event_id
HAVING toDateOrZero(substring(created, 1, 10)) >= %(first_day)s
   AND toDateOrZero(substring(created, 1, 10)) <= %(last_day)s
"""


def _parse_moment(text: str) -> datetime:
    return _to_millisecond(datetime.fromisoformat(text.replace("Z", "+00:00")))


def rounds_from_clickhouse(first_day: date, last_day: date) -> RoundsReading:
    """The same reading as :func:`rounds_from_postgres`, from ``events_log`` (two queries)."""
    from realtime import clickhouse

    rounds = _CLICKHOUSE_ROUNDS.format(table=clickhouse.TABLE)
    params = {"type": GAME_ROUND_EVENT, "first_day": first_day, "last_day": last_day}
    ch = clickhouse.client(analytics_url(settings.CLICKHOUSE_URL))
    try:
        # A constant table name; every value is a bound parameter.
        total_rows = ch.execute(
            f"SELECT game, currency, count(), sum(bet), sum(paid) FROM ({rounds}) GROUP BY game, currency",  # noqa: S608
            params,
        )
        win_rows = ch.execute(
            f"SELECT round_id, player, game, currency, bet, paid, created FROM ({rounds}) "  # noqa: S608
            "WHERE result = %(win)s ORDER BY currency, paid DESC, round_id "
            "LIMIT %(top)s BY currency",
            {**params, "win": RoundResult.WIN.value, "top": TOP_WINS},
        )
    finally:
        ch.disconnect()
    totals = {
        (str(game), str(currency)): RoundTotals(int(count), int(bet), int(paid))
        for game, currency, count, bet, paid in total_rows
    }
    wins = [
        BigWin(int(round_id), int(player), str(game), str(currency), int(bet), int(paid), _parse_moment(created))
        for round_id, player, game, currency, bet, paid, created in win_rows
    ]
    return RoundsReading(totals=totals, big_wins=_top_wins(wins))


# --- The build's reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class GameAnalytics:
    source: str  # CLICKHOUSE or POSTGRESQL
    today: dict[GameKey, RoundTotals]
    week: dict[GameKey, RoundTotals]  # the last WEEK_DAYS days, today included
    big_wins: tuple[BigWin, ...]  # of the same days


def _analytics(context: DashboardContext, source: str, read: Callable[[date, date], RoundsReading]) -> GameAnalytics:
    today = context.today
    first, yesterday = today - timedelta(days=WEEK_DAYS - 1), today - timedelta(days=1)
    past = context.kept(
        f"games:rounds:{source}:{first}:{yesterday}", lambda: read(first, yesterday), seconds=PAST_KEPT_SECONDS[source]
    )
    now = read(today, today)
    week = dict(past.totals)
    for key, totals in now.totals.items():
        week[key] = week.get(key, RoundTotals()) + totals
    return GameAnalytics(
        source=source, today=now.totals, week=week, big_wins=_top_wins([*past.big_wins, *now.big_wins])
    )


def game_analytics(context: DashboardContext) -> GameAnalytics:
    """Today's and the week's rounds: from ClickHouse when configured and answering, else from
    PostgreSQL (shared by both tables of a build through ``context.once``)."""
    if settings.CLICKHOUSE_URL and not context.dependency_down(CLICKHOUSE):
        try:
            return _analytics(context, CLICKHOUSE, rounds_from_clickhouse)
        except Exception as error:  # noqa: BLE001 - analytics down must not take the figures down
            context.mark_down(CLICKHOUSE)
            dependency_failed(dependency=CLICKHOUSE, use="staff_dashboard", error=error)
    return _analytics(context, POSTGRESQL, rounds_from_postgres)


# --- Declared RTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeclaredRtp:
    value: Fraction | None  # None: the game declares no money RTP, or its table is unreadable
    text: str


def declared_rtp(config: GameConfig) -> DeclaredRtp:
    """The return to player the game's live configuration declares, exact (``simulate_rtp``
    measures the same): the slot table in play, crash's 1% house edge (the same at every
    cash-out target), rock-paper-scissors' win multiplier (the best move's; all three are
    equal); the gacha sells items and declares none (its payout is its duplicates' value)."""
    if config.game == Game.SLOT:
        from games.services.slots import slot_table_live

        try:
            table = slot_table_live()  # the table in play (a revert may make an older one live)
        except Exception:  # noqa: BLE001 - no table to read: said so, the rest of the row stands
            logger.warning("staff dashboard: the slot table could not be read", exc_info=True)
            return DeclaredRtp(None, "no slot table")
        return DeclaredRtp(table.math.rtp, f"{float(table.math.rtp):.2%} (table v{table.version.pk})")
    if config.game == Game.CRASH:
        rtp = crash_rtp(200)
        return DeclaredRtp(rtp, f"{float(rtp):.2%} at every target")
    if config.game == Game.RPS:
        from games.services.rps import DEFAULT_WIN_MULTIPLIER

        multiplier = config.win_multiplier or DEFAULT_WIN_MULTIPLIER
        rtp = max(rps_rtp(multiplier, choice) for choice in RPS_MOVES)
        return DeclaredRtp(rtp, f"{float(rtp):.2%} (wins pay x{multiplier.normalize():f})")
    return DeclaredRtp(None, "none: sells items")


# --- The tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GameRow:
    game: str
    currency: str
    today: RoundTotals
    week: RoundTotals
    declared_rtp: Fraction | None


@dataclass(frozen=True)
class GamesValue:
    source: str
    rows: tuple[GameRow, ...]

    def row(self, game: str, currency: str) -> GameRow:
        return next(row for row in self.rows if (row.game, row.currency) == (game, currency))


@dataclass(frozen=True)
class BigWinsValue:
    source: str
    wins: tuple[BigWin, ...]


def _source_note(source: str) -> str:
    if source == CLICKHOUSE:
        return "from ClickHouse (the analytics copy of every settled round)"
    if settings.CLICKHOUSE_URL:
        return "from PostgreSQL: ClickHouse did not answer"
    return "from PostgreSQL"


def _rtp_text(rtp: Fraction | None) -> str:
    return f"{float(rtp):.2%}" if rtp is not None else "-"


def _game_label(game: str) -> str:
    return str(Game(game).label) if game in Game.values else game


def dashboard_games(context: DashboardContext) -> Table:
    """Per game and currency: today's and the week's rounds, bets, payouts and measured RTP
    next to the declared RTP. Every configured game has a row (zeros when nobody played it in
    its currency); a game played in another currency too has a row for that one."""
    analytics = context.once(game_analytics)
    configs = {config.game: config for config in GameConfig.objects.all()}
    currencies: dict[str, set[str]] = {game: {config.currency} for game, config in configs.items()}
    for game, currency in analytics.week:
        currencies.setdefault(game, set()).add(currency)
    games = [game for game in Game.values if game in currencies] + sorted(set(currencies) - set(Game.values))
    declared = {game: declared_rtp(config) for game, config in configs.items()}
    rows, shown = [], []
    changelist = reverse("admin:games_gameround_changelist")
    for game in games:
        rtp = declared.get(game, DeclaredRtp(None, "-"))
        for currency in sorted(currencies[game]):
            today = analytics.today.get((game, currency), RoundTotals())
            week = analytics.week.get((game, currency), RoundTotals())
            rows.append(GameRow(game, currency, today, week, rtp.value))
            shown.append(
                (
                    format_html('<a href="{}?game__exact={}">{}</a>', changelist, game, _game_label(game)),
                    currency,
                    f"{today.rounds:,}",
                    f"{today.bet:,}",
                    f"{today.paid:,}",
                    _rtp_text(today.rtp),
                    f"{week.rounds:,}",
                    f"{week.bet:,}",
                    f"{week.paid:,}",
                    _rtp_text(week.rtp),
                    rtp.text,
                )
            )
    numeric: tuple[str, ...] = ("Rounds today", "Bet today", "Paid today", "RTP today")
    numeric += ("Rounds 7 days", "Bet 7 days", "Paid 7 days", "RTP 7 days")
    columns = (
        TableColumn("Game"),
        TableColumn("Currency"),
        *(TableColumn(label, numeric=True) for label in numeric),
        TableColumn("Declared RTP"),
    )
    return Table(
        columns=columns,
        rows=tuple(shown),
        value=GamesValue(source=analytics.source, rows=tuple(rows)),
        note=f"Settled rounds by the UTC day of the bet; RTP = paid / bet; {_source_note(analytics.source)}",
        url=changelist,
        empty="no game is configured",
    )


def _amount(amount: int, currency: str) -> str:
    return f"{amount:,} {currency}"


def dashboard_big_wins(context: DashboardContext) -> Table:
    """The week's biggest wins per currency: the player (linked to their page), the game, the
    bet, the win, its multiple of the bet and when (linked to the round)."""
    analytics = context.once(game_analytics)
    wins = analytics.big_wins
    nicknames = dict(User.objects.filter(pk__in={win.user_id for win in wins}).values_list("pk", "nickname"))
    rows = tuple(
        (
            player_link(win.user_id, nicknames.get(win.user_id)),
            _game_label(win.game),
            _amount(win.bet, win.currency),
            _amount(win.payout, win.currency),
            f"x{win.payout / win.bet:,.2f}",
            format_html(
                '<a href="{}">{}</a>',
                reverse("admin:games_gameround_change", args=[win.round_id]),
                f"{win.created_at:%a %d %b %H:%M}",
            ),
        )
        for win in wins
    )
    return Table(
        columns=(
            TableColumn("Player"),
            TableColumn("Game"),
            TableColumn("Bet", numeric=True),
            TableColumn("Win", numeric=True),
            TableColumn("Multiple", numeric=True),
            TableColumn("When (UTC)"),
        ),
        rows=rows,
        value=BigWinsValue(source=analytics.source, wins=wins),
        note=f"The {TOP_WINS} largest payouts of each currency, last {WEEK_DAYS} days; "
        f"{_source_note(analytics.source)}",
        url=f"{reverse('admin:games_gameround_changelist')}?result__exact={RoundResult.WIN}",
        empty=f"no win in the last {WEEK_DAYS} days",
    )


def register_dashboard_tables(*, permission: str) -> None:
    """Both tables (``GamesConfig.ready``), to staff holding ``permission``."""
    from casino.dashboard import register_dashboard_table

    register_dashboard_table(
        "games", "Games: today and the last 7 days", dashboard_games, order=40, permission=permission
    )
    register_dashboard_table(
        "big_wins", "Biggest wins, last 7 days", dashboard_big_wins, order=50, permission=permission
    )


# --- The rounds card and chart ---------------------------------------------------------------


def dashboard_rounds_per_day(context: DashboardContext) -> dict[str, dict[date, int]]:
    """Rounds played per UTC day of the chart. Naming every game lets PostgreSQL read the
    ``(game, created_at)`` index (one range per game) instead of the whole table."""
    start, end = context.chart_range()
    rows = (
        GameRound.objects.filter(game__in=Game.values, created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .order_by()
        .values("day")
        .annotate(count=Count("*"))
    )
    return {"": {row["day"]: int(row["count"]) for row in rows}}


def dashboard_rounds_today(context: DashboardContext) -> Figure:
    # The chart's own count of today (its past days come from the cache).
    today = context.narrowed(context.today, context.today).once(dashboard_rounds_per_day)
    count = today[""].get(context.today, 0)
    return Figure(value=count, text=f"{count:,}", note="every game, since 00:00 UTC")
