"""Parallel requests against PostgreSQL: exactly-once effects."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import InviteCode, User
from accounts.tests.factories import InviteCodeFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_fifty_concurrent_signups_on_a_ten_use_code_create_exactly_ten_users(parallel: Any) -> None:
    invite = InviteCodeFactory(code="TEN", max_uses=10)

    def sign_up(index: int) -> int:
        response = APIClient().post(
            "/api/auth/signup",
            {
                "site_id": f"racer{index:03d}",
                "nickname": f"Racer{index:03d}",
                "phone_number": f"+1555000{index:04d}",
                "invite_code": "TEN",
                "password": "Correct-Horse-9",
            },
            format="json",
            REMOTE_ADDR=f"10.1.0.{index + 1}",  # each racer its own client (sign-up is throttled per IP)
        )
        return response.status_code

    statuses = Counter(parallel(50, sign_up))

    assert statuses == {201: 10, 400: 40}
    assert User.objects.count() == 10
    invite.refresh_from_db()
    assert invite.uses == 10


def test_twenty_concurrent_refreshes_with_one_token_succeed_exactly_once(parallel: Any, user: Any) -> None:
    from accounts.tokens import tokens_issue

    refresh = tokens_issue(user=user).refresh

    def refresh_once(_index: int) -> int:
        return APIClient().post("/api/auth/refresh", {"refresh_token": refresh}, format="json").status_code

    statuses = Counter(parallel(20, refresh_once))

    assert statuses == {200: 1, 401: 19}


def test_concurrent_duplicate_nicknames_create_one_user(parallel: Any) -> None:
    InviteCodeFactory(code="OPEN", max_uses=None)

    def sign_up(index: int) -> int:
        return (
            APIClient()
            .post(
                "/api/auth/signup",
                {
                    "site_id": f"dup{index:03d}",
                    "nickname": "SameNick" if index % 2 else "samenick",
                    "phone_number": f"+1555100{index:04d}",
                    "invite_code": "OPEN",
                    "password": "Correct-Horse-9",
                },
                format="json",
            )
            .status_code
        )

    statuses = Counter(parallel(10, sign_up))

    assert statuses[201] == 1
    assert statuses[409] == 9
    assert InviteCode.objects.get(code="OPEN").uses == 1
