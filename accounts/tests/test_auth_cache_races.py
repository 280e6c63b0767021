"""Kept users under concurrent writes, with real commits (accounts.auth_cache).

A request that read the row just before a ban committed must not keep that row
for later requests, and once a ban has returned no request anywhere is let in:
each "process" here is its own ``AuthUserCache``, which the writer cannot reach
except through Redis.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from accounts import services
from accounts.auth_cache import AuthUserCache
from accounts.tests.factories import UserFactory
from casino.tests.race_condition import run_after
from conftest import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_row_read_just_before_a_ban_committed_is_not_served_after_it(django_assert_num_queries: Any) -> None:
    player, staff = UserFactory(), UserFactory(is_staff=True, is_superuser=True)
    other_process = AuthUserCache()

    def ban_in_another_thread(*args: Any, **kwargs: Any) -> None:
        run_in_threads(1, lambda _: services.user_set_active(actor=staff, user=player, active=False, reason="fraud"))

    # The request reads the active row; the ban commits (and bumps) before the request keeps it.
    with run_after("accounts.auth_cache._load", ban_in_another_thread):
        found = other_process.load(user_id=player.pk)
    assert found is not None and found.user.is_active  # this request was let in: it read first

    with django_assert_num_queries(1):
        again = other_process.load(user_id=player.pk)
    assert again is not None and again.user.is_active is False


def test_once_a_ban_has_returned_no_process_lets_the_player_in(parallel: Any) -> None:
    player, staff = UserFactory(), UserFactory(is_staff=True, is_superuser=True)
    processes = [AuthUserCache() for _ in range(4)]
    for process in processes:
        process.load(user_id=player.pk)
    banned_at: list[float] = []
    stop = threading.Event()

    def authenticate_until_stopped(index: int) -> list[tuple[float, bool]]:
        seen = []
        process = processes[index % len(processes)]
        while not stop.is_set():
            started = time.monotonic()
            found = process.load(user_id=player.pk)
            assert found is not None
            seen.append((started, found.user.is_active))
        return seen

    def ban_then_stop() -> None:
        try:
            time.sleep(0.05)
            services.user_set_active(actor=staff, user=player, active=False, reason="fraud")
            banned_at.append(time.monotonic())
            time.sleep(0.05)
        finally:
            stop.set()
            connection.close()

    banning = threading.Thread(target=ban_then_stop)
    banning.start()
    results = parallel(8, authenticate_until_stopped)
    banning.join()

    assert not [result for result in results if isinstance(result, BaseException)]
    loads = [load for result in results for load in result]
    after_the_ban = [active for started, active in loads if started > banned_at[0]]
    assert after_the_ban and not any(after_the_ban)
    assert any(active for started, active in loads if started < banned_at[0])
