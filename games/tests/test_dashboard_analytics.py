"""The staff dashboard's game tables (games.staff_dashboard): per game and currency, today's and the
last 7 days' rounds, bets, payouts and measured RTP next to the declared RTP, and the week's
biggest wins; right on known rounds (played through the round engine with known payouts, on
days around the week's edges), the same from ClickHouse as from PostgreSQL (redelivered events
counted once; the real relay and sink fed by the real game services), PostgreSQL when ClickHouse
does not answer, and shown only to staff who may read rounds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils.html import strip_tags

from accounts.models import User
from accounts.tests.factories import UserFactory
from accounts.tests.staff import staff_with
from casino.dashboard import DashboardContext, dashboard_build, dashboard_for
from casino.degraded import dependency_failures
from casino.tests.test_dashboard_tables import analytics_store, insert_outbox_again, ship_outbox_to_clickhouse
from economy.services import wallet_grant
from games import staff_dashboard
from games.gacha_selectors import gacha_banners_open
from games.models import GameConfig, GameRound, SlotTableVersion
from games.services.crash import crash_bet
from games.services.gacha import gacha_pull
from games.services.rounds import Decision, round_play
from games.services.rps import rps_play
from games.services.slots import slot_spin
from games.staff_dashboard import BigWin, GameAnalytics, RoundTotals, game_analytics
from games.tests.factories import game_config_change

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)  # a Thursday afternoon
TODAY = NOW.date()
WEEK_START = datetime(2026, 3, 6, 0, 0, tzinfo=UTC)  # the first instant of the last 7 days
CLOSED_PORT = "clickhouse://default:@127.0.0.1:1/casino"


def funded(nickname: str) -> User:
    user = UserFactory(nickname=nickname)
    wallet_grant(user=user, bundle={"gold": 100_000, "gems": 10_000}, reason="admin_adjust", idempotency_key=nickname)
    return user


def play(user: User, game: str, bet: int, payout: int, at: datetime) -> GameRound:
    """A settled round of ``game`` played at ``at`` through the round engine, paying ``payout``."""

    def decide(draw: Any) -> Decision:
        return Decision(payout=payout, inputs={}, outcome={}, subtype="dashboard_test")

    with time_machine.travel(at, tick=False):
        key = str(uuid.uuid4())
        return round_play(
            user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint=key, decide=decide
        ).round


@pytest.fixture
def week() -> dict[str, Any]:
    """Rounds whose figures are known: today, 6 days ago (the week's first day), 8 days ago and
    the last second before the week (off it), in gold and one in gems; and a live crash round
    still open (counted once it settles)."""
    alice, bob, carol = funded("Alice"), funded("Bob"), funded("Carol")
    rounds = {
        "alice_slot_win": play(alice, "slot", 100, 500, NOW - timedelta(hours=1)),
        "alice_slot_loss": play(alice, "slot", 100, 0, NOW - timedelta(hours=2)),
        "alice_rps_win": play(alice, "rps", 200, 382, WEEK_START),
        "alice_rps_draw": play(alice, "rps", 200, 200, WEEK_START + timedelta(hours=12)),
        "alice_crash_old": play(alice, "crash", 50, 0, NOW - timedelta(days=8)),
        "alice_crash_just_before": play(alice, "crash", 1000, 99_000, WEEK_START - timedelta(seconds=1)),
        "alice_gacha": play(alice, "gacha", 1600, 0, NOW - timedelta(hours=3)),
        "carol_slot_300": play(carol, "slot", 100, 300, NOW - timedelta(hours=4)),
        "carol_rps_300": play(carol, "rps", 100, 300, NOW - timedelta(days=3)),
        "carol_slot_250": play(carol, "slot", 100, 250, NOW - timedelta(days=2)),
        "carol_crash_120": play(carol, "crash", 100, 120, NOW - timedelta(minutes=30)),
    }
    game_config_change("slot", currency="gems")
    rounds["bob_slot_gems"] = play(bob, "slot", 10, 40, NOW - timedelta(hours=5))
    game_config_change("slot", currency="gold")
    with time_machine.travel(NOW - timedelta(minutes=1), tick=False):
        round_play(
            user=bob,
            game="crash",
            bet_amount=100,
            idempotency_key="live",
            fingerprint="live",
            decide=lambda draw: Decision(
                payout=0, inputs={}, outcome={}, subtype="live", open_until=NOW + timedelta(hours=1)
            ),
        )
    assert GameRound.objects.filter(status="open").count() == 1
    return {"alice": alice, "bob": bob, "carol": carol, "rounds": rounds}


def read(settings: Any, clickhouse_url: str = "") -> GameAnalytics:
    settings.CLICKHOUSE_URL = clickhouse_url
    return game_analytics(DashboardContext(now=NOW))


EXPECTED_TODAY = {
    ("slot", "gold"): RoundTotals(3, 300, 800),
    ("slot", "gems"): RoundTotals(1, 10, 40),
    ("crash", "gold"): RoundTotals(1, 100, 120),
    ("gacha", "gold"): RoundTotals(1, 1600, 0),
}
EXPECTED_WEEK = {
    **EXPECTED_TODAY,
    ("slot", "gold"): RoundTotals(4, 400, 1050),
    ("rps", "gold"): RoundTotals(3, 500, 882),
}


def test_per_game_figures_count_settled_rounds_of_today_and_of_the_last_seven_days(
    week: dict[str, Any], settings: Any
) -> None:
    figures = read(settings)

    assert figures.source == "postgresql"
    assert figures.today == EXPECTED_TODAY
    assert figures.week == EXPECTED_WEEK
    assert figures.week["slot", "gold"].rtp == Fraction(1050, 400)
    assert figures.week["rps", "gold"].rtp == Fraction(882, 500)
    assert figures.today["gacha", "gold"].rtp == 0


def test_the_biggest_wins_are_the_five_largest_payouts_of_each_currency_ties_to_the_earlier_round(
    week: dict[str, Any], settings: Any
) -> None:
    rounds = week["rounds"]

    wins = read(settings).big_wins

    expected = ["bob_slot_gems", "alice_slot_win", "alice_rps_win", "carol_slot_300", "carol_rps_300"]
    expected.append("carol_slot_250")  # carol_crash_120 is the sixth in gold; 99,000 was before the week
    assert [win.round_id for win in wins] == [rounds[name].pk for name in expected]
    first = wins[1]
    played = rounds["alice_slot_win"]
    assert first == BigWin(
        round_id=played.pk,
        user_id=week["alice"].pk,
        game="slot",
        currency="gold",
        bet=100,
        payout=500,
        created_at=NOW - timedelta(hours=1),
    )


def test_the_table_has_a_row_per_game_and_currency_with_the_declared_rtp(week: dict[str, Any], settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""

    table = dashboard_build(now=NOW).table("games")

    value = table.value
    assert [(row.game, row.currency) for row in value.rows] == [
        ("slot", "gems"),
        ("slot", "gold"),
        ("crash", "gold"),
        ("rps", "gold"),
        ("gacha", "gold"),
    ]
    assert value.row("rps", "gold").today == RoundTotals()  # played this week, not today: zeros
    assert value.row("rps", "gold").week == RoundTotals(3, 500, 882)
    slot_table = SlotTableVersion.objects.order_by("-created_at", "-id").first()
    assert slot_table is not None
    assert value.row("slot", "gold").declared_rtp == Fraction(3935, 4096)  # exact, games/defaults.py
    assert float(value.row("crash", "gold").declared_rtp) == pytest.approx(0.99)
    assert float(value.row("rps", "gold").declared_rtp) == pytest.approx(0.97)  # exact: of the fair bytes
    assert value.row("gacha", "gold").declared_rtp is None
    cells = {f"{strip_tags(row[0].text)} {row[1].text}": [cell.text for cell in row[2:]] for row in table.rows}
    slot_rtp = f"96.07% (table v{slot_table.pk})"
    assert cells["Slots gold"] == ["3", "300", "800", "266.67%", "4", "400", "1,050", "262.50%", slot_rtp]
    rps_rtp = "97.00% (wins pay x1.91)"
    assert cells["Rock-paper-scissors gold"] == ["0", "0", "0", "-", "3", "500", "882", "176.40%", rps_rtp]
    assert cells["Crash gold"][-1] == "99.00% at every target"
    assert cells["Gacha gold"][-1] == "none: sells items"
    assert "from PostgreSQL" in table.note


def test_a_new_round_shows_at_once_while_the_past_days_are_kept_a_while(week: dict[str, Any], settings: Any) -> None:
    # Given a build (the past days' reading is kept)
    read(settings)

    # When a round is played today and a past round is changed behind the dashboard's back
    play(week["carol"], "rps", 100, 0, NOW - timedelta(minutes=5))
    GameRound.objects.filter(pk=week["rounds"]["carol_rps_300"].pk).update(payout=0)
    again = read(settings)

    # Then today's round counts at once, the past days as they were until the kept reading expires
    assert again.today["rps", "gold"] == RoundTotals(1, 100, 0)
    assert again.week["rps", "gold"] == RoundTotals(4, 600, 882)
    from django.core.cache import cache

    cache.clear()
    assert read(settings).week["rps", "gold"] == RoundTotals(4, 600, 582)


# --- ClickHouse --------------------------------------------------------------------------------


@pytest.fixture
def store(settings: Any) -> Iterator[str]:
    with analytics_store(settings) as url:
        yield url


def test_clickhouse_reads_the_same_figures_and_counts_a_redelivered_event_once(
    week: dict[str, Any], settings: Any, store: str
) -> None:
    # Given the rounds' events in ClickHouse twice (a redelivered batch not merged away yet)
    insert_outbox_again()
    insert_outbox_again()

    # When the figures are read from each source
    from_clickhouse = read(settings, store)
    from_postgres = read(settings)

    # Then they are the same known figures
    assert from_clickhouse.source == "clickhouse"
    assert replace(from_clickhouse, source="postgresql") == from_postgres
    assert from_clickhouse.today == EXPECTED_TODAY
    assert from_clickhouse.week == EXPECTED_WEEK


def test_a_clickhouse_that_does_not_answer_gives_the_postgresql_figures_and_is_tried_once_a_build(
    week: dict[str, Any], settings: Any, staff_client: Client
) -> None:
    failures = dependency_failures.labels(dependency="clickhouse", use="staff_dashboard")
    before = failures._value.get()
    settings.CLICKHOUSE_URL = CLOSED_PORT

    with time_machine.travel(NOW, tick=False):
        response = staff_client.get("/admin/")
    data = dashboard_build(now=NOW)

    assert response.status_code == 200
    assert 'id="table-games"' in response.content.decode()
    games = data.table("games")
    assert games.value.source == "postgresql"
    assert "ClickHouse did not answer" in games.note
    assert games.value.row("slot", "gold").week == EXPECTED_WEEK["slot", "gold"]
    # Two builds, each giving up on ClickHouse once (the revenue chart did not try it again)
    assert failures._value.get() - before == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.services
@pytest.mark.timeout(120)
def test_clickhouse_fed_by_the_relay_and_the_sink_gives_the_postgresql_figures(settings: Any) -> None:
    """The real pipeline: the games' own services write the rounds and their events, the relay
    ships the outbox to Kafka, the sink stores it in ClickHouse; both sources then agree."""
    with analytics_store(settings) as url:
        # Given rounds of every game played through their services, today, 6 and 8 days ago
        players = [funded("Dana"), funded("Eli")]
        banner = gacha_banners_open()[0].code
        for at in (NOW - timedelta(days=8), WEEK_START + timedelta(hours=1), NOW - timedelta(hours=1)):
            with time_machine.travel(at, tick=False):
                for index, player in enumerate(players):
                    key = f"{at.isoformat()}:{player.pk}"
                    for spin in range(3):
                        slot_spin(user=player, bet_amount=100 + 10 * index, idempotency_key=f"{key}:slot:{spin}")
                        rps_play(user=player, choice="rock", bet_amount=100, idempotency_key=f"{key}:rps:{spin}")
                    crash_bet(
                        user=player, bet_amount=200, auto_cashout_multiplier=Decimal("2.00"), idempotency_key=f"{key}:c"
                    )
                    gacha_pull(user=player, pull_count=1, banner_code=banner, idempotency_key=f"{key}:gacha")
        game_config_change("slot", currency="gems")
        with time_machine.travel(NOW - timedelta(minutes=10), tick=False):
            slot_spin(user=players[0], bet_amount=20, idempotency_key="in-gems")
        game_config_change("slot", currency="gold")

        # When the outbox goes through the relay and the sink (and a batch is delivered twice)
        shipped = ship_outbox_to_clickhouse(settings)
        insert_outbox_again()

        # Then ClickHouse gives PostgreSQL's figures, tables included
        from_clickhouse = read(settings, url)
        from_postgres = read(settings)
        assert shipped >= GameRound.objects.count()
        assert from_clickhouse.source == "clickhouse"
        assert replace(from_clickhouse, source="postgresql") == from_postgres
        assert from_postgres.week["rps", "gold"].rounds == 12  # 2 days x 2 players x 3
        assert from_postgres.today["slot", "gems"] == RoundTotals(1, 20, from_postgres.today["slot", "gems"].paid)
        tables = {}
        for source_url in (url, ""):
            settings.CLICKHOUSE_URL = source_url
            data = dashboard_build(now=NOW)
            tables[source_url] = [
                [[cell.text for cell in row] for row in data.table(key).rows] for key in ("games", "big_wins")
            ]
        assert tables[url] == tables[""]


# --- Who sees it --------------------------------------------------------------------------------


def test_the_tables_are_shown_only_to_staff_who_may_read_rounds(week: dict[str, Any], settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    reader_client, reader = staff_with("games.view_gameround")
    other_client, other = staff_with("shop.view_revenue")

    with time_machine.travel(NOW, tick=False):
        reader_html = reader_client.get("/admin/").content.decode()
        other_html = other_client.get("/admin/").content.decode()

    assert {table.key for table in dashboard_for(reader).tables} == {"games", "big_wins"}
    assert not {table.key for table in dashboard_for(other).tables} & {"games", "big_wins"}
    assert 'id="table-games"' in reader_html and 'id="table-big_wins"' in reader_html
    assert 'id="table-games"' not in other_html and 'id="table-big_wins"' not in other_html


def test_the_page_shows_the_week_with_players_linked_to_their_page(
    week: dict[str, Any], settings: Any, staff_client: Client
) -> None:
    settings.CLICKHOUSE_URL = ""

    with time_machine.travel(NOW, tick=False):
        html = staff_client.get("/admin/").content.decode()

    assert html.index('id="table-games"') < html.index('id="table-big_wins"') < html.index('id="dashboard-charts"')
    alice, played = week["alice"], week["rounds"]["alice_slot_win"]
    assert f'<a href="/admin/accounts/user/{alice.pk}/change/" class="player-link">Alice</a>' in html
    assert f'<a href="/admin/games/gameround/{played.pk}/change/">Thu 12 Mar 14:00</a>' in html
    assert '<a href="/admin/games/gameround/?game__exact=rps">Rock-paper-scissors</a>' in html
    assert '<td class="numeric">x5.00</td>' in html
    assert " style=" not in html


def test_declared_rtp_follows_the_live_rps_multiplier(db: Any) -> None:
    config = GameConfig.objects.get(pk="rps")
    config.win_multiplier = Decimal("1.70")

    declared = staff_dashboard.declared_rtp(config)

    assert float(declared.value) == pytest.approx(0.9)  # (1.70 + 1) / 3
    assert declared.text == "90.00% (wins pay x1.7)"
