"""The admin login and the API login share one lockout (5 failures per account,
30 per IP, 10 minutes): a lockout earned at either entry point holds at the
other, and the admin login says why it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.test import Client
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
IP = "10.30.0.1"


def api_login(identifier: str, password: str, ip: str = IP) -> Any:
    return APIClient().post(
        "/api/auth/login", {"site_id": identifier, "password": password}, format="json", REMOTE_ADDR=ip
    )


def admin_login(client: Client, identifier: str, password: str, ip: str = IP) -> Any:
    return client.post(ADMIN_LOGIN, {"username": identifier, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def form_error_codes(response: Any) -> list[str]:
    return [error.code for error in response.context["form"].errors.as_data().get("__all__", [])]


@pytest.fixture
def staff(password: str) -> Any:
    return UserFactory(password=password, is_staff=True, is_superuser=True)


def test_an_account_locked_through_the_api_is_refused_at_the_admin_login_with_a_clear_message(
    staff: Any, password: str
) -> None:
    # Given five wrong passwords at the API
    for _ in range(5):
        assert api_login(staff.site_id, "wrong-password").status_code == 401
    client = Client()

    # When the right password is given at /admin/login/
    response = admin_login(client, staff.site_id, password)

    # Then the admin refuses it, and says the login is locked
    assert response.status_code == 200
    assert not logged_in(client)
    assert form_error_codes(response) == ["login_locked"]
    assert "Too many failed login attempts" in response.content.decode()
    assert "try again in" in response.content.decode()


def test_twenty_five_wrong_admin_passwords_then_the_right_one_do_not_log_in(staff: Any, password: str) -> None:
    client = Client()
    for _ in range(25):
        response = admin_login(client, staff.site_id, "wrong-password")
        assert not logged_in(client)

    response = admin_login(client, staff.site_id, password)

    assert not logged_in(client)
    assert form_error_codes(response) == ["login_locked"]


def test_an_account_locked_at_the_admin_login_is_locked_at_the_api(staff: Any, password: str) -> None:
    # Given five wrong passwords at /admin/login/
    client = Client()
    for _ in range(5):
        response = admin_login(client, staff.site_id, "wrong-password")
        assert form_error_codes(response) == ["invalid_login"]

    # When the right password is given at the API
    response = api_login(staff.site_id, password)

    # Then the API says the account is locked
    assert response.status_code == 429
    assert response.json()["error"] == "login_locked"
    assert 1 <= response.json()["retry_after_minutes"] <= 10


def test_an_ip_locked_through_the_api_is_refused_at_the_admin_login(staff: Any, password: str) -> None:
    # Given 30 failures from one IP at the API, over several accounts
    players = UserFactory.create_batch(8)
    for n in range(30):
        api_login(players[n % 8].site_id, "wrong-password")

    # When a staff member (no failure of their own) logs into the admin from that IP, and from another
    from_that_ip, elsewhere = Client(), Client()
    refused = admin_login(from_that_ip, staff.site_id, password)
    admin_login(elsewhere, staff.site_id, password, ip="10.30.0.2")

    # Then the IP is locked for the admin too; another IP is not
    assert form_error_codes(refused) == ["login_locked"]
    assert not logged_in(from_that_ip)
    assert logged_in(elsewhere)


def test_a_successful_admin_login_clears_the_account_failures_for_the_api(staff: Any, password: str) -> None:
    for _ in range(4):
        assert api_login(staff.site_id, "wrong-password").status_code == 401
    client = Client()

    response = admin_login(client, staff.site_id, password)

    assert response.status_code == 302
    assert logged_in(client)
    for _ in range(4):
        assert api_login(staff.site_id, "wrong-password").status_code == 401
    assert api_login(staff.site_id, password).status_code == 200


def test_a_player_with_the_right_password_is_still_refused_at_the_admin(user: Any, password: str) -> None:
    client = Client()

    response = admin_login(client, user.site_id, password)

    assert not logged_in(client)
    assert form_error_codes(response) == ["invalid_login"]


def test_djangos_authenticate_is_under_the_same_lockout(staff: Any, password: str) -> None:
    # Given an account locked through the API
    for _ in range(5):
        api_login(staff.site_id, "wrong-password")

    # When anything built on django.contrib.auth checks the right password
    # Then it is refused too (the test client's login included)
    assert authenticate(None, username=staff.site_id, password=password) is None
    assert Client().login(username=staff.site_id, password=password) is False


def test_djangos_authenticate_counts_its_failures(staff: Any, password: str) -> None:
    for _ in range(5):
        assert authenticate(None, username=staff.site_id, password="wrong-password") is None

    assert api_login(staff.site_id, password).status_code == 429
