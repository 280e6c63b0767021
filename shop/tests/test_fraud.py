"""Fraud rule engine: features from sliding windows and order history, the
condition language, the rules file (validation, hot reload) and verdicts."""

from __future__ import annotations

import itertools
import logging
import os
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import UserFactory
from casino.ratelimit import distinct_window_backend
from shop import fraud
from shop.fraud import (
    FEATURE_TYPES,
    FraudRulesError,
    FraudRulesStore,
    fraud_condition_parse,
    fraud_evaluate,
    fraud_features,
    fraud_record_attempt,
    fraud_rules_current,
    fraud_rules_parse,
)
from shop.models import FraudAction, Order, OrderStatus, PriceType, Product, ProductKind

pytestmark = pytest.mark.django_db

DEFAULT_RULES_PATH = Path(fraud.__file__).parent.with_name("fraud_rules.yaml")
T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)

# A player about whom nothing is suspicious: no rule of the defaults matches.
NEUTRAL_FEATURES: dict[str, Any] = {
    "amount": 999,
    "amount_vs_usual": 1.0,
    "is_new_player_24h": False,
    "orders_per_player_1h": 1,
    "orders_per_ip_1h": 1,
    "orders_per_device_1h": 1,
    "distinct_instruments_per_player_24h": 1,
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def rules_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A fresh rules store per test, on a clock the test moves."""
    clock = FakeClock()
    monkeypatch.setattr(fraud.rules, "_rules_store", FraudRulesStore(clock=clock))
    return clock


@pytest.fixture
def rules_file(tmp_path: Path, settings: Any) -> Path:
    path = tmp_path / "fraud_rules.yaml"
    settings.SHOP_FRAUD_RULES_PATH = str(path)
    return path


_mtime_bump = itertools.count(1)


def write_rules(path: Path, content: str) -> None:
    """Write and move the mtime forward, as an edit seconds later would."""
    path.write_text(textwrap.dedent(content))
    stat = path.stat()
    bump = next(_mtime_bump) * 1_000_000_000
    os.utime(path, ns=(stat.st_atime_ns + bump, stat.st_mtime_ns + bump))


def features_with(**overrides: Any) -> dict[str, Any]:
    return {**NEUTRAL_FEATURES, **overrides}


def matched_names(features: dict[str, Any]) -> set[str]:
    return {rule["name"] for rule in fraud_evaluate(features=features).matched_rules}


def attempt(user: Any, *, ip: str | None = "203.0.113.7", device: str = "device-1", instrument: str = "card-1") -> None:
    fraud_record_attempt(user_id=user.pk, ip=ip, device_id=device, payment_instrument=instrument)


def features_for(
    user: Any,
    *,
    ip: str | None = "203.0.113.7",
    device: str = "device-1",
    instrument: str = "card-1",
    amount: int = 1000,
    currency: str = "USD",
) -> dict[str, Any]:
    return fraud_features(
        user=user, ip=ip, device_id=device, payment_instrument=instrument, amount=amount, currency=currency
    )


# --- Default rules: each fires at its boundary, not one below -----------------------

# rule name -> (features at the boundary, features just below it)
DEFAULT_RULE_BOUNDARIES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "player_orders_1h_5": ({"orders_per_player_1h": 5}, {"orders_per_player_1h": 4}),
    "player_orders_1h_10": ({"orders_per_player_1h": 10}, {"orders_per_player_1h": 9}),
    "ip_orders_1h_10": ({"orders_per_ip_1h": 10}, {"orders_per_ip_1h": 9}),
    "ip_orders_1h_30": ({"orders_per_ip_1h": 30}, {"orders_per_ip_1h": 29}),
    "device_orders_1h_8": ({"orders_per_device_1h": 8}, {"orders_per_device_1h": 7}),
    "player_instruments_24h_3": (
        {"distinct_instruments_per_player_24h": 3},
        {"distinct_instruments_per_player_24h": 2},
    ),
    "player_instruments_24h_5": (
        {"distinct_instruments_per_player_24h": 5},
        {"distinct_instruments_per_player_24h": 4},
    ),
    "amount_10x_usual": ({"amount_vs_usual": 10.0}, {"amount_vs_usual": 9.99}),
    "amount_large": ({"amount": 50000}, {"amount": 49999}),
    "new_player_amount_100": (
        {"is_new_player_24h": True, "amount": 10000},
        {"is_new_player_24h": True, "amount": 9999},
    ),
    "new_player_orders_1h_3": (
        {"is_new_player_24h": True, "orders_per_player_1h": 3},
        {"is_new_player_24h": True, "orders_per_player_1h": 2},
    ),
    "new_player_instruments_24h_2": (
        {"is_new_player_24h": True, "distinct_instruments_per_player_24h": 2},
        {"is_new_player_24h": True, "distinct_instruments_per_player_24h": 1},
    ),
}


def test_every_default_rule_has_a_boundary_case() -> None:
    # given the shipped rules file / then the boundary table covers exactly its rules
    names = {rule.name for rule in fraud_rules_current().rules}
    assert names == set(DEFAULT_RULE_BOUNDARIES)


def test_default_rules_thresholds_and_version() -> None:
    rules = fraud_rules_current()
    assert (rules.review_threshold, rules.block_threshold) == (40, 80)
    assert len(rules.version) == 16
    assert int(rules.version, 16) >= 0
    assert matched_names(NEUTRAL_FEATURES) == set()


@pytest.mark.parametrize("rule_name", sorted(DEFAULT_RULE_BOUNDARIES))
def test_default_rule_fires_at_boundary_and_not_one_below(rule_name: str) -> None:
    at_boundary, below = DEFAULT_RULE_BOUNDARIES[rule_name]
    assert rule_name in matched_names(features_with(**at_boundary))
    assert rule_name not in matched_names(features_with(**below))


@pytest.mark.parametrize(
    "rule_name", ["new_player_amount_100", "new_player_orders_1h_3", "new_player_instruments_24h_2"]
)
def test_new_player_rules_ignore_established_players(rule_name: str) -> None:
    at_boundary, _below = DEFAULT_RULE_BOUNDARIES[rule_name]
    assert rule_name not in matched_names(features_with(**{**at_boundary, "is_new_player_24h": False}))


def test_default_rules_unknown_features_match_nothing() -> None:
    # given a first purchase without IP or history
    features = features_with(amount_vs_usual=None, orders_per_ip_1h=None, orders_per_device_1h=None)
    # then no rule on the unknown features fires
    assert matched_names(features) == set()


def test_default_rules_card_testing_blocks() -> None:
    verdict = fraud_evaluate(features=features_with(distinct_instruments_per_player_24h=5))
    assert verdict.action == FraudAction.BLOCK
    assert verdict.score == 90
    assert verdict.matched_rules == [
        {"name": "player_instruments_24h_3", "points": 50},
        {"name": "player_instruments_24h_5", "points": 40},
    ]


# --- Thresholds ------------------------------------------------------------------------

THRESHOLD_RULES = """\
    thresholds: {review: 40, block: 80}
    rules:
      - {name: base_39, when: orders_per_player_1h >= 1, points: 39}
      - {name: plus_1, when: orders_per_ip_1h >= 1, points: 1}
      - {name: plus_40, when: orders_per_device_1h >= 1, points: 40}
"""


@pytest.mark.parametrize(
    ("present", "score", "action"),
    [
        ({"orders_per_player_1h"}, 39, FraudAction.ALLOW),  # review - 1
        ({"orders_per_player_1h", "orders_per_ip_1h"}, 40, FraudAction.REVIEW),  # == review
        ({"orders_per_player_1h", "orders_per_device_1h"}, 79, FraudAction.REVIEW),  # block - 1
        ({"orders_per_player_1h", "orders_per_ip_1h", "orders_per_device_1h"}, 80, FraudAction.BLOCK),  # == block
    ],
)
def test_thresholds_at_their_boundaries(rules_file: Path, present: set[str], score: int, action: str) -> None:
    # given rules whose points add up to the boundaries
    write_rules(rules_file, THRESHOLD_RULES)
    counts = ("orders_per_player_1h", "orders_per_ip_1h", "orders_per_device_1h")
    features = features_with(**{name: (1 if name in present else 0) for name in counts})
    # when
    verdict = fraud_evaluate(features=features)
    # then
    assert (verdict.score, verdict.action) == (score, action)
    assert verdict.features == features


def test_verdict_is_frozen_and_carries_the_rules_version(rules_file: Path) -> None:
    import dataclasses
    import hashlib

    write_rules(rules_file, THRESHOLD_RULES)
    verdict = fraud_evaluate(features=NEUTRAL_FEATURES)
    assert verdict.rules_version == hashlib.sha256(rules_file.read_bytes()).hexdigest()[:16]
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.score = 0  # type: ignore[misc]


def test_negative_points_lower_the_score(rules_file: Path) -> None:
    write_rules(
        rules_file,
        """\
        thresholds: {review: 40, block: 80}
        rules:
          - {name: velocity, when: orders_per_player_1h >= 5, points: 50}
          - {name: loyal, when: amount_vs_usual <= 2, points: -20}
        """,
    )
    verdict = fraud_evaluate(features=features_with(orders_per_player_1h=5, amount_vs_usual=1.5))
    assert (verdict.score, verdict.action) == (30, FraudAction.ALLOW)


# --- Hot reload ------------------------------------------------------------------------

RULES_V1 = """\
    thresholds: {review: 40, block: 80}
    rules:
      - {name: version_one, when: orders_per_player_1h >= 5, points: 40}
"""
RULES_V2 = """\
    thresholds: {review: 40, block: 80}
    rules:
      - {name: version_two, when: orders_per_player_1h >= 5, points: 80}
"""


def test_hot_reload_uses_new_rules_after_the_file_changes(rules_file: Path, rules_clock: FakeClock) -> None:
    # given
    write_rules(rules_file, RULES_V1)
    features = features_with(orders_per_player_1h=5)
    first = fraud_evaluate(features=features)
    assert (first.action, first.matched_rules[0]["name"]) == (FraudAction.REVIEW, "version_one")
    # when the file is rewritten and the check interval has passed
    write_rules(rules_file, RULES_V2)
    rules_clock.advance(1.0)
    # then the next evaluation uses the new rules
    second = fraud_evaluate(features=features)
    assert (second.action, second.matched_rules[0]["name"]) == (FraudAction.BLOCK, "version_two")
    assert second.rules_version != first.rules_version


def test_hot_reload_checks_the_file_at_most_once_per_second(rules_file: Path, rules_clock: FakeClock) -> None:
    write_rules(rules_file, RULES_V1)
    assert fraud_rules_current().rules[0].name == "version_one"
    # when the file changes within the second: still the old rules
    write_rules(rules_file, RULES_V2)
    rules_clock.advance(0.9)
    assert fraud_rules_current().rules[0].name == "version_one"
    # a second after the last check: the new ones
    rules_clock.advance(0.1)
    assert fraud_rules_current().rules[0].name == "version_two"


def test_hot_reload_notices_a_same_mtime_rewrite_by_its_size(rules_file: Path, rules_clock: FakeClock) -> None:
    write_rules(rules_file, RULES_V1)
    stat = rules_file.stat()
    fraud_rules_current()
    # when rewritten with a different size but the same mtime (coarse filesystem clocks)
    rules_file.write_text(textwrap.dedent(RULES_V2) + "# longer\n")
    os.utime(rules_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    rules_clock.advance(1.0)
    # then
    assert fraud_rules_current().rules[0].name == "version_two"


def test_broken_rewrite_keeps_the_last_good_rules_and_logs(
    rules_file: Path, rules_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    write_rules(rules_file, RULES_V1)
    good_version = fraud_rules_current().version
    # when the file is rewritten with an unknown feature
    write_rules(
        rules_file,
        """\
        thresholds: {review: 40, block: 80}
        rules:
          - {name: typo_rule, when: orders_per_player_1hh >= 5, points: 40}
        """,
    )
    rules_clock.advance(1.0)
    with caplog.at_level(logging.ERROR, logger="shop.fraud"):
        verdict = fraud_evaluate(features=features_with(orders_per_player_1h=5))
    # then the old rules still decide, and the error names the rule
    assert verdict.rules_version == good_version
    assert verdict.matched_rules == [{"name": "version_one", "points": 40}]
    assert "typo_rule" in caplog.text
    assert "orders_per_player_1hh" in caplog.text
    # the error is logged once per change, not on every check
    caplog.clear()
    rules_clock.advance(1.0)
    with caplog.at_level(logging.ERROR, logger="shop.fraud"):
        fraud_rules_current()
    assert caplog.text == ""
    # and a fixed file loads again
    write_rules(rules_file, RULES_V2)
    rules_clock.advance(1.0)
    assert fraud_rules_current().rules[0].name == "version_two"


def test_deleted_file_keeps_the_last_good_rules(rules_file: Path, rules_clock: FakeClock) -> None:
    write_rules(rules_file, RULES_V1)
    fraud_rules_current()
    rules_file.unlink()
    rules_clock.advance(1.0)
    assert fraud_rules_current().rules[0].name == "version_one"


def test_first_load_failing_raises(rules_file: Path) -> None:
    write_rules(rules_file, "thresholds: {review: 40, block: 80}\nrules:\n  - {name: bad, when: '1 +', points: 1}\n")
    with pytest.raises(FraudRulesError, match=r"rule 'bad'"):
        fraud_evaluate(features=NEUTRAL_FEATURES)


def test_first_load_of_a_missing_file_raises(tmp_path: Path, settings: Any) -> None:
    settings.SHOP_FRAUD_RULES_PATH = str(tmp_path / "missing.yaml")
    with pytest.raises(FraudRulesError, match="cannot read"):
        fraud_rules_current()


# --- Rules file validation -------------------------------------------------------------


def rules_document(rule: str, thresholds: str = "{review: 40, block: 80}") -> bytes:
    return f"thresholds: {thresholds}\nrules:\n  - {rule}\n".encode()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            rules_document("{name: r1, when: unknown_feature >= 5, points: 10}"),
            r"rule 'r1'.*unknown feature 'unknown_feature'",
        ),
        (rules_document("{name: r2, when: 'orders_per_ip_1h >=', points: 10}"), r"rule 'r2'.*expected a number"),
        (
            rules_document("{name: r3, when: orders_per_ip_1h >= 5, points: ten}"),
            r"rule 'r3'.*'points' must be an integer",
        ),
        (
            rules_document("{name: r4, when: orders_per_ip_1h >= 5, points: 1.5}"),
            r"rule 'r4'.*'points' must be an integer",
        ),
        (
            rules_document("{name: r5, when: orders_per_ip_1h >= 5, points: true}"),
            r"rule 'r5'.*'points' must be an integer",
        ),
        (rules_document("{name: r6, when: orders_per_ip_1h >= 5}"), r"rule 'r6'.*'points' must be an integer"),
        (rules_document("{name: r7, when: orders_per_ip_1h >= 5, point: 10}"), r"rule 'r7'.*unknown key\(s\) point"),
        (rules_document("{name: r8, when: true, points: 10}"), r"rule 'r8'.*'when' must be a condition string"),
        (rules_document("{when: orders_per_ip_1h >= 5, points: 10}"), r"rule #1 needs a non-empty 'name'"),
        (
            rules_document("{name: r9, when: amount >= 1, points: 1}", "{review: 81, block: 80}"),
            r"thresholds.review \(81\) must not exceed thresholds.block \(80\)",
        ),
        (rules_document("{name: r10, when: amount >= 1, points: 1}", "{review: 40}"), r"exactly 'review' and 'block'"),
        (
            rules_document("{name: r11, when: amount >= 1, points: 1}", "{review: '40', block: 80}"),
            r"thresholds.review must be a positive integer",
        ),
        (
            b"thresholds: {review: 40, block: 80}\nrules:\n"
            b"  - {name: twice, when: amount >= 1, points: 1}\n  - {name: twice, when: amount >= 2, points: 1}\n",
            r"rule 'twice': duplicate rule name",
        ),
        (b"thresholds: {review: 40, block: 80}\nrules: [\n", r"not valid YAML"),
        (b"- just a list\n", r"expected a mapping"),
        (b"thresholds: {review: 40, block: 80}\nrules: []\nextra: 1\n", r"unknown top-level key\(s\): extra"),
    ],
)
def test_rules_file_validation_names_the_problem(document: bytes, message: str) -> None:
    with pytest.raises(FraudRulesError, match=message):
        fraud_rules_parse(document, source="test.yaml")


def test_rules_file_errors_name_the_file() -> None:
    with pytest.raises(FraudRulesError, match=r"^fraud rules test\.yaml: "):
        fraud_rules_parse(b"[]", source="test.yaml")


# --- Condition language ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", r"unexpected character \"'\" at column 12"),
        ("__import__ >= 1", r"unknown feature '__import__'"),
        ("1 +", r"unexpected character '\+' at column 3"),
        ("1 >= amount", r"expected a feature name, got '1' at column 1"),
        ("amount >= 1 +", r"unexpected character '\+' at column 13"),
        ("amount.__class__", r"unexpected character '\.'"),
        ("amount >= 1; import os", r"unexpected character ';'"),
        ("open('/etc/passwd')", r"unexpected character"),
        ("lambda: 1", r"unexpected character ':'"),
        ("unknown_feature > 1", r"unknown feature 'unknown_feature' at column 1 \(known: amount, "),
        ("amount", r"'amount' is a number: compare it"),
        ("amount >=", r"expected a number after 'amount >=', got end of condition"),
        ("amount >= orders_per_ip_1h", r"expected a number after 'amount >='"),
        ("amount >= 1 amount >= 2", r"unexpected 'amount' at column 13; expected 'and', 'or' or the end"),
        ("(amount >= 1", r"expected '\)' to close the '\(' at column 1"),
        ("amount >= 1)", r"unexpected '\)' at column 12"),
        ("amount >= 1 and", r"expected a feature name, got end of condition"),
        ("is_new_player_24h >= 1", r"'is_new_player_24h' is a boolean"),
        ("amount = 1", r"unexpected character '='"),
        ("amount >= 5abc", r"unexpected character '5'"),
        ("", r"empty condition"),
        ("   ", r"empty condition"),
        ("(" * 20 + "amount >= 1" + ")" * 20, r"nested deeper than"),
        ("amount >= 1 or " * 40 + "amount >= 1", r"longer than 500 characters"),
    ],
)
def test_condition_parser_refuses_unsafe_or_garbage_input(source: str, message: str) -> None:
    with pytest.raises(FraudRulesError, match=message):
        fraud_condition_parse(source)


@pytest.mark.parametrize(
    ("source", "features", "holds"),
    [
        ("amount >= 10", {"amount": 10}, True),
        ("amount > 10", {"amount": 10}, False),
        ("amount <= 10", {"amount": 10}, True),
        ("amount < 10", {"amount": 10}, False),
        ("amount == 10", {"amount": 10}, True),
        ("amount != 10", {"amount": 10}, False),
        ("amount_vs_usual >= 2.5", {"amount_vs_usual": 2.5}, True),
        ("amount >= -1", {"amount": 0}, True),
        # None (unknown) never satisfies a comparison, whatever the operator
        ("amount_vs_usual >= 0", {"amount_vs_usual": None}, False),
        ("amount_vs_usual < 0", {"amount_vs_usual": None}, False),
        ("amount_vs_usual != 3", {"amount_vs_usual": None}, False),
        ("amount_vs_usual >= 0", {}, False),
        ("is_new_player_24h", {"is_new_player_24h": True}, True),
        ("is_new_player_24h", {"is_new_player_24h": None}, False),
        ("not is_new_player_24h", {"is_new_player_24h": False}, True),
        ("is_new_player_24h == false", {"is_new_player_24h": False}, True),
        ("is_new_player_24h != true", {"is_new_player_24h": True}, False),
        # "and" binds tighter than "or"; parentheses override
        ("amount >= 1 or amount >= 100 and is_new_player_24h", {"amount": 5, "is_new_player_24h": False}, True),
        ("(amount >= 1 or amount >= 100) and is_new_player_24h", {"amount": 5, "is_new_player_24h": False}, False),
        ("not (amount >= 1 and is_new_player_24h)", {"amount": 5, "is_new_player_24h": False}, True),
        ("AMOUNT >= 1", {"amount": 5}, None),  # names are case-sensitive: refused
    ],
)
def test_condition_language_semantics(source: str, features: dict[str, Any], holds: bool | None) -> None:
    if holds is None:
        with pytest.raises(FraudRulesError, match="unknown feature"):
            fraud_condition_parse(source)
        return
    assert fraud_condition_parse(source).holds(features) is holds


def test_every_feature_fraud_features_returns_is_known_to_the_parser(user: Any) -> None:
    assert set(features_for(user)) == set(FEATURE_TYPES)


# --- Features: sliding windows ---------------------------------------------------------


def test_first_attempt_of_a_new_player(user: Any) -> None:
    features = features_for(user, amount=2500)
    assert features == {
        "amount": 2500,
        "amount_vs_usual": None,
        "is_new_player_24h": True,
        "orders_per_player_1h": 1,
        "orders_per_ip_1h": 1,
        "orders_per_device_1h": 1,
        "distinct_instruments_per_player_24h": 1,
    }


def test_features_only_read_and_record_adds_the_attempt(user: Any) -> None:
    # given
    before = features_for(user)
    # when features are read again without recording: nothing moved
    assert features_for(user) == before
    # when the attempt is recorded
    attempt(user)
    # then the next attempt counts it (and itself)
    after = features_for(user)
    assert after["orders_per_player_1h"] == after["orders_per_ip_1h"] == after["orders_per_device_1h"] == 2
    assert after["distinct_instruments_per_player_24h"] == 1  # the same card again


def test_fifth_order_in_an_hour_fires_the_player_velocity_rule(user: Any) -> None:
    user.date_joined = timezone.now() - timedelta(days=30)
    for _ in range(3):
        attempt(user)
    assert "player_orders_1h_5" not in matched_names(features_for(user))  # the 4th
    attempt(user)
    features = features_for(user)  # the 5th
    assert features["orders_per_player_1h"] == 5
    assert "player_orders_1h_5" in matched_names(features)


def test_hourly_windows_slide_with_time(user: Any) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        # given 4 attempts at T0 and 1 at T0 + 30 min
        for _ in range(4):
            attempt(user)
        traveller.shift(timedelta(minutes=30))
        attempt(user)
        features = features_for(user)
        assert (features["orders_per_player_1h"], features["orders_per_ip_1h"], features["orders_per_device_1h"]) == (
            6,
            6,
            6,
        )
        # when 61 minutes have passed since T0
        traveller.shift(timedelta(minutes=31))
        # then the T0 attempts have left every hourly window
        features = features_for(user)
        assert (features["orders_per_player_1h"], features["orders_per_ip_1h"], features["orders_per_device_1h"]) == (
            2,
            2,
            2,
        )
        # and 61 minutes after the last one, only this attempt is left
        traveller.shift(timedelta(minutes=30))
        assert features_for(user)["orders_per_player_1h"] == 1


def test_distinct_instruments_count_each_card_once_and_slide_over_a_day(user: Any) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        attempt(user, instrument="card-a")
        attempt(user, instrument="card-a")
        traveller.shift(timedelta(hours=12))
        attempt(user, instrument="card-b")
        # a third card now: 3 distinct, including this one
        assert features_for(user, instrument="card-c")["distinct_instruments_per_player_24h"] == 3
        # a known card is not counted twice
        assert features_for(user, instrument="card-a")["distinct_instruments_per_player_24h"] == 2
        # 24 h + 1 min after card-a: it has left the window
        traveller.shift(timedelta(hours=12, minutes=1))
        assert features_for(user, instrument="card-c")["distinct_instruments_per_player_24h"] == 2
        assert features_for(user, instrument="card-a")["distinct_instruments_per_player_24h"] == 2


def test_reusing_a_card_keeps_it_in_the_window(user: Any) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        attempt(user, instrument="card-a")
        traveller.shift(timedelta(hours=20))
        attempt(user, instrument="card-a")  # seen again: its time moves forward
        traveller.shift(timedelta(hours=10))
        assert features_for(user, instrument="card-b")["distinct_instruments_per_player_24h"] == 2


def test_empty_instrument_counts_the_known_ones_only(user: Any) -> None:
    attempt(user, instrument="card-a")
    attempt(user, instrument="card-b")
    assert features_for(user, instrument="")["distinct_instruments_per_player_24h"] == 2
    attempt(user, instrument="")  # not recorded as an instrument
    assert features_for(user, instrument="")["distinct_instruments_per_player_24h"] == 2


def test_features_are_independent_per_player_ip_device_and_instrument(db: Any) -> None:
    alice, bob = UserFactory(), UserFactory()
    # given alice orders 3 times from one IP and device with 3 cards
    for card in ("card-1", "card-2", "card-3"):
        attempt(alice, ip="198.51.100.1", device="alice-phone", instrument=card)
    # when bob orders from another IP and device
    bob_elsewhere = features_for(bob, ip="198.51.100.2", device="bob-phone", instrument="card-1")
    # then nothing of alice's shows up
    assert bob_elsewhere["orders_per_player_1h"] == 1
    assert bob_elsewhere["orders_per_ip_1h"] == 1
    assert bob_elsewhere["orders_per_device_1h"] == 1
    assert bob_elsewhere["distinct_instruments_per_player_24h"] == 1  # the same card number, his own count
    # when bob uses alice's IP: the IP count is shared, his own counts are not
    bob_on_alices_ip = features_for(bob, ip="198.51.100.1", device="bob-phone")
    assert (bob_on_alices_ip["orders_per_ip_1h"], bob_on_alices_ip["orders_per_player_1h"]) == (4, 1)
    assert bob_on_alices_ip["orders_per_device_1h"] == 1
    # when bob uses alice's device: the device count is shared
    bob_on_alices_device = features_for(bob, ip="198.51.100.2", device="alice-phone")
    assert (bob_on_alices_device["orders_per_device_1h"], bob_on_alices_device["orders_per_ip_1h"]) == (4, 1)
    # and alice's own view
    alice_next = features_for(alice, ip="198.51.100.1", device="alice-phone", instrument="card-4")
    assert alice_next["orders_per_player_1h"] == 4
    assert alice_next["distinct_instruments_per_player_24h"] == 4


def test_ipv6_addresses_count_per_64_network(user: Any) -> None:
    attempt(user, ip="2001:db8:1:2::10")
    attempt(user, ip="2001:0db8:0001:0002:ffff::1")  # same /64, another address
    assert features_for(user, ip="2001:db8:1:2::99")["orders_per_ip_1h"] == 3
    assert features_for(user, ip="2001:db8:1:3::10")["orders_per_ip_1h"] == 1  # another /64
    attempt(user, ip="::ffff:192.0.2.5")  # IPv4-mapped counts as the IPv4 address
    assert features_for(user, ip="192.0.2.5")["orders_per_ip_1h"] == 2


def test_missing_ip_and_device_give_unknown_features(user: Any) -> None:
    attempt(user, ip=None, device="")
    features = features_for(user, ip=None, device="")
    assert features["orders_per_ip_1h"] is None
    assert features["orders_per_device_1h"] is None
    assert features["orders_per_player_1h"] == 2


def test_memory_backend_when_redis_is_not_configured(user: Any, settings: Any) -> None:
    from casino.ratelimit import MemoryDistinctSlidingWindow, MemorySlidingWindow, sliding_window_backend

    # given embedded mode
    settings.REDIS_URL = ""
    sliding_window_backend.cache_clear()
    distinct_window_backend.cache_clear()
    try:
        assert isinstance(sliding_window_backend(), MemorySlidingWindow)
        assert isinstance(distinct_window_backend(), MemoryDistinctSlidingWindow)
        with time_machine.travel(T0, tick=False) as traveller:
            attempt(user, instrument="card-a")
            attempt(user, instrument="card-a")
            attempt(user, instrument="card-b")
            features = features_for(user, instrument="card-c")
            assert features["orders_per_player_1h"] == 4
            assert features["distinct_instruments_per_player_24h"] == 3
            assert features_for(user, instrument="card-b")["distinct_instruments_per_player_24h"] == 2
            traveller.shift(timedelta(hours=24, minutes=1))
            assert features_for(user, instrument="card-c")["distinct_instruments_per_player_24h"] == 1
            assert features_for(user, instrument="")["distinct_instruments_per_player_24h"] == 0
    finally:
        sliding_window_backend.cache_clear()
        distinct_window_backend.cache_clear()


# --- Features: new player and usual amount ----------------------------------------------


def test_new_player_until_24_hours_after_joining(db: Any) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        player = UserFactory()
        traveller.shift(timedelta(hours=24) - timedelta(seconds=1))
        assert features_for(player)["is_new_player_24h"] is True
        traveller.shift(timedelta(seconds=1))
        assert features_for(player)["is_new_player_24h"] is False


@pytest.fixture
def money_product(db: Any) -> Product:
    return Product.objects.create(
        sku="gold-stack",
        name="Gold stack",
        kind=ProductKind.GOLD_PACK,
        price_type=PriceType.MONEY,
        price_amount=1000,
        price_currency="USD",
        grants={"gold": 1000},
    )


_order_numbers = itertools.count(1)


def make_order(
    user: Any,
    product: Product,
    *,
    total: int,
    status: str = OrderStatus.FULFILLED,
    price_type: str = PriceType.MONEY,
    currency: str = "USD",
    created_at: datetime | None = None,
) -> Order:
    number = next(_order_numbers)
    created_at = created_at or timezone.now()
    return Order.objects.create(
        receipt_code=f"R-FRAUD-{number:06d}",
        user=user,
        product=product,
        quantity=1,
        status=status,
        price_type=price_type,
        currency=currency,
        unit_price=total,
        subtotal=total,
        total=total,
        idempotency_key=f"fraud-test-{number}",
        request_fingerprint="0" * 64,
        created_at=created_at,
        updated_at=created_at,
    )


def test_amount_vs_usual_needs_three_fulfilled_money_orders(user: Any, money_product: Product) -> None:
    make_order(user, money_product, total=1000)
    make_order(user, money_product, total=2000)
    # orders that are not fulfilled money orders in this currency do not count
    make_order(user, money_product, total=1000, status=OrderStatus.PENDING)
    make_order(user, money_product, total=1000, status=OrderStatus.REFUNDED)
    make_order(user, money_product, total=1000, price_type=PriceType.GOLD, currency="gold")
    make_order(user, money_product, total=1000, currency="EUR")
    make_order(UserFactory(), money_product, total=1000)  # someone else's
    assert features_for(user, amount=20000)["amount_vs_usual"] is None
    # the third
    make_order(user, money_product, total=3000)
    assert features_for(user, amount=20000)["amount_vs_usual"] == 10.0  # 20000 / median(1000, 2000, 3000)


def test_amount_vs_usual_is_against_the_median_of_the_last_20(user: Any, money_product: Product) -> None:
    start = timezone.now() - timedelta(days=30)
    # the oldest order is huge and outside the last 20
    make_order(user, money_product, total=1_000_000, created_at=start)
    for day in range(1, 21):
        make_order(user, money_product, total=1000 if day % 2 else 3000, created_at=start + timedelta(days=day))
    # median of ten 1000s and ten 3000s = 2000
    assert features_for(user, amount=5000)["amount_vs_usual"] == 2.5


def test_amount_ten_times_usual_fires_exactly_at_ten(user: Any, money_product: Product) -> None:
    for total in (900, 1000, 1100):
        make_order(user, money_product, total=total)
    assert "amount_10x_usual" in matched_names(features_for(user, amount=10000))
    assert "amount_10x_usual" not in matched_names(features_for(user, amount=9999))


def test_card_testing_new_player_end_to_end(user: Any) -> None:
    # given a new player who tried 4 cards in the last hour
    for card in ("card-1", "card-2", "card-3", "card-4"):
        attempt(user, instrument=card)
    # when the 5th attempt comes with a 5th card
    verdict = fraud_evaluate(features=features_for(user, instrument="card-5", amount=2000))
    # then
    assert {rule["name"] for rule in verdict.matched_rules} == {
        "player_orders_1h_5",
        "player_instruments_24h_3",
        "player_instruments_24h_5",
        "new_player_orders_1h_3",
        "new_player_instruments_24h_2",
    }
    assert verdict.score == 30 + 50 + 40 + 20 + 20
    assert verdict.action == FraudAction.BLOCK


@pytest.fixture(autouse=True)
def _isolated_memory_windows() -> Iterator[None]:
    # The Redis test database is flushed per test by the root conftest; the
    # memory fallback lives in this process, so drop it too.
    distinct_window_backend.cache_clear()
    yield
    distinct_window_backend.cache_clear()
