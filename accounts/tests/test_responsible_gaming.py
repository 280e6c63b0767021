from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.tokens import tokens_issue

pytestmark = pytest.mark.django_db

LIMIT = "/api/auth/responsible-gaming/spend-limit"


def status_now(client: Any) -> dict[str, Any]:
    """Read the settings with a token issued now (the old one expired with the time shift)."""
    access = tokens_issue(user=client.user).access
    response = APIClient().get("/api/auth/responsible-gaming", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_first_limit_and_lowering_apply_at_once(auth_client: Any) -> None:
    first = auth_client.put(LIMIT, {"daily_spend_limit": 5000}, format="json")
    lower = auth_client.put(LIMIT, {"daily_spend_limit": 2000}, format="json")

    assert first.json()["daily_spend_limit"] == 5000
    assert lower.json()["daily_spend_limit"] == 2000
    assert lower.json()["pending_limit_effective_at"] is None


def test_raising_waits_for_the_cooling_off_period(auth_client: Any) -> None:
    auth_client.put(LIMIT, {"daily_spend_limit": 2000}, format="json")

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        raised = auth_client.put(LIMIT, {"daily_spend_limit": 9000}, format="json").json()
        assert raised["daily_spend_limit"] == 2000
        assert raised["pending_daily_spend_limit"] == 9000

        traveller.shift(services.SPEND_LIMIT_COOLING_OFF + timedelta(seconds=1))

        assert status_now(auth_client)["daily_spend_limit"] == 9000


def test_removing_the_limit_also_waits(auth_client: Any) -> None:
    auth_client.put(LIMIT, {"daily_spend_limit": 2000}, format="json")

    removed = auth_client.put(LIMIT, {"daily_spend_limit": None}, format="json").json()

    assert removed["daily_spend_limit"] == 2000
    assert removed["pending_limit_clears"] is True
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert status_now(auth_client)["daily_spend_limit"] is None


def test_self_exclusion_cannot_be_shortened(user: Any) -> None:
    services.self_exclusion_set(user=user, until=timezone.now() + timedelta(days=30))

    from accounts.exceptions import ResponsibleGamingRefused

    with pytest.raises(ResponsibleGamingRefused) as refused:
        services.self_exclusion_set(user=user, until=timezone.now() + timedelta(days=1))
    assert refused.value.code == "self_exclusion_cannot_shorten"


@pytest.mark.parametrize("body", [{}, {"days": 0}, {"days": 3, "until": "2030-01-01T00:00:00Z"}, {"days": "x"}])
def test_self_exclusion_input_errors(auth_client: Any, body: dict[str, Any]) -> None:
    response = auth_client.post("/api/auth/responsible-gaming/self-exclusion", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
