"""GET /api/actions/recent/{id}: the caller's own actions, read from the ledger."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy import ledger_selectors
from economy.enums import Currency, LedgerReason
from economy.services import wallet_exchange, wallet_grant
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return api


@pytest.fixture
def me() -> Any:
    return player_with_wallet(gold=1000)


@pytest.fixture
def other() -> Any:
    # another player with a reward of their own
    user = player_with_wallet(gold=50)
    wallet_grant(user=user, bundle={Currency.GEMS: 99}, reason=LedgerReason.MISSION_REWARD, idempotency_key="theirs")
    return user


@pytest.mark.parametrize("path_id", ["OTHER", "1700000000000", "0", "me"])
def test_the_path_id_never_reaches_another_players_actions(me: Any, other: Any, path_id: str) -> None:
    # given two players with actions; the client puts the other's id (or a timestamp) in the path
    target = str(other.pk) if path_id == "OTHER" else path_id

    response = client_for(me).get(f"/api/actions/recent/{target}?limit=10")

    # then the answer is the caller's actions only, never a 403/404
    assert response.status_code == 200, response.content
    actions = response.json()
    assert actions, "the caller's own seed grant is an action"
    own_ids = set(ledger_selectors.ledger_for(me.pk).values_list("id", flat=True))
    assert {action["id"] for action in actions} <= own_ids
    assert "MISSION_REWARD" not in {action["action_type"] for action in actions}


def test_a_purchase_paid_in_gold_and_granting_gems_is_one_action_with_its_fields(me: Any) -> None:
    wallet_exchange(
        user=me,
        spend={Currency.GOLD: 300},
        grant={Currency.GEMS: 30},
        reason=LedgerReason.PURCHASE,
        spend_key="order:R1:pay",
        grant_key="order:R1:grant",
        reference="order:R1",
    )

    actions = client_for(me).get(f"/api/actions/recent/{me.pk}").json()

    latest = actions[0]
    assert set(latest) >= {"id", "action_type", "game_type", "amount", "created_at"}
    assert latest["action_type"] == "PURCHASE"
    assert latest["amount"] == -300 and latest["currency"] == "gold"
    assert latest["amounts"] == {"gold": -300, "gems": 30}
    assert latest["game_type"] is None
    assert latest["reference"] == "order:R1"
    assert len([action for action in actions if action["reference"] == "order:R1"]) == 1


def test_claims_show_as_their_action_types_newest_first(me: Any) -> None:
    api = client_for(me)
    api.post("/api/streak/claim", {"action_type": "DAILY_LOGIN"}, format="json")
    api.post("/api/vip/claim", format="json")

    actions = api.get("/api/actions/recent/0?limit=2").json()

    assert [action["action_type"] for action in actions] == ["VIP_CLAIM", "DAILY_LOGIN"]
    assert actions[0]["currency"] == "vip_points" and actions[0]["amount"] > 0
    assert actions[1]["amounts"]["gold"] > 0 and actions[1]["amounts"]["xp"] > 0


def test_limit_is_honoured_and_capped_at_100(me: Any) -> None:
    for index in range(105):
        wallet_grant(
            user=me, bundle={Currency.GEMS: 1}, reason=LedgerReason.EVENT_REWARD, idempotency_key=f"many{index}"
        )
    api = client_for(me)

    three = api.get("/api/actions/recent/1?limit=3").json()
    capped = api.get("/api/actions/recent/1?limit=500").json()
    default = api.get("/api/actions/recent/1").json()

    assert len(three) == 3
    assert len(capped) == 100
    assert len(default) == 20
    assert [action["id"] for action in three] == sorted((action["id"] for action in three), reverse=True)


@pytest.mark.parametrize("limit", ["abc", "0", "-1"])
def test_a_limit_that_is_not_a_positive_number_is_a_field_error(me: Any, limit: str) -> None:
    response = client_for(me).get(f"/api/actions/recent/1?limit={limit}")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error" and "limit" in response.json()["fields"]


def test_without_a_token_it_is_401(api_client: Any) -> None:
    assert api_client.get("/api/actions/recent/1").status_code == 401
