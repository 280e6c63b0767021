"""Both sources of the RFM figures agree (economy.rfm, games.rfm, shop.rfm).

A month of activity made through the real services at chosen times (time-machine): rounds
played, money orders paid through the sandbox provider's signed webhooks (one refunded, one in
EUR, one never paid, one paid in gems), password logins. Players sit exactly at each threshold:
7/8 and 30/31 days since their last activity, 9/10/49/50 activities in the window, money at and
one below each threshold. The events go through the relay, Kafka and the sink into ClickHouse
(a batch delivered twice besides); the segments computed from ClickHouse and from PostgreSQL
are the same, and the ones expected."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from accounts.services.auth import user_login
from casino.degraded import dependency_failures
from casino.tests.test_dashboard_tables import analytics_store, insert_outbox_again, ship_outbox_to_clickhouse
from economy.models import PlayerSegment, RfmGroup, SegmentRun
from economy.services.segments import segments_compute
from economy.tests.factories import player_with_wallet
from games.services import Decision, Draw, round_play
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory
from shop.tests.test_dashboard_revenue import bought, refunded_by_the_provider

NOW = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)
PASSWORD = "Correct-Horse-9"


@pytest.fixture(autouse=True)
def no_fraud_rules(tmp_path: Any, settings: Any) -> None:
    """These players buy often on purpose: no velocity rule sends them to review."""
    rules = tmp_path / "no-rules.yaml"
    rules.write_text("thresholds:\n  review: 40\n  block: 80\nrules: []\n")
    settings.SHOP_FRAUD_RULES_PATH = rules


def play(user: Any, at: datetime, count: int = 1) -> None:
    """``count`` settled rounds, one a second from ``at``."""

    def decide(draw: Draw) -> Decision:
        return Decision(payout=0, inputs={}, outcome={}, subtype="test")

    for n in range(count):
        with time_machine.travel(at + timedelta(seconds=n), tick=False):
            round_play(
                user=user, game="rps", bet_amount=10, idempotency_key=str(uuid.uuid4()), fingerprint="f", decide=decide
            )


def log_in(user: Any, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        user_login(identifier=user.site_id, password=PASSWORD)


@dataclass(frozen=True)
class Expected:
    group: str
    scores: tuple[int, int, int]
    recency_days: int | None
    frequency: int
    monetary: int
    total_spent: int = 0


def a_month_of_activity() -> dict[str, Expected]:
    """Make the activity; return what each player's segment must be at ``NOW``."""
    players: dict[str, Any] = {}

    def new(name: str, **fields: Any) -> Any:
        players[name] = player_with_wallet(
            gold=100_000, gems=5_000, site_id=f"rfm_{name}", nickname=f"Rfm{name.title().replace('_', '')}", **fields
        )
        return players[name]

    def money(amount: int, currency: str = "USD") -> Any:
        return MoneyProductFactory(price_amount=amount, price_currency=currency)

    # Recency: one round 7 and 8 days ago, 30 and 31 days ago (an hour more: whole days).
    for name, days in (("r7", 7), ("r8", 8), ("r30", 30), ("r31", 31)):
        play(new(name), NOW - timedelta(days=days, hours=1))
    # The window's edge: a minute inside it and a minute before it.
    edge = new("edge")
    play(edge, NOW - timedelta(days=30) + timedelta(minutes=1))
    play(edge, NOW - timedelta(days=30) - timedelta(minutes=1))
    # Frequency: 9, 10, 49 and 50 rounds two days ago.
    for count in (9, 10, 49, 50):
        play(new(f"f{count}"), NOW - timedelta(days=2), count)
    # Monetary: USD orders at and one below each threshold, three days ago.
    for amount in (10_000, 9_999, 1_000, 999):
        bought(new(f"m{amount}"), money(amount), NOW - timedelta(days=3))
    # A whale: 49 rounds and a 100.00 order yesterday (50 activities).
    whale = new("whale")
    play(whale, NOW - timedelta(days=1), 49)
    bought(whale, money(10_000), NOW - timedelta(days=1))
    # Recent only by a password login.
    log_in(new("login"), NOW - timedelta(days=2))
    new("never")
    # Money spent before the window: spent ever, not in the window.
    bought(new("old_spender"), money(5_000), NOW - timedelta(days=40))
    # An EUR order: an activity, but no USD spent.
    bought(new("eur"), money(20_000, "EUR"), NOW - timedelta(days=2))
    # Refunded after fulfilment, never paid, paid in gems: no purchase.
    refunded = new("refunded")
    refunded_by_the_provider(bought(refunded, money(5_000), NOW - timedelta(days=5)), NOW - timedelta(days=4))
    bought(new("unpaid"), money(5_000), NOW - timedelta(days=1), paid=False)
    bought(new("gems"), GemPriceProductFactory(), NOW - timedelta(days=1))
    # Banned players are scored too; staff never.
    banned = new("banned")
    play(banned, NOW - timedelta(days=1), 10)
    banned.is_active = False
    banned.save(update_fields=["is_active"])
    play(new("staff", is_staff=True), NOW - timedelta(days=1), 3)

    high, medium, low, at_risk = RfmGroup.HIGH_VALUE, RfmGroup.MEDIUM_VALUE, RfmGroup.LOW_VALUE, RfmGroup.AT_RISK
    return {
        "r7": Expected(medium, (5, 1, 1), 7, 1, 0),
        "r8": Expected(low, (3, 1, 1), 8, 1, 0),
        "r30": Expected(low, (3, 1, 1), 30, 0, 0),
        "r31": Expected(at_risk, (1, 1, 1), 31, 0, 0),
        "edge": Expected(low, (3, 1, 1), 29, 1, 0),
        "f9": Expected(medium, (5, 1, 1), 1, 9, 0),
        "f10": Expected(high, (5, 3, 1), 1, 10, 0),
        "f49": Expected(high, (5, 3, 1), 1, 49, 0),
        "f50": Expected(high, (5, 5, 1), 1, 50, 0),
        "m10000": Expected(high, (5, 1, 5), 2, 1, 10_000, 10_000),
        "m9999": Expected(high, (5, 1, 3), 2, 1, 9_999, 9_999),
        "m1000": Expected(high, (5, 1, 3), 2, 1, 1_000, 1_000),
        "m999": Expected(medium, (5, 1, 1), 2, 1, 999, 999),
        "whale": Expected(RfmGroup.WHALE, (5, 5, 5), 0, 50, 10_000, 10_000),
        "login": Expected(medium, (5, 1, 1), 2, 0, 0),
        "never": Expected(at_risk, (1, 1, 1), None, 0, 0),
        "old_spender": Expected(at_risk, (1, 1, 1), 39, 0, 0, 5_000),
        "eur": Expected(medium, (5, 1, 1), 1, 1, 0),
        "refunded": Expected(at_risk, (1, 1, 1), None, 0, 0),
        "unpaid": Expected(at_risk, (1, 1, 1), None, 0, 0),
        "gems": Expected(at_risk, (1, 1, 1), None, 0, 0),
        "banned": Expected(high, (5, 3, 1), 0, 10, 0),
    }


