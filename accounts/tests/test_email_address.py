"""The account's optional email address: given at sign-up, shown and changed in
the player's own profile, stored with its domain lower-cased, never refused for
being another account's (that would tell who plays here)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts import services
from accounts.models import InviteCode, User
from accounts.tests.factories import InviteCodeFactory, UserFactory
from accounts.tests.staff import staff_with
from accounts.tokens import tokens_issue
from casino.models import AuditLog
from casino.permissions import StaffPermissionRequired
from realtime.models import OutboxEvent

pytestmark = pytest.mark.django_db

SIGNUP = "/api/auth/signup"
ME = "/api/auth/me"


def signup_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "site_id": "mailplayer",
        "nickname": "MailPlayer",
        "phone_number": "+15550002222",
        "invite_code": "MAIL1",
        "password": "Correct-Horse-9",
    }
    body.update(overrides)
    return body


@pytest.fixture
def invite() -> InviteCode:
    return InviteCodeFactory(code="MAIL1", max_uses=10)


def bearer(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


def test_signup_without_an_email_still_works_and_the_profile_shows_none(api_client: Any, invite: Any) -> None:
    response = api_client.post(SIGNUP, signup_body(), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["user"]["email"] == ""
    assert User.objects.get(site_id="mailplayer").email == ""


@pytest.mark.parametrize("empty", ["", "   ", None])
def test_an_empty_or_null_email_at_signup_means_none(api_client: Any, invite: Any, empty: Any) -> None:
    response = api_client.post(SIGNUP, signup_body(email=empty), format="json")

    assert response.status_code == 201, response.json()
    assert User.objects.get(site_id="mailplayer").email == ""


def test_signup_stores_the_address_with_its_domain_lower_cased(api_client: Any, invite: Any) -> None:
    response = api_client.post(SIGNUP, signup_body(email="  Lucky.Player@Example.COM "), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["user"]["email"] == "Lucky.Player@example.com"
    user = User.objects.get(site_id="mailplayer")
    assert user.email == "Lucky.Player@example.com"
    me = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    assert me.json()["email"] == "Lucky.Player@example.com"


@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "two@@example.com",
        "@example.com",
        "player@",
        "player@example",
        f"{'a' * 250}@example.com",
        '"odd\\\x01"@example.com',
        "player@exa mple.com",
        12345,
        ["player@example.com"],
    ],
)
def test_a_malformed_address_is_refused_at_signup_and_nothing_is_created(
    api_client: Any, invite: Any, address: Any
) -> None:
    response = api_client.post(SIGNUP, signup_body(email=address), format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "email" in response.json()["fields"]
    assert not User.objects.filter(site_id="mailplayer").exists()
    invite.refresh_from_db()
    assert invite.uses == 0


def test_an_address_another_account_has_is_not_refused(api_client: Any, invite: Any) -> None:
    UserFactory(email="shared@example.com")

    response = api_client.post(SIGNUP, signup_body(email="Shared@EXAMPLE.com"), format="json")

    assert response.status_code == 201, response.json()
    assert User.objects.filter(email__iexact="shared@example.com").count() == 2


def test_login_answers_the_players_own_profile_with_the_address(api_client: Any, invite: Any) -> None:
    UserFactory(site_id="loginmail", email="login@example.com", password="Correct-Horse-9")

    response = api_client.post(
        "/api/auth/login", {"site_id": "loginmail", "password": "Correct-Horse-9"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["user"]["email"] == "login@example.com"


def test_the_profile_shows_the_address_and_the_alias_too() -> None:
    player = UserFactory(email="me@example.com")
    client = bearer(player)

    assert client.get(ME).json()["email"] == "me@example.com"
    assert client.get("/api/auth/profile").json()["email"] == "me@example.com"


def test_patch_sets_changes_and_removes_the_address() -> None:
    player = UserFactory()
    client = bearer(player)

    added = client.patch(ME, {"email": "New@Example.ORG"}, format="json")
    assert added.status_code == 200, added.json()
    assert added.json()["email"] == "New@example.org"
    player.refresh_from_db()
    assert player.email == "New@example.org"
    event = OutboxEvent.objects.filter(type="profile_update", user_id=player.pk).latest("id")
    assert event.data == {"email": "New@example.org"}

    removed = client.patch(ME, {"email": ""}, format="json")
    assert removed.status_code == 200
    assert removed.json()["email"] == ""
    player.refresh_from_db()
    assert player.email == ""

    client.patch(ME, {"email": "back@example.org"}, format="json")
    assert client.patch(ME, {"email": None}, format="json").json()["email"] == ""


def test_patch_without_the_email_leaves_it_alone() -> None:
    player = UserFactory(email="keep@example.com")

    response = bearer(player).patch(ME, {"nickname": "Renamed1"}, format="json")

    assert response.status_code == 200
    player.refresh_from_db()
    assert (player.nickname, player.email) == ("Renamed1", "keep@example.com")


def test_patch_with_the_same_address_writes_nothing() -> None:
    player = UserFactory(email="same@example.com")

    response = bearer(player).patch(ME, {"email": "same@EXAMPLE.com"}, format="json")

    assert response.status_code == 200
    assert not OutboxEvent.objects.filter(type="profile_update", user_id=player.pk).exists()


def test_patch_refuses_a_malformed_address_and_keeps_the_old_one() -> None:
    player = UserFactory(email="old@example.com")

    response = bearer(player).patch(ME, {"email": "nope"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "email" in response.json()["fields"]
    player.refresh_from_db()
    assert player.email == "old@example.com"


def test_patch_to_another_accounts_address_is_not_refused() -> None:
    UserFactory(email="taken@example.com")
    player = UserFactory()

    response = bearer(player).patch(ME, {"email": "taken@example.com"}, format="json")

    assert response.status_code == 200


def test_the_profile_and_its_change_need_a_login() -> None:
    anonymous = APIClient()

    assert anonymous.get(ME).status_code == 401
    response = anonymous.patch(ME, {"email": "x@example.com"}, format="json")
    assert response.status_code == 401
    assert not User.objects.filter(email="x@example.com").exists()


def test_profiles_other_answers_embed_leave_the_address_out() -> None:
    player = UserFactory(email="private@example.com")

    dashboard = bearer(player).get("/api/dashboard")

    assert dashboard.status_code == 200
    assert "email" not in dashboard.json()["profile"]


# --- The back office's user forms (their services; the form shows the field) ---------------


def test_staff_change_the_address_normalised_and_audited() -> None:
    _, clerk = staff_with("accounts.change_user")
    player = UserFactory(email="before@example.com")
    player.email = "After@EXAMPLE.net"

    services.user_update_by_staff(actor=clerk, user=player, changed_fields=["email"], reason="player asked")

    player.refresh_from_db()
    assert player.email == "After@example.net"
    audit = AuditLog.objects.get(action="user_update")
    assert audit.data["changes"] == {"email": ["before@example.com", "After@example.net"]}
    assert audit.reason == "player asked"
    event = OutboxEvent.objects.filter(type="profile_update", user_id=player.pk).latest("id")
    assert event.data == {"email": "After@example.net"}


def test_staff_without_the_permission_change_no_address() -> None:
    _, viewer = staff_with("accounts.view_user")
    player = UserFactory(email="kept@example.com")
    player.email = "stolen@example.com"

    with pytest.raises(StaffPermissionRequired):
        services.user_update_by_staff(actor=viewer, user=player, changed_fields=["email"], reason="x")

    player.refresh_from_db()
    assert player.email == "kept@example.com"
    assert not AuditLog.objects.exists()


def test_a_player_staff_create_gets_the_address_normalised_and_audited() -> None:
    _, clerk = staff_with("accounts.add_user")
    player = User(site_id="made", nickname="MadeByStaff", phone_number="+15550009999", email="Made@Example.COM")
    player.set_password("Correct-Horse-9")

    services.user_create_by_staff(actor=clerk, user=player, reason="support ticket")

    assert User.objects.get(site_id="made").email == "Made@example.com"
    assert AuditLog.objects.get(action="user_create").data["email"] == "Made@example.com"
