"""An access token is verified once per process (accounts.verified_tokens).

A token seen before skips the signature check, never the expiry check, and
never the checks of the user behind it (version, family, ban), which run on
every request as before.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import user_from_access_token
from accounts.exceptions import TokenInvalid
from accounts.models import User
from accounts.services.auth import token_logout_all
from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from accounts.verified_tokens import VerifiedTokens, verified_tokens

pytestmark = pytest.mark.django_db

ME = "/api/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every signature check PyJWT makes (the library simplejwt verifies with)."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(token if isinstance(token, str) else token.decode())
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return seen


def test_a_token_is_verified_on_its_first_request_only(api_client: APIClient, user: Any, decodes: list[str]) -> None:
    access = tokens_issue(user=user).access

    assert api_client.get(ME, **bearer(access)).status_code == 200
    assert decodes == [access]

    for _ in range(3):
        assert api_client.get(ME, **bearer(access)).json()["id"] == user.pk
    assert decodes == [access]


def test_the_websocket_handshake_shares_the_verified_tokens(
    api_client: APIClient, user: Any, decodes: list[str]
) -> None:
    access = tokens_issue(user=user).access
    assert api_client.get(ME, **bearer(access)).status_code == 200

    assert user_from_access_token(access).pk == user.pk
    assert decodes == [access]


def test_a_token_seen_before_still_expires_on_time(api_client: APIClient, user: Any) -> None:
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        access = tokens_issue(user=user).access
        assert api_client.get(ME, **bearer(access)).status_code == 200

        traveller.shift(lifetime - timedelta(seconds=1))
        assert api_client.get(ME, **bearer(access)).status_code == 200

        traveller.shift(timedelta(seconds=2))
        expired = api_client.get(ME, **bearer(access))
        assert expired.status_code == 401
        assert expired.json()["error"] == "invalid_token"
        assert verified_tokens.get(access.encode()) is None  # dropped, not kept expired
        with pytest.raises(TokenInvalid):
            user_from_access_token(access)


def test_a_token_altered_in_one_character_is_refused_though_the_original_was_verified(
    api_client: APIClient, user: Any
) -> None:
    access = tokens_issue(user=user).access
    assert api_client.get(ME, **bearer(access)).status_code == 200
    header, claims, signature = access.split(".")
    forged_signature = f"{header}.{claims}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    other = tokens_issue(user=UserFactory()).access
    forged_claims = f"{header}.{other.split('.')[1]}.{signature}"  # another user's claims, this token's signature

    for forged in (forged_signature, forged_claims):
        response = api_client.get(ME, **bearer(forged))
        assert response.status_code == 401, forged
        assert response.json()["error"] == "invalid_token"


def test_a_verified_token_is_refused_once_its_sessions_are_revoked(api_client: APIClient, user: Any) -> None:
    access = tokens_issue(user=user).access
    assert api_client.get(ME, **bearer(access)).status_code == 200

    token_logout_all(user=User.objects.get(pk=user.pk))

    response = api_client.get(ME, **bearer(access))
    assert response.status_code == 401
    assert response.json()["error"] == "token_revoked"


def test_a_verified_token_of_a_banned_account_is_refused(api_client: APIClient, user: Any) -> None:
    access = tokens_issue(user=user).access
    assert api_client.get(ME, **bearer(access)).status_code == 200

    User.objects.filter(pk=user.pk).update(is_active=False)

    assert api_client.get(ME, **bearer(access)).status_code == 401


def test_each_caller_gets_its_own_claims(user: Any) -> None:
    tokens = VerifiedTokens()
    raw = tokens_issue(user=user).access.encode()
    tokens.keep(raw, AccessToken(raw))  # type: ignore[arg-type]

    first = tokens.get(raw)
    assert first is not None
    first.payload["user_id"] = "someone else"

    second = tokens.get(raw)
    assert second is not None and second is not first
    assert second["user_id"] == str(user.pk)


def test_the_cache_is_bounded_and_keeps_the_newest(user: Any) -> None:
    tokens = VerifiedTokens(size=4)
    raws = [tokens_issue(user=user).access.encode() for _ in range(9)]
    for raw in raws:
        tokens.keep(raw, AccessToken(raw))  # type: ignore[arg-type]
        assert len(tokens) <= 4

    assert tokens.get(raws[-1]) is not None
    assert tokens.get(raws[0]) is None
