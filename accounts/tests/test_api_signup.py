from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import InviteCode, User
from accounts.tests.factories import InviteCodeFactory, UserFactory
from realtime.models import OutboxEvent

pytestmark = pytest.mark.django_db

SIGNUP = "/api/auth/signup"


def signup_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "site_id": "newplayer",
        "nickname": "NewPlayer",
        "phone_number": "+15550001111",
        "invite_code": "WELCOME1",
        "password": "Correct-Horse-9",
    }
    body.update(overrides)
    return body


@pytest.fixture
def invite() -> InviteCode:
    return InviteCodeFactory(code="WELCOME1", max_uses=5)


def test_signup_creates_player_returns_tokens_and_uses_the_code(api_client: Any, invite: InviteCode) -> None:
    response = api_client.post(SIGNUP, signup_body(invite_code="welcome1"), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"] and body["refresh_token"]
    assert body["user"]["site_id"] == "newplayer"
    assert body["user"]["is_admin"] is False
    invite.refresh_from_db()
    assert invite.uses == 1
    user = User.objects.get(site_id="newplayer")
    assert user.check_password("Correct-Horse-9")
    event = OutboxEvent.objects.get(type="user_signed_up")
    assert event.user_id == user.pk
    assert event.data["invite_code"] == "WELCOME1"
    me = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert me.status_code == 200
    assert me.json()["nickname"] == "NewPlayer"


@pytest.mark.parametrize(
    ("code_attrs", "reason"),
    [
        ({"is_active": False}, "inactive"),
        ({"expires_at": timezone.now() - timedelta(seconds=1)}, "expired"),
        ({"max_uses": 2, "uses": 2}, "used_up"),
    ],
)
def test_signup_refuses_unusable_invite_code(api_client: Any, code_attrs: dict[str, Any], reason: str) -> None:
    InviteCodeFactory(code="WELCOME1", **code_attrs)

    response = api_client.post(SIGNUP, signup_body(), format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_invite_code"
    assert response.json()["reason"] == reason
    assert not User.objects.exists()


def test_signup_refuses_unknown_invite_code(api_client: Any) -> None:
    response = api_client.post(SIGNUP, signup_body(invite_code="NOPE"), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_invite_code",
        "message": "No such invite code.",
        "reason": "not_found",
    }


@pytest.mark.parametrize(
    ("field", "existing", "sent"),
    [
        ("site_id", {"site_id": "TakenId"}, {"site_id": "takenID"}),
        ("nickname", {"nickname": "Lucky"}, {"nickname": "LUCKY"}),
        ("phone_number", {"phone_number": "+15550001111"}, {"phone_number": "+15550001111"}),
    ],
)
def test_signup_refuses_duplicates_in_any_letter_case(
    api_client: Any, invite: InviteCode, field: str, existing: dict[str, str], sent: dict[str, str]
) -> None:
    UserFactory(**existing)

    response = api_client.post(SIGNUP, signup_body(**sent), format="json")

    assert response.status_code == 409
    assert response.json()["error"] == f"{field}_taken"
    assert response.json()["field"] == field
    invite.refresh_from_db()
    assert invite.uses == 0  # the refused sign-up used nothing


@pytest.mark.parametrize("weak", ["short1", "password123", "12345678901", "newplayer1"])
def test_signup_refuses_weak_password(api_client: Any, invite: InviteCode, weak: str) -> None:
    response = api_client.post(SIGNUP, signup_body(password=weak), format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert "password" in body["fields"]
    assert not User.objects.exists()


def test_signup_reports_every_missing_field(api_client: Any) -> None:
    response = api_client.post(SIGNUP, {}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert set(body["fields"]) == {"site_id", "nickname", "phone_number", "invite_code", "password"}
    assert body["message"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"site_id": "a b"},
        {"site_id": "x"},
        {"phone_number": "12ab"},
        {"nickname": "z"},
        {"site_id": None},
        {"nickname": ["x"]},
        {"password": ""},
    ],
)
def test_signup_validates_formats(api_client: Any, invite: InviteCode, overrides: dict[str, Any]) -> None:
    response = api_client.post(SIGNUP, signup_body(**overrides), format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_signup_with_malformed_json_is_a_clean_400(api_client: Any) -> None:
    response = api_client.post(SIGNUP, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "malformed_request"


def test_invite_validate_applies_the_signup_rule(api_client: Any) -> None:
    InviteCodeFactory(code="GOOD", max_uses=3, uses=1)
    InviteCodeFactory(code="FULL", max_uses=1, uses=1)

    good = api_client.post("/api/invite/validate", {"code": "good"}, format="json").json()
    full = api_client.post("/api/invite/validate", {"code": "FULL"}, format="json").json()
    unknown = api_client.post("/api/invite/validate", {"code": "NONE"}, format="json").json()

    assert good["is_valid"] is True
    assert good["remaining_uses"] == 2
    assert good["error_message"] is None
    assert full["is_valid"] is False
    assert full["reason"] == "used_up"
    assert full["error_message"]
    assert unknown["is_valid"] is False
    assert unknown["reason"] == "not_found"
