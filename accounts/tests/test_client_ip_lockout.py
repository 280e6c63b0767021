"""The login lockout counts per client IP as ``casino.http.client_ip`` decides it:
a client talking to the app directly cannot get a fresh IP budget by writing
its own X-Forwarded-For."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login"
UNTRUSTED_PEER = "203.0.113.7"
BALANCER = "10.0.0.2"


def login(client: Any, identifier: str, password: str, **extra: Any) -> Any:
    return client.post(LOGIN, {"site_id": identifier, "password": password}, format="json", **extra)


def test_a_spoofed_x_forwarded_for_from_an_untrusted_peer_does_not_escape_the_ip_lockout(
    api_client: Any, password: str, settings: Any
) -> None:
    # Given X-Forwarded-For trusted (from the balancer only) and an IP limit of 30 failures
    settings.TRUST_X_FORWARDED_FOR = True
    victims = UserFactory.create_batch(8, password=password)

    # When a client talking to the app directly fails 30 logins, each with a new X-Forwarded-For
    for index in range(30):
        login(
            api_client,
            victims[index % 8].site_id,
            "wrong-password",
            REMOTE_ADDR=UNTRUSTED_PEER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{index}",
        )

    # Then its address is locked, whatever it writes in the header next
    locked = login(
        api_client,
        UserFactory(password=password).site_id,
        password,
        REMOTE_ADDR=UNTRUSTED_PEER,
        HTTP_X_FORWARDED_FOR="192.0.2.250",
    )
    assert locked.status_code == 429
    assert locked.json()["error"] == "login_locked"


def test_clients_behind_the_balancer_are_locked_out_one_by_one(api_client: Any, password: str, settings: Any) -> None:
    # Given the app behind the balancer, which appends each client's address
    settings.TRUST_X_FORWARDED_FOR = True
    victims = UserFactory.create_batch(8, password=password)

    # When one client (whatever it wrote before the balancer's entry) fails 30 logins
    for index in range(30):
        login(
            api_client,
            victims[index % 8].site_id,
            "wrong-password",
            REMOTE_ADDR=BALANCER,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{index}, 198.51.100.1",
        )

    # Then that client is locked and another client behind the same balancer is not
    same_client = login(
        api_client,
        UserFactory(password=password).site_id,
        password,
        REMOTE_ADDR=BALANCER,
        HTTP_X_FORWARDED_FOR="198.51.100.1",
    )
    other_client = login(
        api_client,
        UserFactory(password=password).site_id,
        password,
        REMOTE_ADDR=BALANCER,
        HTTP_X_FORWARDED_FOR="198.51.100.2",
    )
    assert same_client.status_code == 429
    assert other_client.status_code == 200
