"""The client's sign-up form: dashed phone numbers, 6+ character passwords
(docs/client-contract.md, "Auth and profile")."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.api.serializers import phone_number_normal_form
from accounts.models import InviteCode, User
from accounts.tests.factories import InviteCodeFactory, UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = "/api/auth/signup"


def signup_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "site_id": "dashplayer",
        "nickname": "DashPlayer",
        "phone_number": "010-1234-5678",
        "invite_code": "DASHES01",
        "password": "Correct-Horse-9",
    }
    body.update(overrides)
    return body


@pytest.fixture
def invite() -> InviteCode:
    return InviteCodeFactory(code="DASHES01", max_uses=10)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("010-1234-5678", "01012345678"),
        ("010 1234 5678", "01012345678"),
        (" +82 10-1234-5678 ", "+821012345678"),
        ("+1 (555) 000.1111", "+15550001111"),
    ],
)
def test_signup_accepts_the_clients_phone_format_and_stores_digits(
    api_client: Any, invite: InviteCode, typed: str, stored: str
) -> None:
    # given the client's form, which lets players type dashes and spaces
    # when they sign up
    response = api_client.post(SIGNUP, signup_body(phone_number=typed), format="json")

    # then the account exists with the number in its normal form, and the answer says so
    assert response.status_code == 201, response.json()
    assert response.json()["user"]["phone_number"] == stored
    assert User.objects.get(site_id="dashplayer").phone_number == stored


def test_a_number_already_taken_is_found_whatever_its_spelling(api_client: Any, invite: InviteCode) -> None:
    # given a player whose number was stored normalised
    UserFactory(phone_number="01012345678")

    # when someone signs up with the same number written with dashes
    response = api_client.post(SIGNUP, signup_body(phone_number="010-1234-5678"), format="json")

    # then it is the duplicate it is
    assert response.status_code == 409, response.json()
    assert response.json()["error"] == "phone_number_taken"
    assert not User.objects.filter(site_id="dashplayer").exists()


@pytest.mark.parametrize("typed", ["010-12ab-5678", "12-34", "+82+1012345678", "010--1234--5678--9999999"])
def test_a_phone_number_that_is_not_one_is_a_field_error(api_client: Any, invite: InviteCode, typed: str) -> None:
    response = api_client.post(SIGNUP, signup_body(phone_number=typed), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["fields"]["phone_number"]


def test_profile_update_normalises_the_phone_number_too(auth_client: Any) -> None:
    response = auth_client.patch("/api/auth/me", {"phone_number": "010 9876-5432"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["phone_number"] == "01098765432"
    assert User.objects.get(pk=response.json()["id"]).phone_number == "01098765432"


@pytest.mark.parametrize("weak", ["abc123", "qwerty", "111111", "dashplayer1"])
def test_a_weak_password_the_client_accepts_is_a_field_error_it_can_show(
    api_client: Any, invite: InviteCode, weak: str
) -> None:
    # given a password of 6+ characters, which the client's form lets through
    response = api_client.post(SIGNUP, signup_body(password=weak), format="json")

    # then the answer names the password field with messages the form can display
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert isinstance(body["fields"]["password"], list)
    assert all(isinstance(message, str) and message for message in body["fields"]["password"])
    assert not User.objects.filter(site_id="dashplayer").exists()
    invite.refresh_from_db()
    assert invite.uses == 0


def test_normal_form_keeps_a_leading_plus_and_only_digits() -> None:
    assert phone_number_normal_form(" +82 (10) 1234-5678 ") == "+821012345678"
    assert phone_number_normal_form("010.1234.5678") == "01012345678"
