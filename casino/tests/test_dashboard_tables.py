"""The staff dashboard's tables (``casino.dashboard.register_dashboard_table``): built with the
rest and cached with it (links made safe by their provider survive the cache, plain text is
escaped), shown only to holders of their permission, "unavailable" when their provider fails,
and rendered without a ``style`` attribute; the analytics store's URL gets the build's timeouts.

It also holds :func:`analytics_store` and :func:`ship_outbox_to_clickhouse`, which the apps'
dashboard tests use to compare ClickHouse with PostgreSQL on the same data: the outbox rows the
real services wrote go through the real relay into Kafka and the real sink into ClickHouse."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.utils.html import format_html

from accounts.tests.staff import staff_with
from casino import dashboard
from casino.dashboard import (
    CACHE_KEY,
    DashboardContext,
    Table,
    TableColumn,
    analytics_url,
    dashboard_cached,
    dashboard_for,
)
from conftest import current_run_id, require_service

pytestmark = pytest.mark.django_db


# --- Test kit: a throwaway analytics store fed by the real pipeline ------------------------------


@contextmanager
def analytics_store(settings: Any) -> Iterator[str]:
    """A ClickHouse database and a Kafka topic of the test's own (as realtime's ``clickhouse_db``
    and ``kafka_topic`` fixtures make them), dropped afterwards; yields the ClickHouse URL."""
    require_service("ClickHouse", bool(django_settings.CLICKHOUSE_URL))
    require_service("Kafka", bool(django_settings.KAFKA_BOOTSTRAP_SERVERS))
    from realtime import clickhouse
    from realtime.sink import ensure_topic

    name = f"casino_test_{current_run_id()}_{uuid.uuid4().hex[:10]}"
    base = django_settings.CLICKHOUSE_URL.rsplit("/", 1)[0]
    settings.CLICKHOUSE_URL = f"{base}/{name}"
    settings.KAFKA_TOPIC = f"casino.test.{current_run_id()}.{uuid.uuid4().hex[:12]}"
    ensure_topic(settings.KAFKA_TOPIC)
    clickhouse.ensure_schema()
    try:
        yield settings.CLICKHOUSE_URL
    finally:
        client = clickhouse.client(f"{base}/default")
        client.execute(f"DROP DATABASE IF EXISTS {name}")
        client.disconnect()


def ship_outbox_to_clickhouse(settings: Any = None, *, timeout: float = 60.0) -> int:
    """Every pending outbox row through the relay (passes until none is left) into Kafka, then
    the sink (a consumer group of its own, in a thread) until ClickHouse holds each of them.
    Returns how many events went. The rows must be committed (``transaction=True``). Given the
    test's ``settings``, the sink inserts every 0.2 s instead of every ``SINK_FLUSH_SECONDS``."""
    from realtime import clickhouse, relay
    from realtime.models import OutboxEvent
    from realtime.sink import make_consumer, sink_run

    producer = relay.make_producer()
    while relay.outbox_relay_pass(producer=producer).claimed:
        pass
    assert not OutboxEvent.objects.exclude(status=OutboxEvent.Status.SENT).exists()
    expected = OutboxEvent.objects.count()
    if settings is not None:
        settings.SINK_FLUSH_SECONDS = 0.2
    stop = threading.Event()
    consumer = make_consumer(group_id=f"dashboard-test-{uuid.uuid4().hex[:12]}")
    sink = threading.Thread(target=sink_run, kwargs={"stop": stop, "consumer": consumer}, daemon=True)
    sink.start()
    ch = clickhouse.client()
    try:
        deadline = time.monotonic() + timeout
        while clickhouse.count_events(ch) < expected:
            assert time.monotonic() < deadline, f"ClickHouse holds {clickhouse.count_events(ch)} of {expected}"
            time.sleep(0.2)
    finally:
        ch.disconnect()
        stop.set()
        sink.join(timeout=30)
    return expected


def insert_outbox_again() -> None:
    """Every outbox row inserted into ClickHouse once more, as a redelivered batch would be:
    copies the ReplacingMergeTree has not merged away yet."""
    from django.utils import timezone

    from realtime import clickhouse
    from realtime.models import OutboxEvent

    rows = clickhouse.rows_from_envelopes(
        [row.envelope() for row in OutboxEvent.objects.all()], ingested=timezone.now()
    )
    ch = clickhouse.client()
    try:
        clickhouse.insert_rows(ch, rows)
    finally:
        ch.disconnect()


