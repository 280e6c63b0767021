from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.tokens import tokens_issue

pytestmark = pytest.mark.django_db

ME = "/api/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_me_without_a_token_is_401_in_the_error_envelope(api_client: APIClient) -> None:
    response = api_client.get(ME)

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response.json()["message"]


def test_garbage_token_is_401(api_client: APIClient) -> None:
    response = api_client.get(ME, **bearer("not-a-jwt"))

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_refresh_rotates_and_the_old_refresh_token_is_refused(api_client: APIClient, user: Any) -> None:
    first = tokens_issue(user=user)

    rotated = api_client.post("/api/auth/refresh", {"refresh_token": first.refresh}, format="json")

    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != first.refresh
    assert api_client.get(ME, **bearer(rotated.json()["access_token"])).status_code == 200
    reused = api_client.post("/api/auth/refresh", {"refresh_token": first.refresh}, format="json")
    assert reused.status_code == 401
    assert reused.json()["error"] == "invalid_refresh_token"
    # A reuse revokes the whole chain (token-theft detection, test_tokens_family.py): the rotated pair too.
    again = api_client.post("/api/auth/refresh", {"refresh_token": rotated.json()["refresh_token"]}, format="json")
    assert again.status_code == 401


def test_a_refresh_is_six_statements_and_records_the_new_token_as_issued(
    api_client: APIClient, user: Any, django_assert_num_queries: Any
) -> None:
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    first = tokens_issue(user=user)

    # The blacklist look-up, the user, the family's revocation, the presented token's row, the
    # blacklist row (the one that decides between parallel refreshes) and the new token's row;
    # plus the savepoint pair of the service's transaction inside the test's.
    with django_assert_num_queries(8):
        rotated = api_client.post("/api/auth/refresh", {"refresh_token": first.refresh}, format="json").json()

    issued = OutstandingToken.objects.get(token=rotated["refresh_token"])  # stored as issued: claims and all
    assert issued.user_id == user.pk and issued.expires_at > issued.created_at
    assert BlacklistedToken.objects.filter(token__token=first.refresh).exists()


def test_refresh_token_is_not_an_access_token(api_client: APIClient, user: Any) -> None:
    pair = tokens_issue(user=user)

    as_access = api_client.get(ME, **bearer(pair.refresh))
    as_refresh = api_client.post("/api/auth/refresh", {"refresh_token": pair.access}, format="json")

    assert as_access.status_code == 401
    assert as_refresh.status_code == 401


def _claims(user: Any) -> dict[str, Any]:
    now = int(timezone.now().timestamp())
    return {"token_type": "access", "user_id": user.pk, "jti": "x" * 32, "iat": now, "exp": now + 600, "ver": 0}


def test_token_signed_with_another_key_is_refused(api_client: APIClient, user: Any) -> None:
    forged = jwt.encode(_claims(user), "some-other-key-that-is-long-enough-1234", algorithm="HS256")

    response = api_client.get(ME, **bearer(forged))

    assert response.status_code == 401


def test_alg_none_token_is_refused(api_client: APIClient, user: Any) -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(_claims(user))}."

    response = api_client.get(ME, **bearer(unsigned))

    assert response.status_code == 401


def test_correctly_signed_token_works_and_expires_after_its_lifetime(api_client: APIClient, user: Any) -> None:
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        access = tokens_issue(user=user).access
        assert api_client.get(ME, **bearer(access)).status_code == 200

        traveller.shift(lifetime + timedelta(seconds=1))

        expired = api_client.get(ME, **bearer(access))
    assert expired.status_code == 401
    assert expired.json()["error"] == "invalid_token"


def test_logout_blacklists_the_given_refresh_token(api_client: APIClient, user: Any) -> None:
    pair = tokens_issue(user=user)

    response = api_client.post(
        "/api/auth/logout", {"refresh_token": pair.refresh}, format="json", **bearer(pair.access)
    )

    assert response.status_code == 200
    assert response.json()["revoked"] is True
    refused = api_client.post("/api/auth/refresh", {"refresh_token": pair.refresh}, format="json")
    assert refused.status_code == 401


