"""Activity marks: once a minute per player reaches Redis and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from accounts.activity import forget_marks, record_activity

pytestmark = pytest.mark.django_db


def test_a_player_is_written_once_a_minute_and_repeat_marks_cost_nothing(
    user: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(1):
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
