"""A new password ends every session, whichever path saved it: the admin's
"change password" form for a player, a staff member's own password change,
``set_password`` + ``save`` (``manage.py changepassword``, the shell). Every
access token issued before gets 401 ``token_revoked`` and every refresh token
401 ``invalid_refresh_token``. A hash upgrade at login is not a change."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Brand-New-Secret-77"


def me(access_token: str) -> Any:
    return APIClient().get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {access_token}")


def refresh(refresh_token: str) -> Any:
    return APIClient().post("/api/auth/refresh", {"refresh_token": refresh_token}, format="json")


def api_login(user: Any, password: str) -> Any:
    return APIClient().post("/api/auth/login", {"site_id": user.site_id, "password": password}, format="json")


def assert_revoked(pair: Any) -> None:
    access = me(pair.access)
    assert access.status_code == 401
    assert access.json()["error"] == "token_revoked"
    old_refresh = refresh(pair.refresh)
    assert old_refresh.status_code == 401
    assert old_refresh.json()["error"] == "invalid_refresh_token"


def test_a_staff_password_reset_in_the_admin_revokes_the_players_tokens(staff_client: Any, user: Any) -> None:
    # Given a player with two live sessions
    phone, laptop = tokens_issue(user=user), tokens_issue(user=user)
    assert me(phone.access).status_code == 200

    # When staff set a new password on the admin's "change password" page
    response = staff_client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    # Then the password changed and every token issued before is dead
    assert response.status_code == 302, response.content[:2000]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert_revoked(phone)
    assert_revoked(laptop)
    # while the new password logs in and its tokens work
    fresh = api_login(user, NEW_PASSWORD)
    assert fresh.status_code == 200
    assert me(fresh.json()["access_token"]).status_code == 200


def test_a_staff_members_own_password_change_revokes_their_tokens(password: str) -> None:
    staff = UserFactory(password=password, is_staff=True, is_superuser=True)
    pair = tokens_issue(user=staff)
    client = Client()
    client.force_login(staff)

    response = client.post(
        "/admin/password_change/",
        {"old_password": password, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302, response.content[:2000]
    assert_revoked(pair)
    assert "_auth_user_id" in client.session  # Django keeps the admin session that made the change


def test_set_password_then_save_revokes_every_token(user: Any) -> None:
    # The path of manage.py changepassword and of the shell
    pair = tokens_issue(user=user)

    user.set_password(NEW_PASSWORD)
    user.save()

    assert_revoked(pair)


def test_saving_a_user_without_a_new_password_revokes_nothing(user: Any) -> None:
    pair = tokens_issue(user=user)

    user.nickname = "Renamed"
    user.save()

    assert me(pair.access).status_code == 200
    assert refresh(pair.refresh).status_code == 200


class UpgradedMD5Hasher(MD5PasswordHasher):
    """A "newer" hasher: a login with an MD5 hash upgrades it to this one."""

    algorithm = "md5_upgraded"


def test_a_hash_upgrade_at_login_is_not_a_password_change(settings: Any, user: Any, password: str) -> None:
    # Given a session, and a preferred hasher newer than the one the password is stored with
    pair = tokens_issue(user=user)
    settings.PASSWORD_HASHERS = [
        f"{__name__}.UpgradedMD5Hasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]

    # When the player logs in (Django re-hashes the password)
    assert api_login(user, password).status_code == 200

    # Then the hash was upgraded, and the earlier session still works
    user.refresh_from_db()
    assert user.password.startswith("md5_upgraded$")
    assert me(pair.access).status_code == 200
    assert refresh(pair.refresh).status_code == 200


def test_a_new_account_starts_at_token_version_zero() -> None:
    # create_user saves a password too: an account with no token has nothing to revoke
    user = UserFactory()

    user.refresh_from_db()
    assert user.token_version == 0