def test_logout_refuses_someone_elses_refresh_token(api_client: APIClient, user: Any, staff_user: Any) -> None:
    mine = tokens_issue(user=user)
    theirs = tokens_issue(user=staff_user)

    response = api_client.post(
        "/api/auth/logout", {"refresh_token": theirs.refresh}, format="json", **bearer(mine.access)
    )

    assert response.status_code == 401
    assert api_client.post("/api/auth/refresh", {"refresh_token": theirs.refresh}, format="json").status_code == 200


def test_logout_all_revokes_every_session_at_once(api_client: APIClient, user: Any) -> None:
    phone = tokens_issue(user=user)
    laptop = tokens_issue(user=user)

    response = api_client.post("/api/auth/logout-all", **bearer(phone.access))

    assert response.status_code == 200
    assert api_client.get(ME, **bearer(laptop.access)).json()["error"] == "token_revoked"
    assert api_client.get(ME, **bearer(phone.access)).status_code == 401
    for refresh in (phone.refresh, laptop.refresh):
        assert api_client.post("/api/auth/refresh", {"refresh_token": refresh}, format="json").status_code == 401
    user.refresh_from_db()
    fresh = tokens_issue(user=user)
    assert api_client.get(ME, **bearer(fresh.access)).status_code == 200


def test_ban_takes_effect_on_the_next_request(api_client: APIClient, user: Any, staff_user: Any) -> None:
    pair = tokens_issue(user=user)
    assert api_client.get(ME, **bearer(pair.access)).status_code == 200

    services.user_set_active(actor=staff_user, user=user, active=False, reason="chargeback fraud")

    response = api_client.get(ME, **bearer(pair.access))
    assert response.status_code == 401
    assert response.json()["error"] == "account_disabled"
    assert api_client.post("/api/auth/refresh", {"refresh_token": pair.refresh}, format="json").status_code == 401
    from casino.models import AuditLog

    audit = AuditLog.objects.get(action="user_ban")
    assert audit.actor == staff_user
    assert audit.target_id == str(user.pk)
    assert audit.reason == "chargeback fraud"


def test_self_exclusion_ends_sessions_and_refuses_login(api_client: APIClient, user: Any, password: str) -> None:
    pair = tokens_issue(user=user)

    response = api_client.post(
        "/api/auth/responsible-gaming/self-exclusion", {"days": 30}, format="json", **bearer(pair.access)
    )

    assert response.status_code == 200
    assert response.json()["self_excluded_until"]
    assert api_client.get(ME, **bearer(pair.access)).status_code == 401
    assert api_client.post("/api/auth/refresh", {"refresh_token": pair.refresh}, format="json").status_code == 401
    login = api_client.post("/api/auth/login", {"site_id": user.site_id, "password": password}, format="json")
    assert login.status_code == 403
    assert login.json()["error"] == "self_excluded"
    assert login.json()["self_excluded_until"]


def test_self_exclusion_expires_by_itself(api_client: APIClient, user: Any, password: str) -> None:
    services.self_exclusion_set(user=user, until=timezone.now() + timedelta(days=1))

    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        login = api_client.post("/api/auth/login", {"site_id": user.site_id, "password": password}, format="json")

    assert login.status_code == 200


def test_profile_alias_and_patch(auth_client: APIClient) -> None:
    alias = auth_client.get("/api/auth/profile")
    patched = auth_client.patch("/api/auth/me", {"nickname": "Renamed"}, format="json")

    assert alias.status_code == 200
    assert alias.json()["id"] == auth_client.user.pk
    assert patched.status_code == 200
    assert patched.json()["nickname"] == "Renamed"
    from realtime.models import OutboxEvent

    assert OutboxEvent.objects.filter(type="profile_update", user_id=auth_client.user.pk).exists()


def test_patch_refuses_a_taken_nickname(auth_client: APIClient, staff_user: Any) -> None:
    response = auth_client.patch("/api/auth/me", {"nickname": staff_user.nickname.upper()}, format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "nickname_taken"
