"""The staff dashboard on the admin index (casino.dashboard and the figures the apps register):
every figure right on a small known data set, what each role sees, the cache, the query budget,
the embedded-mode note, the alerts card with and without Prometheus, and the charts as inline SVG."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings

from accounts.activity import forget_marks, record_activity
from accounts.models import PlayerDay, User
from accounts.tests.factories import UserFactory
from accounts.tests.staff import staff_with
from casino import dashboard
from casino.copies import copies_forget
from casino.dashboard import CACHE_KEY, DashboardData, Figure, dashboard_build, dashboard_cached, dashboard_for
from economy.models import LedgerAuditRun
from economy.services import wallet_grant
from games.enums import RoundResult
from games.models import GameRound
from games.services.rps import rps_play
from games.services.slots import slot_table_current
from realtime.models import OutboxEvent
from shop.models import Order, OrderStatus
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory

pytestmark = pytest.mark.django_db

# A Thursday afternoon; its ISO week started on Monday 10 March.
NOW = datetime(2031, 3, 13, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
MONDAY = datetime(2031, 3, 10, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _postgresql_only(settings: Any) -> None:
    """The figures here are read from PostgreSQL; reading them from ClickHouse (the game tables,
    the revenue chart) is tested with the pipeline that fills it (games/tests, shop/tests)."""
    settings.CLICKHOUSE_URL = ""


# --- A small known world ------------------------------------------------------------------


def seen(player: User, at: datetime) -> None:
    """The player makes an authenticated request at ``at`` (a minute after any other)."""
    forget_marks()
    cache.delete(f"seen:{player.pk}")
    with time_machine.travel(at, tick=False):
        record_activity(player.pk)


def player(joined: datetime, *seen_at: datetime, **fields: Any) -> User:
    user = UserFactory(date_joined=joined, **fields)
    for moment in seen_at:
        seen(user, moment)
    return user


def order(user: User, status: str, total: int, at: datetime, *, currency: str = "USD") -> Order:
    """An order in ``status`` that was made two minutes before ``at`` and (paid, fulfilled) at ``at``."""
    price_type = "money" if currency == "USD" else currency
    settled = status in (OrderStatus.FULFILLED, OrderStatus.REFUNDED)
    return Order.objects.create(
        receipt_code=uuid.uuid4().hex[:20],
        user=user,
        product=MoneyProductFactory() if price_type == "money" else GemPriceProductFactory(),
        quantity=1,
        status=status,
        price_type=price_type,
        currency=currency,
        unit_price=total,
        subtotal=total,
        total=total,
        idempotency_key=str(uuid.uuid4()),
        request_fingerprint="test",
        created_at=at - timedelta(minutes=2),
        updated_at=at,
        paid_at=at if settled else None,
        fulfilled_at=at if settled else None,
    )


def rounds(user: User, count: int, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        for _ in range(count):
            rps_play(user=user, choice="rock", bet_amount=100, idempotency_key=str(uuid.uuid4()))


@pytest.fixture
def world() -> dict[str, User]:
    """Players, activity, orders, rounds, audits and outbox rows whose figures are known."""
    long_ago = NOW - timedelta(days=90)
    players = {
        "online": player(long_ago, NOW - timedelta(days=3), NOW - timedelta(minutes=2)),
        "today": player(long_ago, NOW - timedelta(days=1), NOW - timedelta(hours=3)),
        "banned_online": player(long_ago, NOW - timedelta(minutes=1), is_active=False),
        "this_week": player(long_ago, NOW - timedelta(days=3)),
        "this_month": player(NOW - timedelta(days=25), NOW - timedelta(days=20)),
        "gone": player(long_ago, NOW - timedelta(days=40)),
        "new": player(NOW - timedelta(hours=1)),
        "new_too": player(NOW - timedelta(hours=2)),
    }
    online, today, week, month, gone = (players[k] for k in ("online", "today", "this_week", "this_month", "gone"))
    # Real money: two payers today, one on Monday, one ten days ago, one 40 days ago.
    order(online, OrderStatus.FULFILLED, 499, NOW - timedelta(hours=1))
    order(today, OrderStatus.FULFILLED, 999, NOW - timedelta(hours=2))
    order(today, OrderStatus.REFUNDED, 5000, NOW - timedelta(hours=2))  # taken back: not revenue
    order(week, OrderStatus.FULFILLED, 1999, MONDAY)
    order(month, OrderStatus.FULFILLED, 499, NOW - timedelta(days=10))
    order(gone, OrderStatus.FULFILLED, 4999, NOW - timedelta(days=40))
    # Game currency, reported apart from money.
    order(online, OrderStatus.FULFILLED, 50, NOW - timedelta(hours=1), currency="gems")
    order(week, OrderStatus.FULFILLED, 1000, MONDAY, currency="gold")
    # Open orders.
    order(online, OrderStatus.PENDING, 499, NOW - timedelta(minutes=5))
    order(today, OrderStatus.PENDING, 499, NOW - timedelta(minutes=6))
    order(month, OrderStatus.PENDING_REVIEW, 499, NOW - timedelta(minutes=7))
    # Rounds: three today, two yesterday.
    wallet_grant(user=online, bundle={"gold": 10_000}, reason="admin_adjust", idempotency_key="fund-online")
    rounds(online, 2, NOW - timedelta(days=1))
    rounds(online, 3, NOW - timedelta(hours=1))
    # Ledger audits: the last one found two violations.
    LedgerAuditRun.objects.create(
        started_at=NOW - timedelta(days=1),
        finished_at=NOW - timedelta(days=1),
        wallets_checked=8,
        entries_checked=9,
        ok=True,
    )
    LedgerAuditRun.objects.create(
        started_at=NOW - timedelta(hours=2),
        finished_at=NOW - timedelta(hours=2),
        wallets_checked=8,
        entries_checked=20,
        ok=False,
        violations=[{"wallet": 1}, {"wallet": 2}],
    )
    # The slot table in play (the games table declares its RTP), as after any spin.
    slot_table_current()
    # The outbox: every row so far pending; two dead ones.
    OutboxEvent.objects.filter(pk__in=OutboxEvent.objects.values("pk")[:2]).update(status=OutboxEvent.Status.DEAD)
    cache.clear()
    return players


def build() -> DashboardData:
    with time_machine.travel(NOW, tick=False):
        return dashboard_build()


# --- Every figure ---------------------------------------------------------------------------


def test_players_figures_count_online_active_and_new_players(world: dict[str, User]) -> None:
    data = build()

    assert data.figure("players_online").value == 1  # the banned player seen a minute ago is not online
    assert data.figure("dau").value == 3  # online, today, banned_online
    assert data.figure("wau").value == 4  # + this_week
    assert data.figure("mau").value == 5  # + this_month (gone was 40 days ago)
    assert data.figure("new_players_today").value == 2
    assert data.figure("dau").text == "3"
    assert "last_seen_at__gte=2031-03-13" in data.figure("dau").url


def test_revenue_figures_sum_fulfilled_money_by_currency_and_game_currency_apart(world: dict[str, User]) -> None:
    data = build()

    today, week, total = (data.figure(key) for key in ("revenue_today", "revenue_week", "revenue_total"))
    assert today.value == {"money": {"USD": 499 + 999}, "game": {"gems": 50}}
    assert week.value == {"money": {"USD": 499 + 999 + 1999}, "game": {"gems": 50, "gold": 1000}}
    assert total.value == {"money": {"USD": 499 + 999 + 1999 + 499 + 4999}, "game": {"gems": 50, "gold": 1000}}
    assert today.text == "14.98 USD"
    assert "50 gems" in today.note
    assert week.text == "34.97 USD"


def test_conversion_is_todays_payers_over_daily_actives_and_arppu_covers_thirty_days(world: dict[str, User]) -> None:
    data = build()

    # two paying players of three active today
    assert data.figure("conversion").value == pytest.approx(2 / 3)
    assert data.figure("conversion").text == "66.7%"
    # 30 days: 499 + 999 + 1999 + 499 paid by four players
    assert data.figure("arppu").value == {"USD": 999}
    assert data.figure("arppu").text == "9.99 USD"


def test_open_orders_are_counted_by_state_and_link_to_their_list(world: dict[str, User]) -> None:
    data = build()

    assert data.figure("orders_pending").value == 2
    assert data.figure("orders_in_review").value == 1
    assert data.figure("orders_in_review").url == "/admin/shop/order/?status__exact=pending_review"


def test_operations_figures_show_the_last_audit_and_the_dead_outbox_rows(world: dict[str, User]) -> None:
    data = build()

    audit = data.figure("ledger_audit")
    assert audit.value is False
    assert audit.text == "2 violations"
    assert audit.tone == "bad"
    assert data.figure("dead_outbox_rows").value == 2
    assert data.figure("dead_outbox_rows").url == "/admin/realtime/outboxevent/?status__exact=dead"
    assert data.figure("rounds_today").value == 3


@override_settings(KAFKA_BOOTSTRAP_SERVERS="")
def test_in_embedded_mode_the_relay_card_says_the_relay_is_off_instead_of_a_lag(user: User) -> None:
    # Given embedded mode and an hour-old pending outbox row
    with time_machine.travel(NOW - timedelta(hours=1), tick=False), transaction.atomic():
        import realtime

        realtime.emit("stats_update", user, {})

    # When the dashboard is built
    lag = build().figure("relay_lag")

    # Then it says why there is no lag to watch, and counts the rows kept
    assert lag.value is None
    assert lag.text == "relay off"
    assert "embedded mode" in lag.note and "KAFKA_BOOTSTRAP_SERVERS" in lag.note
    assert "1 row kept" in lag.note


@override_settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:19092")
def test_with_a_broker_the_relay_card_shows_the_oldest_pending_rows_age(user: User) -> None:
    with time_machine.travel(NOW - timedelta(hours=1), tick=False), transaction.atomic():
        import realtime

        realtime.emit("stats_update", user, {})

    lag = build().figure("relay_lag")

    assert lag.value == 3600.0
    assert lag.tone == "warn"


def test_without_any_audit_the_audit_card_says_it_never_ran(db: Any) -> None:
    audit = build().figure("ledger_audit")

    assert (audit.value, audit.text, audit.tone) == (None, "never run", "warn")


# --- Charts -------------------------------------------------------------------------------------


def test_charts_have_thirty_days_ending_today_with_each_days_count(world: dict[str, User]) -> None:
    data = build()
    days = tuple(TODAY - timedelta(days=back) for back in range(29, -1, -1))

    signups = data.chart("signups").series[0]
    assert signups.days == days
    assert dict(zip(days, signups.values, strict=True))[TODAY] == 2
    assert dict(zip(days, signups.values, strict=True))[date(2031, 2, 16)] == 1  # this_month joined 25 days ago
    dau = dict(zip(days, data.chart("dau").series[0].values, strict=True))
    assert (dau[TODAY], dau[TODAY - timedelta(days=1)], dau[TODAY - timedelta(days=3)]) == (3, 1, 2)
    assert dau[TODAY] == data.figure("dau").value  # the chart's today is the card's DAU
    (usd,) = data.chart("revenue").series
    revenue = dict(zip(days, usd.values, strict=True))
    assert usd.label == "USD"
    assert (revenue[TODAY], revenue[MONDAY.date()], revenue[TODAY - timedelta(days=10)]) == (1498, 1999, 499)
    assert usd.total == 1498 + 1999 + 499  # 40 days ago is off the chart
    assert usd.today_text == "14.98 USD"
    played = dict(zip(days, data.chart("rounds").series[0].values, strict=True))
    assert (played[TODAY], played[TODAY - timedelta(days=1)]) == (3, 2)


def test_a_chart_is_an_inline_svg_of_thirty_bars_with_no_style_attribute(world: dict[str, User]) -> None:
    svg = build().chart("rounds").series[0].svg

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert len(re.findall(r'<rect class="chart-bar"', svg)) == 30
    assert "style" not in svg and "<script" not in svg and "href" not in svg
    assert "<title>Thu 13 Mar: 3</title>" in svg
    assert 'aria-label="Game rounds, last 30 days: 5 in all"' in svg


def test_a_chart_without_data_still_draws_its_thirty_days(db: Any) -> None:
    chart = build().chart("revenue")

    (series,) = chart.series
    assert series.values == (0,) * 30
    assert len(re.findall(r'<rect class="chart-bar"', series.svg)) == 30


# --- Who sees what ------------------------------------------------------------------------------


def member_of(role: str) -> tuple[Client, User]:
    staff = UserFactory(is_staff=True)
    staff.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(staff)
    return client, User.objects.get(pk=staff.pk)


REVENUE = {"revenue_today", "revenue_week", "revenue_total", "conversion", "arppu"}


def test_support_sees_players_and_orders_but_no_revenue(db: Any) -> None:
    client, support = member_of("support")

    shown = dashboard_for(support)
    html = client.get("/admin/").content.decode()

    assert {"players_online", "dau", "orders_pending", "orders_in_review", "rounds_today"} <= set(shown.figure_keys)
    assert not REVENUE & set(shown.figure_keys)
    assert "revenue" not in {chart.key for chart in shown.charts}
    assert 'id="figure-dau"' in html
    assert 'id="figure-revenue_today"' not in html and 'id="chart-revenue' not in html
    assert "ledger_audit" not in shown.figure_keys  # support holds no view of the audits


def test_finance_sees_revenue_and_the_ledger_audit(db: Any) -> None:
    client, finance = member_of("finance")

    shown = dashboard_for(finance)

    assert REVENUE | {"ledger_audit"} <= set(shown.figure_keys)
    assert "revenue" in {chart.key for chart in shown.charts}
    assert "rounds" not in {chart.key for chart in shown.charts}  # no games permission
    assert 'id="figure-revenue_today"' in client.get("/admin/").content.decode()


def test_a_staff_member_without_permissions_sees_only_the_alerts_card(db: Any) -> None:
    client, nobody = staff_with()

    shown = dashboard_for(nobody)

    assert shown.figure_keys == ["alerts_firing"]
    assert shown.charts == ()
    assert client.get("/admin/").status_code == 200


# --- Cost -------------------------------------------------------------------------------------


def test_the_build_is_cached_for_every_staff_member(world: dict[str, User], django_assert_num_queries: Any) -> None:
    # Given a build in the cache
    first = dashboard_cached()

    # When a player signs up and the dashboard is asked for again
    UserFactory()
    with django_assert_num_queries(0):
        second = dashboard_cached()

    # Then the cached figures are served until the entry goes (CACHE_SECONDS)
    assert second.figure("new_players_today").value == first.figure("new_players_today").value
    cache.delete(CACHE_KEY)
    assert dashboard_cached().figure("new_players_today").value == first.figure("new_players_today").value + 1
    assert 1 <= dashboard.CACHE_SECONDS <= 30


def test_a_build_costs_the_same_few_queries_whatever_the_number_of_players(
    world: dict[str, User], django_assert_num_queries: Any
) -> None:
    # A cold build: accounts' activity, then sign-ups and active days (each: the 29 past days,
    # today); shop: the last 30 days, all time before today, today's payers, open orders,
    # revenue per day; economy: the last audit, the segment sizes (2); realtime: outbox health;
    # games: rounds (past days, today), then its tables: the week's past days and today (each:
    # totals, top wins), the configurations, the slot table in play (a savepoint, 4 reads and
    # its release: the spins' process copy, read again when the copies' version changes), the
    # winners' nicknames (when rock-paper-scissors dealt the player a win: no query for nobody).
    won = GameRound.objects.filter(result=RoundResult.WIN).exists()
    cold = 14 + 2 + 11 + won
    # Rebuilt (every CACHE_SECONDS): the charts' past days (segment sizes' too), the earlier
    # takings and the games' past days are kept; the slot table is the process's copy.
    rebuilt = cold - 4 - 1 - 2 - 6
    with django_assert_num_queries(cold):
        build()
    with django_assert_num_queries(rebuilt):
        build()

    for index in range(20):
        player(NOW - timedelta(days=index), NOW - timedelta(hours=index))
    cache.clear()
    copies_forget()  # cold as in a new process: the slot table is read again too
    with django_assert_num_queries(cold):
        build()
    with django_assert_num_queries(rebuilt):
        build()


def test_a_charts_past_days_are_counted_once_and_a_day_that_ends_joins_them(world: dict[str, User]) -> None:
    # Given the dashboard built this afternoon (the past days are kept)
    build()

    # When a round is played the next day and the dashboard is built then
    tomorrow = NOW + timedelta(days=1)
    rounds(world["online"], 1, tomorrow)
    with time_machine.travel(tomorrow, tick=False):
        data = dashboard_build()

    # Then the day that ended is on the chart with its rounds, next to the new day's
    chart = data.chart("rounds").series[0]
    played = dict(zip(chart.days, chart.values, strict=True))
    assert chart.days[-1] == tomorrow.date()
    assert (played[TODAY - timedelta(days=1)], played[TODAY], played[tomorrow.date()]) == (2, 3, 1)
    assert data.figure("rounds_today").value == 1


def test_all_time_revenue_counts_todays_sales_at_once_and_keeps_the_earlier_total_a_few_minutes(
    world: dict[str, User],
) -> None:
    # Given a build
    before = build().figure("revenue_total").value["money"]["USD"]

    # When a sale is made today and an older order is refunded, and the dashboard is rebuilt
    order(world["new"], OrderStatus.FULFILLED, 1299, NOW - timedelta(minutes=1))
    Order.objects.filter(fulfilled_at=MONDAY, currency="USD").update(status=OrderStatus.REFUNDED)
    cache.delete(CACHE_KEY)
    after = build().figure("revenue_total").value["money"]["USD"]

    # Then today's sale counts at once; the older refund once the kept total expires
    assert after == before + 1299
    cache.clear()
    assert build().figure("revenue_total").value["money"]["USD"] == before + 1299 - 1999


def test_a_failing_figure_shows_unavailable_and_the_page_still_opens(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(context: dashboard.DashboardContext) -> Figure:
        raise RuntimeError("boom")

    monkeypatch.setitem(
        dashboard._FIGURES, "broken", dashboard._FigureSpec("broken", "Broken", broken, 1, None, "Players")
    )

    response = staff_client.get("/admin/")

    assert response.status_code == 200
    card = re.search(
        r'<li class="dashboard-card tone-warn" id="figure-broken">.*?</li>', response.content.decode(), re.S
    )
    assert card and "unavailable" in card.group(0)


# --- Alerts and tools -----------------------------------------------------------------------------


class _Prometheus(BaseHTTPRequestHandler):
    alerts: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # the standard library's name for it
        body = json.dumps({"status": "success", "data": {"alerts": self.alerts}}).encode()
        self.send_response(200 if self.path == "/api/v1/alerts" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    """A stand-in Prometheus answering /api/v1/alerts on a loopback port."""
    _Prometheus.alerts = [
        {"labels": {"alertname": "OutboxDeadRows"}, "state": "firing"},
        {"labels": {"alertname": "RelayLagHigh"}, "state": "firing"},
        {"labels": {"alertname": "SlowRequests"}, "state": "pending"},
    ]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_alerts_card_counts_the_alerts_firing_in_prometheus(prometheus: str, settings: Any) -> None:
    settings.PROMETHEUS_URL = prometheus

    alerts = build().figure("alerts_firing")

    assert alerts.value == 2  # the pending one is not firing yet
    assert alerts.note == "OutboxDeadRows, RelayLagHigh"
    assert alerts.tone == "bad"
    assert alerts.url == f"{prometheus}/alerts"


def test_alerts_card_says_not_configured_without_prometheus(settings: Any) -> None:
    settings.PROMETHEUS_URL = ""

    alerts = build().figure("alerts_firing")

    assert (alerts.value, alerts.text) == (None, "not configured")


def test_a_prometheus_that_does_not_answer_never_fails_the_page(staff_client: Client, settings: Any) -> None:
    # Given a PROMETHEUS_URL where nothing listens
    settings.PROMETHEUS_URL = "http://127.0.0.1:9"

    response = staff_client.get("/admin/")

    assert response.status_code == 200
    assert dashboard_cached().figure("alerts_firing").text == "unavailable"


def test_the_page_links_the_ops_tools_that_are_configured(staff_client: Client, settings: Any) -> None:
    settings.FLOWER_URL, settings.GRAFANA_URL = "http://127.0.0.1:5555", ""

    html = staff_client.get("/admin/").content.decode()

    assert 'href="http://127.0.0.1:5555"' in html
    assert "Grafana: not configured (<code>GRAFANA_URL</code>)" in html


# --- The page ---------------------------------------------------------------------------------


def test_the_admin_index_is_the_dashboard_with_the_tables_below_and_no_inline_style(
    world: dict[str, User], staff_user: User
) -> None:
    staff_client = Client()
    with time_machine.travel(NOW, tick=False):
        staff_client.force_login(staff_user)
        response = staff_client.get("/admin/")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index('id="staff-dashboard"') < html.index('id="dashboard-app-list"')
    assert 'href="/admin/shop/order/"' in html  # the app list is still there
    # One chart per series: sign-ups, DAU, revenue (USD), rounds and every other app's.
    series = sum(len(chart.series) for chart in dashboard_for(staff_user).charts)
    assert {"chart-signups", "chart-dau", "chart-revenue-usd", "chart-rounds"} <= set(
        re.findall(r'id="(chart-[^"]+)"', html)
    )
    assert len(re.findall(r"<svg class=\"chart\"", html)) == series
    assert len(re.findall(r'<rect class="chart-bar"', html)) == series * 30
    assert 'id="table-games"' in html and 'id="table-big_wins"' in html
    assert " style=" not in html
    (href,) = re.findall(r'href="([^"]*casino/admin/dashboard\.css)"', html)
    assert staff_client.get(href).status_code == 200
    assert 'id="pipeline-health"' in html  # the pipeline panel stays in the sidebar
    assert PlayerDay.objects.filter(day=TODAY).count() == 3
