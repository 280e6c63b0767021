"""``GET/PUT /api/notification/settings``: the player's channels for campaign
messages, read and written with a Bearer header or the client's ``auth_token``
cookie (a cookie-authenticated PUT must come from a client origin)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from realtime.models import NotificationSettings
from realtime.notifications.preferences import notification_settings_update

pytestmark = pytest.mark.django_db
URL = "/api/notification/settings"
ORIGIN = "http://client.example"
ALL_ON = {"in_app": True, "push": True, "email": True}


@pytest.fixture(autouse=True)
def _client_origin(settings: Any) -> None:
    settings.CLIENT_ORIGINS = [ORIGIN]


@pytest.fixture
def player() -> Any:
    return UserFactory()


def bearer(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


def cookie(user: Any) -> APIClient:
    """As the web client calls it: only the auth_token cookie."""
    client = APIClient()
    client.cookies["auth_token"] = tokens_issue(user=user).access
    return client


def stored(user: Any) -> tuple[bool, bool, bool] | None:
    row = NotificationSettings.objects.filter(user_id=user.pk).first()
    return None if row is None else (row.in_app, row.push, row.email)


@pytest.mark.parametrize("method", ["get", "put"])
def test_without_a_token_it_is_401(method: str) -> None:
    response = getattr(APIClient(), method)(URL, {"email": False}, format="json")

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert not NotificationSettings.objects.exists()


def test_a_bad_cookie_is_401(player: Any) -> None:
    client = APIClient()
    client.cookies["auth_token"] = "not-a-jwt"

    response = client.put(URL, {"email": False}, format="json", HTTP_ORIGIN=ORIGIN)

    assert response.status_code == 401
    assert stored(player) is None


def test_a_new_player_reads_every_channel_on() -> None:
    response = bearer(UserFactory()).get(URL)

    assert response.status_code == 200
    assert response.json() == ALL_ON


def test_the_cookie_round_trip_as_the_web_client_does_it(player: Any) -> None:
    client = cookie(player)

    written = client.put(URL, {"in_app": True, "push": False, "email": False}, format="json", HTTP_ORIGIN=ORIGIN)
    read = client.get(URL)

    assert written.status_code == 200, written.json()
    assert written.json() == {"in_app": True, "push": False, "email": False}
    assert read.json() == written.json()
    assert stored(player) == (True, False, False)


def test_a_partial_body_changes_only_what_it_names(player: Any) -> None:
    notification_settings_update(user=player, push=False)

    response = bearer(player).put(URL, {"email": False}, format="json")

    assert response.status_code == 200
    assert response.json() == {"in_app": True, "push": False, "email": False}
    assert stored(player) == (True, False, False)


def test_an_empty_body_changes_nothing_and_answers_the_current_settings(player: Any) -> None:
    response = bearer(player).put(URL, {}, format="json")

    assert response.status_code == 200
    assert response.json() == ALL_ON
    assert stored(player) is None


def test_one_players_change_is_not_anothers(player: Any) -> None:
    other = UserFactory()

    bearer(player).put(URL, {"in_app": False}, format="json")

    assert bearer(other).get(URL).json() == ALL_ON


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": False, "sms": False}, "sms"),
        ({"emails": False}, "emails"),
        ({"push": None}, "push"),
        ({"push": "sometimes"}, "push"),
        ({"in_app": [True]}, "in_app"),
    ],
)
def test_unknown_keys_and_non_booleans_are_refused_and_nothing_changes(
    player: Any, body: dict[str, Any], field: str
) -> None:
    response = bearer(player).put(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["fields"]
    assert stored(player) is None


@pytest.mark.parametrize("body", [[{"email": False}], "email", 1])
def test_a_body_that_is_not_an_object_is_refused(player: Any, body: Any) -> None:
    response = bearer(player).put(URL, body, format="json")

    assert response.status_code == 400
    assert stored(player) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_REFERER": "https://evil.example/settings"},
        {"HTTP_ORIGIN": "null"},
        {},  # neither header
    ],
)
def test_a_cross_site_put_with_the_cookie_is_refused(player: Any, headers: dict[str, str]) -> None:
    response = cookie(player).put(URL, {"email": False}, format="json", **headers)

    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"
    assert stored(player) is None


def test_a_cookie_get_needs_no_origin(player: Any) -> None:
    response = cookie(player).get(URL, HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 200


def test_a_bearer_put_needs_no_origin(player: Any) -> None:
    response = bearer(player).put(URL, {"push": False}, format="json", HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 200
    assert stored(player) == (True, False, True)


def test_the_trailing_slash_form_is_served_too(player: Any) -> None:
    response = bearer(player).put(f"{URL}/", {"in_app": False}, format="json")

    assert response.status_code == 200
    assert stored(player) == (False, True, True)


def test_the_old_clients_anonymous_stub_is_not_served() -> None:
    response = APIClient().get(f"{URL}/anon")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
