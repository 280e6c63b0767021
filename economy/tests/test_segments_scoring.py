"""The RFM rules (economy.rfm) as pure functions: each score at and either side of its
thresholds, and the group rules, including the thresholds read from settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from economy.models import RfmGroup
from economy.rfm import RfmFacts, RfmScores, RfmThresholds, recency_days, rfm_facts_merge, rfm_group, rfm_scores

RULES = RfmThresholds()


def scores(recency: int | None = None, frequency: int = 0, monetary: int = 0) -> RfmScores:
    return rfm_scores(recency_days=recency, frequency=frequency, monetary=monetary, thresholds=RULES)


@pytest.mark.parametrize(("days", "score"), [(0, 5), (7, 5), (8, 3), (30, 3), (31, 1), (400, 1), (None, 1)])
def test_recency_is_5_within_a_week_3_within_a_month_else_1(days: int | None, score: int) -> None:
    assert scores(recency=days).recency == score


@pytest.mark.parametrize(("activities", "score"), [(0, 1), (9, 1), (10, 3), (49, 3), (50, 5), (500, 5)])
def test_frequency_is_5_from_50_activities_3_from_10_else_1(activities: int, score: int) -> None:
    assert scores(frequency=activities).frequency == score


@pytest.mark.parametrize(("spent", "score"), [(0, 1), (999, 1), (1_000, 3), (9_999, 3), (10_000, 5)])
def test_monetary_is_5_from_the_high_threshold_3_from_the_medium_else_1(spent: int, score: int) -> None:
    assert scores(monetary=spent).monetary == score


@pytest.mark.parametrize(
    ("r", "f", "m", "group"),
    [
        (5, 5, 5, RfmGroup.WHALE),
        (5, 5, 3, RfmGroup.HIGH_VALUE),  # not every score at 4+: mean 4.33
        (5, 3, 1, RfmGroup.HIGH_VALUE),  # mean exactly 3
        (3, 3, 3, RfmGroup.HIGH_VALUE),
        (1, 5, 3, RfmGroup.HIGH_VALUE),
        (3, 1, 3, RfmGroup.MEDIUM_VALUE),  # mean 2.33
        (1, 5, 1, RfmGroup.MEDIUM_VALUE),  # mean 2.33
        (5, 1, 1, RfmGroup.MEDIUM_VALUE),  # recent but nothing else: mean 2.33
        (3, 1, 1, RfmGroup.LOW_VALUE),  # mean 1.67, recency not below 2
        (1, 3, 1, RfmGroup.AT_RISK),  # mean 1.67, recency 1
        (1, 1, 3, RfmGroup.AT_RISK),
        (1, 1, 1, RfmGroup.AT_RISK),
    ],
)
def test_the_group_follows_the_earlier_rules(r: int, f: int, m: int, group: str) -> None:
    assert rfm_group(RfmScores(recency=r, frequency=f, monetary=m)) == group


def test_the_whale_needs_every_score_at_4_or_more_not_only_a_high_mean() -> None:
    # A mean of 4.33 or 3.67 from one weak score is High-Value, never Whale.
    assert rfm_group(RfmScores(recency=5, frequency=5, monetary=3)) == RfmGroup.HIGH_VALUE
    assert rfm_group(RfmScores(recency=3, frequency=5, monetary=5)) == RfmGroup.HIGH_VALUE
    assert rfm_group(scores(recency=7, frequency=50, monetary=10_000)) == RfmGroup.WHALE
    assert rfm_group(scores(recency=8, frequency=50, monetary=10_000)) == RfmGroup.HIGH_VALUE


def test_a_player_with_no_activity_ever_is_at_risk() -> None:
    assert rfm_group(scores()) == RfmGroup.AT_RISK


def test_recency_counts_whole_days() -> None:
    now = datetime(2026, 3, 12, 15, 0, tzinfo=UTC)

    assert recency_days(last_at=now - timedelta(days=7, hours=23, minutes=59), now=now) == 7
    assert recency_days(last_at=now - timedelta(days=8), now=now) == 8
    assert recency_days(last_at=now - timedelta(seconds=1), now=now) == 0
    assert recency_days(last_at=None, now=now) is None


def test_the_thresholds_come_from_the_settings(settings: Any) -> None:
    settings.SEGMENT_RECENCY_HIGH_DAYS, settings.SEGMENT_RECENCY_MEDIUM_DAYS = 3, 14
    settings.SEGMENT_FREQUENCY_HIGH, settings.SEGMENT_FREQUENCY_MEDIUM = 20, 5
    settings.SEGMENT_MONETARY_HIGH, settings.SEGMENT_MONETARY_MEDIUM = 5_000, 500
    rules = RfmThresholds.from_settings()

    at = rfm_scores(recency_days=3, frequency=20, monetary=5_000, thresholds=rules)
    below = rfm_scores(recency_days=4, frequency=19, monetary=4_999, thresholds=rules)
    low = rfm_scores(recency_days=15, frequency=4, monetary=499, thresholds=rules)

    assert (at.recency, at.frequency, at.monetary) == (5, 5, 5)
    assert (below.recency, below.frequency, below.monetary) == (3, 3, 3)
    assert (low.recency, low.frequency, low.monetary) == (1, 1, 1)


def test_facts_of_several_sources_add_up_and_keep_the_latest_activity() -> None:
    early, late = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC)
    merged = rfm_facts_merge(
        [
            {1: RfmFacts(last_at=early, activities=3), 2: RfmFacts(last_at=late, activities=1)},
            {1: RfmFacts(last_at=late, activities=2, spent=500, spent_total=900)},
            {1: RfmFacts(last_at=None), 3: RfmFacts(last_at=early)},
        ]
    )

    assert merged == {
        1: RfmFacts(last_at=late, activities=5, spent=500, spent_total=900),
        2: RfmFacts(last_at=late, activities=1),
        3: RfmFacts(last_at=early),
    }
