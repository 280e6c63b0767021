"""The login lockout under parallel guesses (real threads, PostgreSQL and Redis):
an attempt is counted before its password is hashed, so a burst against an
account or an IP one failure short of its limit checks one password, not one
per request."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

LOGIN = "/api/auth/login"


def login(identifier: str, password: str, ip: str = "10.20.0.1") -> int:
    response = APIClient().post(LOGIN, {"site_id": identifier, "password": password}, format="json", REMOTE_ADDR=ip)
    return int(response.status_code)


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password the server hashes against an account, counted across threads.
    Each check takes 50 ms, as a real hash does, so a racing burst overlaps it."""
    checks: list[str] = []
    lock = threading.Lock()
    original: Callable[[User, str], bool] = User.check_password

    def counting(self: User, raw_password: str) -> bool:
        with lock:
            checks.append(raw_password)
        time.sleep(0.05)
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", counting)
    return checks


def test_forty_parallel_wrong_logins_against_an_account_at_four_failures_check_one_password(
    parallel: Any, user: Any, password: str, password_checks: list[str]
) -> None:
    # Given an account four failures into its five-failure window
    for n in range(4):
        assert login(user.site_id, f"warm-up-{n}") == 401
    password_checks.clear()

    # When 40 wrong passwords arrive at once
    statuses = Counter(parallel(40, lambda i: login(user.site_id, f"guess-{i}")))

    # Then exactly one of them was checked; the others were refused unhashed
    assert len(password_checks) == 1
    assert statuses == {401: 1, 429: 39}
    # and the account is now locked, the right password included
    assert login(user.site_id, password) == 429
    assert len(password_checks) == 1


def test_forty_parallel_wrong_logins_from_an_ip_at_twenty_nine_failures_check_one_password(
    parallel: Any, password_checks: list[str]
) -> None:
    # Given an IP 29 failures into its 30-failure window, spread over accounts
    victims = UserFactory.create_batch(41)
    for n in range(29):
        assert login(victims[n % 5].site_id if n < 20 else f"nobody-{n}", "wrong", ip="10.20.0.9") == 401
    password_checks.clear()

    # When 40 wrong logins to 40 other accounts leave that IP at once
    statuses = Counter(parallel(40, lambda i: login(victims[i + 1].site_id, "wrong", ip="10.20.0.9")))

    # Then one password was checked, and the IP is locked
    assert len(password_checks) == 1
    assert statuses == {401: 1, 429: 39}
    assert login(victims[0].site_id, "Correct-Horse-9", ip="10.20.0.9") == 429


def test_a_right_password_in_a_parallel_burst_logs_in_and_the_window_stays_consistent(
    parallel: Any, user: Any, password: str, password_checks: list[str]
) -> None:
    # Given a fresh account, when one right and three wrong passwords arrive at once
    statuses = parallel(4, lambda i: login(user.site_id, password if i == 0 else f"wrong-{i}"))

    # Then each was checked (the account is under its limit) and only the right one logged in
    assert statuses[0] == 200
    assert sorted(statuses[1:]) == [401, 401, 401]
    assert len(password_checks) == 4
    # and the account is not locked: at most the three failures remain counted
    assert login(user.site_id, password) == 200
