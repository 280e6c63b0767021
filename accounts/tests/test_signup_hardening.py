"""Sign-up as an attacker sees it: the invite code gates everything (no
enumeration of phones, site ids or nicknames without one), and sign-up and
invite validation are throttled per client IP, where a client IP is what
``casino.http.client_ip`` says, not what a client writes in X-Forwarded-For."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import InviteCode, User
from accounts.tests.factories import InviteCodeFactory, UserFactory
from casino.ratelimit import SlidingWindowUnavailable

pytestmark = pytest.mark.django_db

SIGNUP = "/api/auth/signup"
INVITE_VALIDATE = "/api/invite/validate"
UNTRUSTED_PEER = "203.0.113.7"  # a client talking to the app directly (not in TRUSTED_PROXIES)
BALANCER = "10.0.0.2"  # in the default TRUSTED_PROXIES


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
    return InviteCodeFactory(code="WELCOME1", max_uses=100)


@pytest.fixture
def throttle_rates(settings: Any) -> Any:
    """Small rates, so a test reaches them in a few requests."""

    def set_rates(**rates: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
        }

    return set_rates


# --- The invite code comes first ----------------------------------------------------


@pytest.mark.parametrize(
    "taken_field",
    ["phone_number", "site_id", "nickname"],
)
@pytest.mark.parametrize("code_state", ["unknown", "inactive", "expired", "used_up"])
def test_a_wrong_invite_code_answers_the_same_whether_the_other_fields_are_taken_or_not(
    api_client: Any, taken_field: str, code_state: str
) -> None:
    # Given an existing player and an unusable invite code
    existing = UserFactory(site_id="takenid", nickname="TakenNick", phone_number="+15559990000")
    attrs = {
        "unknown": None,
        "inactive": {"is_active": False},
        "expired": {"expires_at": timezone.now() - timedelta(minutes=1)},
        "used_up": {"max_uses": 1, "uses": 1},
    }[code_state]
    if attrs is not None:
        InviteCodeFactory(code="WELCOME1", **attrs)
    taken = signup_body(**{taken_field: getattr(existing, taken_field)})
    fresh = signup_body()

    # When someone signs up with that code, once with the player's value and once with a fresh one
    with_taken = api_client.post(SIGNUP, taken, format="json")
    with_fresh = api_client.post(SIGNUP, fresh, format="json")

    # Then both answers are the same invalid_invite_code, byte for byte
    assert with_taken.status_code == with_fresh.status_code == 400
    assert with_taken.content == with_fresh.content
    assert with_taken.json()["error"] == "invalid_invite_code"
    assert User.objects.count() == 1


def test_a_wrong_invite_code_is_refused_before_the_password_or_any_player_is_looked_at(api_client: Any) -> None:
    # Given an existing player
    existing = UserFactory(phone_number="+15559990000")

    # When a sign-up with an unknown code names that player's phone and a weak password
    with CaptureQueriesContext(connection) as queries:
        response = api_client.post(
            SIGNUP, signup_body(invite_code="NOPE", phone_number=existing.phone_number, password="123"), format="json"
        )

    # Then the answer is about the code only, and no player row was read
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_invite_code"
    assert not [query for query in queries.captured_queries if '"accounts_user"' in query["sql"]]


def test_with_a_valid_code_a_taken_phone_is_still_reported_so_the_player_knows_what_to_change(
    api_client: Any, invite: InviteCode
) -> None:
    # Given a player with a phone number and a usable code
    UserFactory(phone_number="+15559990000")

    # When someone signs up with that phone and the code
    response = api_client.post(SIGNUP, signup_body(phone_number="+15559990000"), format="json")

    # Then they learn the phone is taken, and the refused sign-up used none of the code
    assert response.status_code == 409
    assert response.json()["error"] == "phone_number_taken"
    invite.refresh_from_db()
    assert invite.uses == 0


# --- Throttles per client IP --------------------------------------------------------------


def test_signup_is_throttled_per_client_ip_with_retry_after(
    api_client: Any, invite: InviteCode, throttle_rates: Any
) -> None:
    # Given a limit of 3 sign-ups per hour per IP
    throttle_rates(signup="3/hour")

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        # When one IP tries 4 sign-ups (refused ones count too)
        statuses = [
            api_client.post(SIGNUP, signup_body(invite_code=f"WRONG{n}"), format="json", REMOTE_ADDR="198.51.100.9")
            for n in range(3)
        ]
        fourth = api_client.post(SIGNUP, signup_body(), format="json", REMOTE_ADDR="198.51.100.9")
        other_ip = api_client.post(SIGNUP, signup_body(), format="json", REMOTE_ADDR="198.51.100.10")

        # Then the fourth gets 429 in the error envelope with Retry-After, and another IP is unaffected
        assert [response.status_code for response in statuses] == [400, 400, 400]
        assert fourth.status_code == 429
        assert fourth.json()["error"] == "rate_limited"
        assert 0 < fourth.json()["retry_after_seconds"] <= 3600
        assert fourth["Retry-After"] == str(fourth.json()["retry_after_seconds"])
        assert other_ip.status_code == 201
        assert User.objects.count() == 1  # only the other IP's sign-up went through

        # And once the hour has slid past, that IP may sign up again
        traveller.shift(timedelta(hours=1, seconds=1))
        again = api_client.post(
            SIGNUP,
            signup_body(site_id="later", nickname="LaterOne", phone_number="+15550002222"),
            format="json",
            REMOTE_ADDR="198.51.100.9",
        )
        assert again.status_code == 201, again.json()


def test_invite_validation_is_throttled_per_client_ip(api_client: Any, throttle_rates: Any) -> None:
    # Given a limit of 2 invite checks per minute per IP
    throttle_rates(invite_validate="2/minute")

    # When one IP checks 3 codes
    responses = [
        api_client.post(INVITE_VALIDATE, {"code": f"GUESS{n}"}, format="json", REMOTE_ADDR="198.51.100.9")
        for n in range(3)
    ]

    # Then the third is refused with 429 and Retry-After
    assert [response.status_code for response in responses] == [200, 200, 429]
    assert responses[2].json()["error"] == "rate_limited"
    assert int(responses[2]["Retry-After"]) > 0


@pytest.mark.parametrize("endpoint", ["signup", "invite_validate"])
def test_a_spoofed_x_forwarded_for_from_an_untrusted_peer_does_not_escape_the_throttle(
    api_client: Any, invite: InviteCode, throttle_rates: Any, settings: Any, endpoint: str
) -> None:
    # Given X-Forwarded-For trusted from the balancer, and a limit of 2 per IP
    settings.TRUST_X_FORWARDED_FOR = True
    throttle_rates(**{endpoint: "2/hour"})
    path, body = (
        (SIGNUP, signup_body(invite_code="WRONG")) if endpoint == "signup" else (INVITE_VALIDATE, {"code": "X"})
    )

    # When a client talking to the app directly writes a new X-Forwarded-For on every request
    statuses = [
        api_client.post(
            path, body, format="json", REMOTE_ADDR=UNTRUSTED_PEER, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}"
        ).status_code
        for n in range(4)
    ]

    # Then it is still one client: refused after the limit
    assert statuses[2:] == [429, 429]


def test_x_forwarded_for_from_the_balancer_gives_each_client_its_own_budget(
    api_client: Any, invite: InviteCode, throttle_rates: Any, settings: Any
) -> None:
    # Given the app behind the balancer, and a limit of 1 sign-up per IP
    settings.TRUST_X_FORWARDED_FOR = True
    throttle_rates(signup="1/hour")

    # When two clients sign up through the balancer, each after a spoofed entry of its own
    first = api_client.post(
        SIGNUP, signup_body(), format="json", REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1"
    )
    second = api_client.post(
        SIGNUP,
        signup_body(site_id="second", nickname="SecondOne", phone_number="+15550003333"),
        format="json",
        REMOTE_ADDR=BALANCER,
        HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.2",
    )
    first_again = api_client.post(
        SIGNUP,
        signup_body(invite_code="WRONG"),
        format="json",
        REMOTE_ADDR=BALANCER,
        HTTP_X_FORWARDED_FOR="198.51.100.1",
    )

    # Then each client had its own budget, counted by the address the balancer appended
    assert (first.status_code, second.status_code, first_again.status_code) == (201, 201, 429)


def test_the_signup_throttle_fails_open_when_its_store_is_down(
    api_client: Any, invite: InviteCode, throttle_rates: Any
) -> None:
    # Given the rate-limit store (Redis) not answering
    throttle_rates(signup="1/hour")
    with mock.patch(
        "casino.throttling.SlidingWindowLimit.hit", side_effect=SlidingWindowUnavailable("connection refused")
    ):
        # When a player signs up twice
        first = api_client.post(SIGNUP, signup_body(), format="json")
        second = api_client.post(
            SIGNUP, signup_body(site_id="second", nickname="SecondOne", phone_number="+15550003333"), format="json"
        )

    # Then sign-up works without the limit (documented choice: fail open)
    assert (first.status_code, second.status_code) == (201, 201)
