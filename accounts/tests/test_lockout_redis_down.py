"""Redis down at login: the lockout fails closed. Without its counters every
guess would be free, so the login answers 503 ``login_unavailable`` in the error
envelope before any password is hashed, at the API and at the admin alike.

Against a throwaway ``redis-server`` this test starts on a free port and kills.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from casino.childprocess import Process, ProcessGroup, free_port, port_open, wait_until
from casino.ratelimit import distinct_window_backend, sliding_window_backend

pytestmark = pytest.mark.django_db


@pytest.fixture
def throwaway_redis(settings: Any, tmp_path: Path) -> Iterator[Process]:
    """A redis-server of our own, used by the lockout counters (settings.REDIS_URL)."""
    port = free_port()
    group = ProcessGroup(tmp_path)
    process = group.start(
        "redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    )
    try:
        wait_until(lambda: port_open(port), timeout=10, message=process.describe)
        settings.REDIS_URL = f"redis://127.0.0.1:{port}/0"
        sliding_window_backend.cache_clear()
        distinct_window_backend.cache_clear()
        yield process
    finally:
        group.stop_all()
        sliding_window_backend.cache_clear()
        distinct_window_backend.cache_clear()


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checks: list[str] = []
    lock = threading.Lock()
    original: Callable[[User, str], bool] = User.check_password

    def counting(self: User, raw_password: str) -> bool:
        with lock:
            checks.append(raw_password)
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", counting)
    return checks


def api_login(identifier: str, password: str) -> Any:
    client = APIClient()
    client.raise_request_exception = False
    return client.post("/api/auth/login", {"site_id": identifier, "password": password}, format="json")


def test_with_redis_down_the_api_login_is_503_before_any_password_is_checked(
    throwaway_redis: Process, user: Any, password: str, password_checks: list[str]
) -> None:
    # Given the lockout counters live in this Redis (a wrong password is counted there)
    assert api_login(user.site_id, "wrong-password").status_code == 401
    assert sliding_window_backend().scores(f"ratelimit:login-fail:account:{user.pk}", 1e12, 1e13)
    password_checks.clear()

    # When Redis dies and the player logs in, right password or wrong
    throwaway_redis.kill()
    right = api_login(user.site_id, password)
    wrong = api_login(user.site_id, "wrong-password")

    # Then both get 503 in the error envelope, and no password was hashed
    for response in (right, wrong):
        assert response.status_code == 503
        assert response.json()["error"] == "login_unavailable"
        assert response.json()["message"]
        assert response.json()["retry_after_seconds"] > 0
    assert password_checks == []


def test_with_redis_down_the_admin_login_refuses_with_a_clear_message(
    throwaway_redis: Process, password: str, password_checks: list[str]
) -> None:
    from accounts.tests.factories import UserFactory

    staff = UserFactory(password=password, is_staff=True, is_superuser=True)
    throwaway_redis.kill()
    client = Client()

    response = client.post("/admin/login/", {"username": staff.site_id, "password": password, "next": "/admin/"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert [e.code for e in response.context["form"].errors.as_data()["__all__"]] == ["login_unavailable"]
    assert "unavailable" in response.content.decode()
    assert password_checks == []