def segments_now() -> dict[str, Expected]:
    rows = PlayerSegment.objects.filter(user__site_id__startswith="rfm_").select_related("user")
    return {
        row.user.site_id.removeprefix("rfm_"): Expected(
            row.rfm_group,
            (row.recency_score, row.frequency_score, row.monetary_score),
            row.recency_days,
            row.frequency,
            row.monetary,
            row.total_spent,
        )
        for row in rows
    }


def expected_sizes(expected: dict[str, Expected]) -> dict[str, int]:
    return {group: sum(1 for e in expected.values() if e.group == group) for group in RfmGroup.values}


@pytest.fixture
def store(settings: Any) -> Iterator[str]:
    with analytics_store(settings) as url:
        yield url


@pytest.mark.django_db(transaction=True)
@pytest.mark.services
@pytest.mark.timeout(180)
def test_clickhouse_fed_by_the_relay_and_the_sink_gives_the_postgresql_segments(settings: Any, store: str) -> None:
    # Given a month of activity made through the services, in ClickHouse through the real pipeline
    expected = a_month_of_activity()
    ship_outbox_to_clickhouse()
    insert_outbox_again()  # a redelivered batch the ReplacingMergeTree has not merged yet

    # When the segments are computed from each source
    settings.CLICKHOUSE_URL = store
    from_clickhouse_run = segments_compute(source="clickhouse", now=NOW)
    from_clickhouse = segments_now()
    from_postgres_run = segments_compute(source="postgresql", now=NOW)
    from_postgres = segments_now()

    # Then they agree, figure by figure, and are what the rules say
    assert from_clickhouse == from_postgres
    assert from_postgres == expected
    assert (from_clickhouse_run.source, from_postgres_run.source) == ("clickhouse", "postgresql")
    assert from_clickhouse_run.sizes == from_postgres_run.sizes == expected_sizes(expected)
    assert SegmentRun.objects.count() == 2


@pytest.mark.django_db
def test_auto_reads_postgresql_when_clickhouse_does_not_answer(settings: Any) -> None:
    from economy.services.segments import SegmentSourceUnavailable

    player = player_with_wallet(gold=1_000, site_id="rfm_solo", nickname="RfmSolo")
    play(player, NOW - timedelta(days=3), 10)
    settings.CLICKHOUSE_URL = "clickhouse://default:@127.0.0.1:1/casino"
    failures = dependency_failures.labels(dependency="clickhouse", use="segments")
    before = failures._value.get()

    run = segments_compute(now=NOW)

    assert run.source == "postgresql"
    assert segments_now()["solo"] == Expected(RfmGroup.HIGH_VALUE, (5, 3, 1), 2, 10, 0)
    assert failures._value.get() == before + 1
    with pytest.raises(SegmentSourceUnavailable):
        segments_compute(source="clickhouse", now=NOW)
    assert SegmentRun.objects.count() == 1
