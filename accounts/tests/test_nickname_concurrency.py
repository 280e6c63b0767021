"""Look-alike nicknames racing: the unique index on the skeleton decides, not
the check before it (real threads, real PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.nicknames import nickname_skeleton
from accounts.tests.factories import InviteCodeFactory
from casino.tests.race_condition import run_after

pytestmark = pytest.mark.django_db(transaction=True)

CYRILLIC_A = "\u0430"
GREEK_ALPHA = "\u03b1"
LOOK_ALIKES = [
    "alice",
    f"{CYRILLIC_A}lice",
    "Alice",
    "A1ice",
    "AIice",
    f"{GREEK_ALPHA}lice",
    "\uff41lice",
    f"{CYRILLIC_A}l\u0456ce",
]


def sign_up(index: int, nickname: str) -> Any:
    return APIClient().post(
        "/api/auth/signup",
        {
            "site_id": f"racer{index:03d}",
            "nickname": nickname,
            "phone_number": f"+1555200{index:04d}",
            "invite_code": "OPEN",
            "password": "Correct-Horse-9",
        },
        format="json",
        REMOTE_ADDR=f"10.2.0.{index + 1}",
    )


def test_two_sign_ups_with_look_alike_nicknames_that_both_pass_the_check_end_with_exactly_one_player() -> None:
    # Given a usable code
    InviteCodeFactory(code="OPEN", max_uses=None)
    other: dict[str, Any] = {}

    def sign_up_the_look_alike(*_args: Any, **_kwargs: Any) -> None:
        # Runs in another thread (its own connection) after the first sign-up's check
        # found no look-alike and before its insert: this one commits first.
        thread = threading.Thread(target=lambda: other.update(response=sign_up(1, f"{CYRILLIC_A}lice")))
        thread.start()
        thread.join(timeout=30)

    # When a sign-up as "alice" checks for look-alikes, then another as Cyrillic "alice" commits, then the first inserts
    with run_after("accounts.services.nicknames.nickname_looks_taken", sign_up_the_look_alike):
        first = sign_up(0, "alice")

    # Then the second (which committed first) has the name, and the first is refused by the index, cleanly
    assert other["response"].status_code == 201, other["response"].json()
    assert first.status_code == 409, first.json()
    assert first.json()["error"] == "nickname_taken"
    assert list(User.objects.values_list("nickname", flat=True)) == [f"{CYRILLIC_A}lice"]


def test_parallel_sign_ups_with_look_alike_nicknames_create_exactly_one_player(parallel: Any) -> None:
    # Given a usable code and eight spellings of the same-looking nickname
    InviteCodeFactory(code="OPEN", max_uses=None)

    # When they all sign up at once
    responses = parallel(len(LOOK_ALIKES), lambda index: sign_up(index, LOOK_ALIKES[index]))

    # Then exactly one succeeds and every other one is nickname_taken
    statuses = Counter(response.status_code for response in responses)
    assert statuses == {201: 1, 409: len(LOOK_ALIKES) - 1}, [response.json() for response in responses]
    assert {response.json()["error"] for response in responses if response.status_code == 409} == {"nickname_taken"}
    assert User.objects.count() == 1
    assert User.objects.get().nickname_skeleton in {nickname_skeleton(name) for name in LOOK_ALIKES}
