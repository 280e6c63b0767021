"""Activity marks: once a minute per player reaches Redis and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache

from accounts.activity import forget_marks, record_activity
from accounts.models import PlayerDay
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_player_is_written_once_a_minute_and_repeat_marks_cost_nothing(
    user: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(3):  # the day's first mark: + the day's row (see below)
        assert record_activity(user.pk) is True
    user.refresh_from_db()
    first_seen = user.last_seen_at
    assert first_seen is not None

    with django_assert_num_queries(0):
        assert record_activity(user.pk) is False  # this process marked the player less than a minute ago

    forget_marks()  # another process: asks the cache, which still holds the mark
    with django_assert_num_queries(0):
        assert record_activity(user.pk) is False

    forget_marks()
    cache.delete(f"seen:{user.pk}")  # a minute later, the cache key has expired
    with django_assert_num_queries(1):
        assert record_activity(user.pk) is True
    user.refresh_from_db()
    assert user.last_seen_at > first_seen


def test_the_process_memo_expires_after_the_write_interval(user: Any, monkeypatch: Any) -> None:
    import accounts.activity as activity

    clock = [1000.0]
    monkeypatch.setattr(activity, "_clock", lambda: clock[0])
    assert record_activity(user.pk) is True
    cache.delete(f"seen:{user.pk}")

    clock[0] += activity.SEEN_WRITE_INTERVAL_SECONDS - 1
    assert record_activity(user.pk) is False
    clock[0] += 2
    assert record_activity(user.pk) is True


def _next_minute() -> None:
    """What a minute without the player does to the marks: this process's memo and the cache key expire."""
    forget_marks()
    cache.clear()


def test_the_first_mark_of_a_utc_day_records_the_day_once(django_assert_num_queries: Any) -> None:
    # Given a player last seen yesterday evening (UTC)
    with time_machine.travel(datetime(2031, 3, 9, 23, 50, tzinfo=UTC), tick=False):
        player = UserFactory()
        record_activity(player.pk)
    assert list(PlayerDay.objects.filter(user=player).values_list("day", flat=True)) == [date(2031, 3, 9)]

    with time_machine.travel(datetime(2031, 3, 10, 0, 5, tzinfo=UTC), tick=False) as clock:
        # When they come back after midnight
        _next_minute()
        with django_assert_num_queries(3):  # UPDATE finding no mark today, UPDATE, INSERT of the day
            assert record_activity(player.pk) is True

        # And again later that day
        clock.shift(timedelta(hours=5))
        _next_minute()
        with django_assert_num_queries(1):  # an ordinary mark: one UPDATE, no day row
            assert record_activity(player.pk) is True

    # Then each day they were active is recorded once
    days = sorted(PlayerDay.objects.filter(user=player).values_list("day", flat=True))
    assert days == [date(2031, 3, 9), date(2031, 3, 10)]
    player.refresh_from_db()
    assert player.last_seen_at == datetime(2031, 3, 10, 5, 5, tzinfo=UTC)


def test_a_second_first_mark_of_the_same_day_from_another_process_adds_no_row() -> None:
    # Given a player whose day is recorded, but whose last_seen_at another process has not
    # seen move yet (two processes marking the day's first request at once)
    with time_machine.travel(datetime(2031, 3, 10, 8, 0, tzinfo=UTC), tick=False):
        player = UserFactory()
        record_activity(player.pk)
        type(player).objects.filter(pk=player.pk).update(last_seen_at=datetime(2031, 3, 9, 12, 0, tzinfo=UTC))
        _next_minute()

        # When the other process's mark arrives
        assert record_activity(player.pk) is True

    # Then the day stays one row (its unique key), and nothing failed
    assert PlayerDay.objects.filter(user=player).count() == 1


def test_marking_a_player_that_no_longer_exists_writes_nothing() -> None:
    record_activity(987_654_321)  # a token outliving its player: no error, no row

    assert not PlayerDay.objects.exists()