# --- The registry ------------------------------------------------------------------------------


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Only this test's tables are registered (the apps' own are covered by their tests)."""
    registry: dict[str, Any] = {}
    monkeypatch.setattr(dashboard, "_TABLES", registry)
    return registry


def sample(context: DashboardContext) -> Table:
    return Table(
        columns=(TableColumn("Who"), TableColumn("How many", numeric=True)),
        rows=(
            (format_html('<a href="{}" class="player-link">{}</a>', "/admin/accounts/user/1/change/", "Ann"), "3"),
            ("<b>not bold</b>", "1,234"),
        ),
        value={"Ann": 3},
        note="a note",
        url="/admin/games/gameround/",
    )


def test_a_table_is_built_cached_and_shown_to_holders_of_its_permission(tables: dict[str, Any]) -> None:
    # Given two tables, one for holders of a permission, one for every staff member
    dashboard.register_dashboard_table("second", "Second", sample, order=2, permission=None)
    dashboard.register_dashboard_table("first", "First", sample, order=1, permission="games.view_gameround")
    _, holder = staff_with("games.view_gameround")
    _, nobody = staff_with()

    # When the dashboard is built (through the cache) and read back from it
    cache.delete(CACHE_KEY)
    dashboard_cached()
    data = dashboard_cached()

    # Then both are there in order, their cells and value intact (a safe link stays safe)
    assert [table.key for table in data.tables] == ["first", "second"]
    first = data.table("first")
    assert first.value == {"Ann": 3}
    assert [column.label for column in first.columns] == ["Who", "How many"]
    link, count = first.rows[0]
    assert hasattr(link.text, "__html__") and not link.numeric
    assert (count.text, count.numeric) == ("3", True)
    # And each staff member sees the tables their permissions allow
    assert [table.key for table in dashboard_for(holder).tables] == ["first", "second"]
    assert [table.key for table in dashboard_for(nobody).tables] == ["second"]


def test_the_page_renders_a_table_with_its_links_escapes_plain_text_and_has_no_style(
    tables: dict[str, Any], staff_client: Client
) -> None:
    dashboard.register_dashboard_table("sample", "Sample", sample, order=1, permission=None)

    html = staff_client.get("/admin/").content.decode()

    table = re.search(
        r'<div class="dashboard-group dashboard-table-group" id="table-sample">.*?</div>\s*</div>', html, re.S
    )
    assert table, "the table is not on the page"
    block = table.group(0)
    assert '<a href="/admin/accounts/user/1/change/" class="player-link">Ann</a>' in block
    assert "&lt;b&gt;not bold&lt;/b&gt;" in block
    assert '<th scope="col" class="numeric">How many</th>' in block
    assert '<td class="numeric">1,234</td>' in block
    assert '<a href="/admin/games/gameround/">Sample</a>' in block
    assert "a note" in html
    assert " style=" not in html
    assert html.index('id="table-sample"') < html.index('id="dashboard-app-list"')


def test_a_failing_or_malformed_table_shows_unavailable_and_the_page_still_opens(
    tables: dict[str, Any], staff_client: Client
) -> None:
    def broken(context: DashboardContext) -> Table:
        raise RuntimeError("boom")

    def malformed(context: DashboardContext) -> Table:
        return Table(columns=(TableColumn("One"),), rows=(("a", "b"),))

    dashboard.register_dashboard_table("broken", "Broken", broken, order=1, permission=None)
    dashboard.register_dashboard_table("malformed", "Malformed", malformed, order=2, permission=None)
    dashboard.register_dashboard_table("fine", "Fine", sample, order=3, permission=None)

    response = staff_client.get("/admin/")

    assert response.status_code == 200
    data = dashboard_cached()
    assert (data.table("broken").error, data.table("malformed").error, data.table("fine").error) == (
        "unavailable",
        "unavailable",
        "",
    )
    html = response.content.decode()
    broken_block = re.search(r'id="table-broken">.*?</div>', html, re.S)
    assert broken_block and "unavailable" in broken_block.group(0)


def test_a_table_without_rows_says_so(tables: dict[str, Any], staff_client: Client) -> None:
    def empty(context: DashboardContext) -> Table:
        return Table(columns=(TableColumn("One"),), rows=(), empty="no win this week")

    dashboard.register_dashboard_table("empty", "Empty", empty, order=1, permission=None)

    html = staff_client.get("/admin/").content.decode()

    block = re.search(r'id="table-empty">.*?</div>', html, re.S)
    assert block and "no win this week" in block.group(0) and "<table" not in block.group(0)


# --- Dependencies --------------------------------------------------------------------------------


def test_the_analytics_url_gets_the_builds_timeouts_and_keeps_its_own() -> None:
    url = analytics_url("clickhouse://casino:secret@clickhouse:9000/casino?send_receive_timeout=9")

    assert url.startswith("clickhouse://casino:secret@clickhouse:9000/casino?")
    query = dict(part.split("=") for part in url.split("?", 1)[1].split("&"))
    assert query == {
        "send_receive_timeout": "9",
        "connect_timeout": str(dashboard.ANALYTICS_TIMEOUT_SECONDS),
        "sync_request_timeout": str(dashboard.ANALYTICS_TIMEOUT_SECONDS),
    }


def test_a_dependency_that_failed_once_is_down_for_the_whole_build() -> None:
    from datetime import UTC, date, datetime

    context = DashboardContext(now=datetime(2031, 3, 13, 15, 0, tzinfo=UTC))
    narrowed = context.narrowed(date(2031, 3, 13), date(2031, 3, 13))

    narrowed.mark_down("clickhouse")

    assert context.dependency_down("clickhouse") and not context.dependency_down("redis")
    assert not DashboardContext(now=context.now).dependency_down("clickhouse")  # the next build tries again
