"""The names the existing client reads on the wallet, profile, dashboard,
streak and socket (docs/client-contract.md)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from economy.enums import Currency, LedgerReason
from economy.services import wallet_grant, wallet_spend
from economy.tests.factories import player_with_wallet

GOLD_ALIASES = ("cyber_token_balance", "gold_balance", "gold")
GEM_ALIASES = ("gems_balance", "gems")


def client_for(user: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return api


def key() -> dict[str, str]:
    return {"HTTP_X_IDEMPOTENCY_KEY": str(uuid.uuid4())}


@pytest.fixture
def player(db: Any) -> Any:
    # given a player with 1000 gold, 7 gems and 2500 XP (level 3: 1000 + 1100 XP reach it)
    user = player_with_wallet(gold=1000, gems=7)
    wallet_grant(user=user, bundle={Currency.XP: 2500}, reason=LedgerReason.EVENT_REWARD, idempotency_key="xp")
    return user


@pytest.mark.django_db
def test_balance_serves_every_gold_gem_and_xp_name(player: Any) -> None:
    body = client_for(player).get("/api/users/balance").json()

    assert {name: body[name] for name in GOLD_ALIASES} == dict.fromkeys(GOLD_ALIASES, 1000)
    assert {name: body[name] for name in GEM_ALIASES} == dict.fromkeys(GEM_ALIASES, 7)
    assert (body["experience_points"], body["exp"]) == (2500, 2500)
    assert (body["user_id"], body["nickname"], body["daily_streak"], body["level"]) == (
        player.pk,
        player.nickname,
        0,
        3,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/auth/me", "/api/auth/profile"])
def test_profile_serves_the_contracts_fields(player: Any, path: str) -> None:
    # given the player spent 300 gold on a purchase
    wallet_spend(user=player, bundle={Currency.GOLD: 300}, reason=LedgerReason.PURCHASE, idempotency_key="buy")

    body = client_for(player).get(path).json()

    assert {name: body[name] for name in GOLD_ALIASES} == dict.fromkeys(GOLD_ALIASES, 700)
    assert {name: body[name] for name in GEM_ALIASES} == dict.fromkeys(GEM_ALIASES, 7)
    # experience_points (read first by the client) and exp are the total; experience pairs with max_experience
    assert (body["experience_points"], body["exp"]) == (2500, 2500)
    assert (body["level"], body["experience"], body["max_experience"]) == (3, 400, 1200)
    assert body["total_spent"] == 300
    for name in ("vip_tier", "vip_points", "daily_streak", "is_admin", "last_login", "created_at", "is_active"):
        assert name in body, name


@pytest.mark.django_db
def test_a_player_without_a_wallet_still_reads_zero_gold_under_the_clients_name() -> None:
    # given an account made without signing up (no wallet row yet)
    staff = UserFactory(is_staff=True)

    body = client_for(staff).get("/api/auth/me").json()

    assert (body["cyber_token_balance"], body["gems"], body["exp"], body["total_spent"]) == (0, 0, 0, 0)


@pytest.mark.django_db
def test_sign_up_and_login_answers_carry_the_gold_alias(api_client: Any) -> None:
    from accounts.tests.factories import InviteCodeFactory

    InviteCodeFactory(code="ALIAS001")
    signup = api_client.post(
        "/api/auth/signup",
        {
            "site_id": "aliasplayer",
            "nickname": "AliasPlayer",
            "phone_number": "010-5555-0000",
            "invite_code": "ALIAS001",
            "password": "Correct-Horse-9",
        },
        format="json",
    )
    login = api_client.post("/api/auth/login", {"site_id": "aliasplayer", "password": "Correct-Horse-9"}, format="json")

    assert signup.status_code == 201, signup.json()
    assert login.status_code == 200, login.json()
    for body in (signup.json(), login.json()):
        user = body["user"]
        assert user["cyber_token_balance"] == user["gold_balance"] == user["gold"]
        assert "total_spent" in user and "exp" in user


@pytest.mark.django_db
def test_dashboard_profile_and_balances_carry_the_aliases(player: Any) -> None:
    body = client_for(player).get("/api/dashboard").json()

    assert body["balances"]["cyber_token_balance"] == body["balances"]["gold"] == 1000
    assert body["balances"]["gems"] == 7
    profile = body["profile"]
    assert (profile["cyber_token_balance"], profile["gems"], profile["experience_points"], profile["exp"]) == (
        1000,
        7,
        2500,
        2500,
    )
    assert profile["total_spent"] == 0
    assert set(body["streak"]) >= {"count", "claimed_today", "next_reward", "attendance_week"}
    assert set(body["vip"]) >= {"vip_points", "claimed_today", "last_claim_at"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/streak/status", "/api/streak/preview"])
def test_streak_status_has_the_clients_names(player: Any, path: str) -> None:
    api = client_for(player)
    assert api.post("/api/streak/tick", {"action_type": "DAILY_LOGIN"}, format="json", **key()).status_code == 200

    body = api.get(path).json()

    assert body["count"] == body["current_count"] == 1
    assert body["last_action_date"] == body["last_checkin_date"] is not None
    for name in ("claimed_today", "today_reward_gold", "today_reward_xp", "next_day_reward_gold", "next_day_reward_xp"):
        assert name in body, name


@pytest.mark.django_db
def test_tick_takes_the_clients_body_and_refuses_another_action_type(player: Any) -> None:
    api = client_for(player)

    tick = api.post("/api/streak/tick", {"action_type": "DAILY_LOGIN"}, format="json", **key())
    other = api.post("/api/streak/tick", {"action_type": "SLOT_SPIN"}, format="json", **key())

    assert tick.status_code == 200 and tick.json()["count"] == 1
    assert other.status_code == 400
    assert other.json()["error"] == "validation_error" and "action_type" in other.json()["fields"]


@pytest.mark.django_db
def test_second_claim_with_a_new_key_says_already_claimed_and_the_same_key_replays(player: Any) -> None:
    api = client_for(player)
    first_key = key()
    body = {"action_type": "DAILY_LOGIN"}

    first = api.post("/api/streak/claim", body, format="json", **first_key)
    again = api.post("/api/streak/claim", body, format="json", **key())
    replay = api.post("/api/streak/claim", body, format="json", **first_key)

    assert first.status_code == 200, first.json()
    assert set(first.json()) >= {"streak_count", "awarded_gold", "awarded_xp", "new_gold_balance", "claimed_at"}
    assert again.status_code == 409
    assert again.json()["error"] == "already_claimed"
    assert "already claimed" in again.json()["message"].lower()
    assert again.json()["first_claim"]["awarded_gold"] == first.json()["awarded_gold"]
    assert replay.status_code == 200 and replay.json() == first.json()


@pytest.mark.django_db
def test_vip_status_and_claim_have_the_clients_names(player: Any) -> None:
    api = client_for(player)

    claim = api.post("/api/vip/claim", {}, format="json", **key())
    status = api.get("/api/vip/status").json()

    assert claim.status_code == 200, claim.json()
    assert set(claim.json()) >= {"awarded_points", "new_vip_points", "claimed_at"}
    assert status["claimed_today"] is True
    assert status["vip_points"] == claim.json()["new_vip_points"]
    assert status["last_claim_at"] is not None


@pytest.mark.django_db(transaction=True)
def test_socket_initial_state_has_profile_aliases_streaks_recent_rewards_and_stats(player: Any) -> None:
    from casino.asgi import application

    client_for(player).post("/api/streak/claim", {"action_type": "DAILY_LOGIN"}, format="json", **key())
    access = tokens_issue(user=player).access

    async def scenario() -> dict[str, Any]:
        communicator = WebsocketCommunicator(application, f"/api/realtime/sync?token={access}")
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await communicator.receive_from(timeout=5)  # sync_connected
        state = json.loads(await communicator.receive_from(timeout=5))
        await communicator.disconnect()
        return state

    state = async_to_sync(scenario)()

    assert state["type"] == "initial_state"
    profile = state["data"]["profile"]
    assert profile["gold"] == profile["cyber_token_balance"] > 1000  # the claim's gold is in
    assert profile["exp"] > 2500
    assert profile["tier"] == profile["vip_tier"] == "STANDARD"
    assert profile["total_spent"] == 0
    assert state["data"]["streaks"]["DAILY_LOGIN"]["count"] == 1
    assert state["data"]["recent_rewards"][0]["action_type"] == "DAILY_LOGIN"
    assert state["data"]["stats"]["experience_points"] == profile["exp"]
