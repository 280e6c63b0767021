from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login"


def login(client: Any, identifier: str, password: str, **extra: Any) -> Any:
    return client.post(LOGIN, {"site_id": identifier, "password": password}, format="json", **extra)


def test_login_by_site_id_any_case(api_client: Any, user: Any, password: str) -> None:
    response = login(api_client, user.site_id.upper(), password)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == user.pk
    assert response.json()["access_token"]
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_by_nickname_any_case(api_client: Any, user: Any, password: str) -> None:
    by_field = api_client.post(LOGIN, {"nickname": user.nickname.lower(), "password": password}, format="json")
    in_site_id_field = login(api_client, user.nickname.swapcase(), password)

    assert by_field.status_code == 200
    assert in_site_id_field.status_code == 200
    assert in_site_id_field.json()["user"]["site_id"] == user.site_id


def test_unknown_user_and_wrong_password_get_identical_401(api_client: Any, user: Any) -> None:
    unknown = login(api_client, "nobody-here", "whatever-1")
    wrong = login(api_client, user.site_id, "wrong-password")

    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.json()["error"] == "invalid_credentials"


def test_five_failures_lock_the_account_even_with_the_right_password(api_client: Any, user: Any, password: str) -> None:
    for _ in range(5):
        assert login(api_client, user.site_id, "wrong-password").status_code == 401

    locked = login(api_client, user.site_id, password)

    assert locked.status_code == 429
    assert locked.json()["error"] == "login_locked"
    assert 1 <= locked.json()["retry_after_minutes"] <= 10


def test_lockout_resets_when_the_window_slides(api_client: Any, user: Any, password: str) -> None:
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(5):
            login(api_client, user.site_id, "wrong-password")
        assert login(api_client, user.site_id, password).status_code == 429

        traveller.shift(timedelta(minutes=10, seconds=1))

        assert login(api_client, user.site_id, password).status_code == 200


def test_successful_login_clears_the_account_failure_count(api_client: Any, user: Any, password: str) -> None:
    for _ in range(4):
        login(api_client, user.site_id, "wrong-password")
    assert login(api_client, user.site_id, password).status_code == 200

    for _ in range(4):
        login(api_client, user.site_id, "wrong-password")

    assert login(api_client, user.site_id, password).status_code == 200


def test_thirty_failures_from_one_ip_lock_that_ip(api_client: Any, password: str) -> None:
    victims = UserFactory.create_batch(8, password=password)
    for index in range(30):
        login(api_client, victims[index % 8].site_id, "wrong-password", REMOTE_ADDR="10.9.9.9")

    from_that_ip = login(api_client, UserFactory(password=password).site_id, password, REMOTE_ADDR="10.9.9.9")
    from_elsewhere = login(api_client, UserFactory(password=password).site_id, password, REMOTE_ADDR="10.9.9.10")

    assert from_that_ip.status_code == 429
    assert from_elsewhere.status_code == 200


def test_banned_user_is_refused_at_login(api_client: Any, password: str) -> None:
    banned = UserFactory(password=password, is_active=False)

    response = login(api_client, banned.site_id, password)

    assert response.status_code == 403
    assert response.json()["error"] == "account_disabled"


def test_login_requires_an_identifier(api_client: Any) -> None:
    response = api_client.post(LOGIN, {"password": "x"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
