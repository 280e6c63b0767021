"""Token-theft detection (OAuth 2.0 Security BCP): a refresh token used again
after it was rotated revokes the whole chain it belongs to (its *family*, claim
``fam``): the newest refresh token and the family's access tokens stop working;
other logins of the same player do not."""

from __future__ import annotations

from collections import Counter
from typing import Any

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import TOKEN_FAMILY_CLAIM, TOKEN_VERSION_CLAIM
from accounts.models import RevokedTokenFamily
from accounts.tokens import tokens_issue

ME = "/api/auth/me"
REFRESH = "/api/auth/refresh"


def refresh(refresh_token: str) -> Any:
    return APIClient().post(REFRESH, {"refresh_token": refresh_token}, format="json")


def me(access_token: str) -> Any:
    return APIClient().get(ME, HTTP_AUTHORIZATION=f"Bearer {access_token}")


def login(user: Any, password: str) -> dict[str, Any]:
    response = APIClient().post("/api/auth/login", {"site_id": user.site_id, "password": password}, format="json")
    assert response.status_code == 200
    return dict(response.json())


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


@pytest.mark.django_db
def test_a_login_starts_a_family_and_rotation_keeps_it(user: Any, password: str) -> None:
    first = login(user, password)

    rotated = refresh(first["refresh_token"]).json()

    family = claims(first["refresh_token"])[TOKEN_FAMILY_CLAIM]
    assert family
    assert claims(first["access_token"])[TOKEN_FAMILY_CLAIM] == family
    assert claims(rotated["refresh_token"])[TOKEN_FAMILY_CLAIM] == family
    assert claims(rotated["access_token"])[TOKEN_FAMILY_CLAIM] == family
    assert claims(login(user, password)["refresh_token"])[TOKEN_FAMILY_CLAIM] != family


@pytest.mark.django_db
def test_reusing_a_rotated_refresh_token_revokes_its_whole_family_and_nothing_else(user: Any, password: str) -> None:
    # Given a login rotated twice (the thief and the player now hold different links of one chain),
    # and another login of the same player on another device
    stolen = login(user, password)
    second = refresh(stolen["refresh_token"]).json()
    newest = refresh(second["refresh_token"]).json()
    other_device = login(user, password)
    assert me(newest["access_token"]).status_code == 200

    # When the already-rotated token is presented again
    reused = refresh(stolen["refresh_token"])

    # Then it is refused, and every token of its family stops working
    assert reused.status_code == 401
    assert reused.json()["error"] == "invalid_refresh_token"
    assert refresh(newest["refresh_token"]).status_code == 401
    revoked_access = me(newest["access_token"])
    assert revoked_access.status_code == 401
    assert revoked_access.json()["error"] == "token_revoked"
    family = claims(stolen["refresh_token"])[TOKEN_FAMILY_CLAIM]
    assert RevokedTokenFamily.objects.filter(family=family, user=user, reason="refresh_token_reused").exists()
    # while the other login is untouched
    assert me(other_device["access_token"]).status_code == 200
    assert refresh(other_device["refresh_token"]).status_code == 200


@pytest.mark.django_db
def test_a_forged_reuse_revokes_nothing(user: Any, password: str) -> None:
    # Given a genuine family, and a token naming it but signed with another key
    genuine = login(user, password)
    forged_claims = claims(genuine["refresh_token"])
    forged = jwt.encode(forged_claims, "not-the-signing-key-but-long-enough-1234", algorithm="HS256")
    refresh(genuine["refresh_token"])  # the genuine one is rotated (blacklisted)

    assert refresh(forged).status_code == 401

    assert not RevokedTokenFamily.objects.exists()


@pytest.mark.django_db
def test_a_refresh_token_from_before_families_still_rotates_into_a_family(user: Any) -> None:
    legacy = RefreshToken.for_user(user)
    legacy[TOKEN_VERSION_CLAIM] = user.token_version

    rotated = refresh(str(legacy))

    assert rotated.status_code == 200
    assert claims(rotated.json()["refresh_token"])[TOKEN_FAMILY_CLAIM]
    assert settings.SIMPLE_JWT["ROTATE_REFRESH_TOKENS"]


@pytest.mark.django_db(transaction=True)
def test_two_parallel_refreshes_of_one_token_give_at_most_one_pair_and_then_the_family_is_revoked(
    parallel: Any, user: Any
) -> None:
    for _ in range(3):  # a few rounds: the loser may see the blacklist row or collide on its insert
        # Given one refresh token, when two requests refresh it at the same moment
        token = tokens_issue(user=user).refresh
        responses = parallel(2, lambda _i, token=token: refresh(token))

        # Then exactly one gets a pair, the other is refused as a reuse
        assert Counter(r.status_code for r in responses) == {200: 1, 401: 1}
        winner = next(r.json() for r in responses if r.status_code == 200)
        # and the theft rule applies: the pair the winner got is dead too
        assert refresh(winner["refresh_token"]).status_code == 401
        assert me(winner["access_token"]).json()["error"] == "token_revoked"
        assert RevokedTokenFamily.objects.filter(family=claims(token)[TOKEN_FAMILY_CLAIM]).exists()
