"""Pruning what missions leave behind (events.services.missions, the beat's daily tasks): old
mission instances and the record of counted domain events."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine

from casino.beat import beat_schedule
from events import tasks
from events.models import CountedSource, MissionProgress
from events.services import counted_sources_prune, mission_instances_prune
from events.tests.factories import MissionTemplateFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 9, 3, 0, tzinfo=UTC)


def instance(template: Any, user: Any, period_start: date) -> MissionProgress:
    return MissionProgress.objects.create(
        template=template, user=user, period_start=period_start, target=5, value=1, updated_at=NOW
    )


def test_mission_instances_older_than_35_days_are_pruned_in_batches(user: Any, caplog: Any) -> None:
    # Given instances of periods from today back to 40 days ago
    daily = MissionTemplateFactory(period="daily")
    today = NOW.date()
    for days_ago in (0, 1, 7, 35, 36, 37, 40):
        instance(daily, user, today - timedelta(days=days_ago))
    # When the prune runs with batches of two
    with time_machine.travel(NOW, tick=False), caplog.at_level(logging.INFO, logger="events.services.missions"):
        deleted = mission_instances_prune(batch_size=2)
    # Then the three periods that began more than 35 days ago are gone, the rest stay
    assert deleted == 3
    kept = sorted((today - row).days for row in MissionProgress.objects.values_list("period_start", flat=True))
    assert kept == [0, 1, 7, 35]
    # And its progress was logged batch by batch
    assert [record.getMessage() for record in caplog.records] == [
        "pruned 2 mission instances so far",
        "pruned 3 mission instances so far",
        "pruned 3 mission instances in all",
    ]


def test_counted_sources_older_than_8_days_are_pruned(user: Any) -> None:
    for index, days_ago in enumerate((0, 7, 8.1, 30)):
        CountedSource.objects.create(source_key=f"round:{index}", user=user, created_at=NOW - timedelta(days=days_ago))
    with time_machine.travel(NOW, tick=False):
        deleted = counted_sources_prune()
    assert deleted == 2
    assert sorted(CountedSource.objects.values_list("source_key", flat=True)) == ["round:0", "round:1"]


def test_the_prune_refuses_a_retention_that_would_delete_the_running_period() -> None:
    with pytest.raises(ValueError, match="running week"):
        mission_instances_prune(older_than_days=6)
    with pytest.raises(ValueError, match="a day"):
        counted_sources_prune(older_than_days=0)


def test_beat_runs_both_prunes_daily_through_their_tasks(user: Any) -> None:
    # Given the beat schedule
    schedule = {entry["task"]: entry["schedule"] for entry in beat_schedule(relay_via_beat=False).values()}
    # Then both tasks run once a day
    assert schedule["events.tasks.mission_instances_prune"] == timedelta(days=1)
    assert schedule["events.tasks.counted_sources_prune"] == timedelta(days=1)
    # And the tasks call the services (the default retentions)
    instance(MissionTemplateFactory(period="weekly"), user, NOW.date() - timedelta(days=60))
    CountedSource.objects.create(source_key="round:old", user=user, created_at=NOW - timedelta(days=9))
    with time_machine.travel(NOW, tick=False):
        assert tasks.mission_instances_prune.apply().get() == 1
        assert tasks.counted_sources_prune.apply().get() == 1
    assert not MissionProgress.objects.exists()
    assert not CountedSource.objects.exists()
