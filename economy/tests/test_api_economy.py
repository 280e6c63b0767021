from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy.enums import Currency, LedgerReason
from economy.services import wallet_grant, wallet_spend
from economy.streaks import streak_reward
from economy.tests.factories import player_with_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=1000)


@pytest.fixture
def client(player: Any) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    api.user = player  # type: ignore[attr-defined]
    return api


def test_balance_has_the_contract_fields(client: APIClient, player: Any) -> None:
    body = client.get("/api/users/balance").json()

    assert body["user_id"] == player.pk
    assert body["nickname"] == player.nickname
    assert body["gold_balance"] == 1000
    assert body["gems_balance"] == 0
    assert body["daily_streak"] == 0
    assert body["experience_points"] == 0


def test_profile_includes_economy_fields(client: APIClient) -> None:
    body = client.get("/api/auth/me").json()

    assert body["gold_balance"] == 1000
    assert body["level"] == 1
    assert body["max_experience"] == 1000


def test_ledger_is_paginated_newest_first_and_filters(client: APIClient, player: Any) -> None:
    for index in range(3):
        wallet_grant(
            user=player, bundle={Currency.GEMS: 10}, reason=LedgerReason.EVENT_REWARD, idempotency_key=f"e{index}"
        )
    wallet_spend(user=player, bundle={Currency.GOLD: 100}, reason=LedgerReason.PURCHASE, idempotency_key="p")

    page = client.get("/api/wallet/ledger?limit=2").json()
    gems = client.get("/api/wallet/ledger?currency=gems").json()
    purchases = client.get("/api/wallet/ledger?reason=purchase").json()
    future = client.get("/api/wallet/ledger?since=2099-01-01T00:00:00Z").json()

    assert page["total"] == 5
    assert len(page["items"]) == 2
    assert page["items"][0]["reason"] == "purchase"
    assert page["items"][0]["delta"] == -100
    assert page["next"]
    assert gems["total"] == 3
    assert [item["balance_after"] for item in purchases["items"]] == [900]
    assert future["total"] == 0


@pytest.mark.parametrize("query", ["currency=diamonds", "reason=free_money", "since=yesterday", "limit=-1&offset=x"])
def test_ledger_bad_filters_are_400_not_500(client: APIClient, query: str) -> None:
    response = client.get(f"/api/wallet/ledger?{query}")

    assert response.status_code in {200, 400}
    if response.status_code == 400:
        assert response.json()["error"] == "validation_error"


def test_streak_claim_endpoint_and_status(client: APIClient) -> None:
    when = datetime(2026, 5, 6, 10, tzinfo=UTC)  # a Wednesday
    with time_machine.travel(when, tick=False):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=client.user).access}")
        before = client.get("/api/streak/status").json()
        claim = client.post("/api/streak/claim").json()
        again_response = client.post("/api/streak/claim")
        again = again_response.json()
        after_response = client.get("/api/streak/preview")
        assert after_response.status_code == 200, after_response.content
        after = after_response.json()
        history = client.get("/api/streak/history?year=2026&month=5").json()

    assert before["claimed_today"] is False
    assert before["today_reward_gold"] == streak_reward(1).gold
    assert claim["streak_count"] == 1
    assert claim["awarded_gold"] == streak_reward(1).gold
    assert claim["new_gold_balance"] == 1000 + streak_reward(1).gold
    assert claim["idempotent"] is False
    assert again_response.status_code == 409
    assert again["error"] == "already_claimed"
    assert "already claimed" in again["message"]  # the web client matches these words
    assert again["first_claim"] == {
        key: claim[key] for key in ("streak_count", "awarded_gold", "awarded_xp", "new_gold_balance", "claimed_at")
    }
    assert after["claimed_today"] is True
    assert after["count"] == 1
    assert after["next_day_reward_gold"] == streak_reward(2).gold
    assert after["attendance_week"][0]["date"] == "2026-05-03"  # Sunday
    assert [d["checked_in"] for d in after["attendance_week"]] == [False, False, False, True, False, False, False]
    assert after["month_count"] == 1
    assert history["days"] == ["2026-05-06"]


def test_streak_tick_records_attendance_without_paying(client: APIClient, player: Any) -> None:
    first = client.post("/api/streak/tick").json()
    second = client.post("/api/streak/tick").json()

    assert (first["count"], first["checked_in_now"]) == (1, True)
    assert (second["count"], second["checked_in_now"]) == (1, False)
    assert client.get("/api/users/balance").json()["gold_balance"] == 1000


@pytest.mark.parametrize("query", ["year=1999&month=1", "year=2026&month=13", "year=abc"])
def test_streak_history_validates(client: APIClient, query: str) -> None:
    response = client.get(f"/api/streak/history?{query}")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_vip_claim_once_per_day_by_tier(client: APIClient, player: Any) -> None:
    from economy.models import Wallet

    Wallet.objects.filter(pk=player.pk).update(vip_tier="PREMIUM")

    first = client.post("/api/vip/claim").json()
    second_response = client.post("/api/vip/claim")
    second = second_response.json()
    status = client.get("/api/vip/status").json()

    assert first["awarded_points"] == 100
    assert first["idempotent"] is False
    assert second_response.status_code == 409
    assert second["error"] == "already_claimed"
    assert "already claimed" in second["message"]
    assert second["first_claim"]["new_vip_points"] == first["new_vip_points"] == 100
    assert status["claimed_today"] is True
    assert status["vip_points"] == 100
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1)):
        tomorrow = APIClient()
        tomorrow.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
        assert tomorrow.get("/api/vip/status").json()["claimed_today"] is False
        assert tomorrow.post("/api/vip/claim").json()["new_vip_points"] == 200


def test_standard_tier_gets_the_base_amount(client: APIClient) -> None:
    assert client.post("/api/vip/claim").json()["awarded_points"] == 50


def test_client_idempotency_key_replays_the_claim_response(client: APIClient) -> None:
    first = client.post("/api/vip/claim", HTTP_X_IDEMPOTENCY_KEY="c-1")
    second = client.post("/api/vip/claim", HTTP_X_IDEMPOTENCY_KEY="c-1")

    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"


def test_amount_from_the_client_is_ignored(client: APIClient) -> None:
    claim = client.post("/api/streak/claim", {"amount": 999999, "awarded_gold": 999999}, format="json").json()

    assert claim["awarded_gold"] == streak_reward(1).gold


def test_dashboard_has_every_section(client: APIClient, player: Any) -> None:
    body = client.get("/api/dashboard").json()

    assert body["profile"]["id"] == player.pk
    assert body["balances"] == {
        "cyber_token_balance": 1000,
        "gold_balance": 1000,
        "gold": 1000,
        "gems_balance": 0,
        "gems": 0,
        "vip_points": 0,
    }
    assert body["level"]["level"] == 1
    assert body["streak"]["claimed_today"] is False
    assert body["streak"]["next_reward"] == {"gold": streak_reward(1).gold, "xp": streak_reward(1).xp}
    assert len(body["streak"]["attendance_week"]) == 7
    assert body["vip"]["claimed_today"] is False
    assert body["events"] == body["missions"] == body["shop_highlights"] == []


def test_dashboard_etag_gives_304_until_something_changes(
    client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    first = client.get("/api/dashboard")
    etag = first["ETag"]

    unchanged = client.get("/api/dashboard", HTTP_IF_NONE_MATCH=etag)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/streak/claim")
    after_claim = client.get("/api/dashboard", HTTP_IF_NONE_MATCH=etag)

    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert after_claim.status_code == 200
    assert after_claim["ETag"] != etag
    assert after_claim.json()["streak"]["claimed_today"] is True
    assert after_claim.json()["balances"]["gold_balance"] == 1000 + streak_reward(1).gold


def test_dashboard_is_fresh_right_after_a_balance_change_from_elsewhere(
    client: APIClient, player: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client.get("/api/dashboard")  # cached now

    with django_capture_on_commit_callbacks(execute=True):
        wallet_grant(user=player, bundle={Currency.GEMS: 7}, reason=LedgerReason.EVENT_REWARD, idempotency_key="x")

    assert client.get("/api/dashboard").json()["balances"]["gems_balance"] == 7


def test_uncached_dashboard_stays_within_a_fixed_number_of_queries(
    client: APIClient, django_assert_max_num_queries: Any
) -> None:
    client.get("/api/users/balance")  # today's activity mark is written (its first of the day costs 3)
    # Authentication, the wallet, the streak, the VIP state, the profile, the shop's highlights,
    # then one query per section other apps register: the live events and today's missions.
    with django_assert_max_num_queries(10):
        response = client.get("/api/dashboard")

    assert response.status_code == 200


def test_a_dashboard_build_reads_the_wallet_streak_vip_claim_and_spending_in_one_statement(
    client: APIClient, player: Any
) -> None:
    from casino.tests.statements import statements_sent
    from economy.models import Wallet
    from economy.services import streak_claim, vip_claim

    streak_claim(user=player)
    vip_claim(user=player)
    wallet_spend(user=player, bundle={Currency.GOLD: 30}, reason=LedgerReason.GAME_BET, idempotency_key="bet")
    client.get("/api/users/balance")  # today's activity mark is written

    with statements_sent() as sent:
        body = client.get("/api/dashboard").json()

    together = [sql for sql in sent if "economy_wallet" in sql]
    assert len(together) == 1
    assert all(table in together[0] for table in ("economy_dailystreak", "economy_ledgerentry"))
    assert not [sql for sql in sent if "economy_dailystreak" in sql and sql is not together[0]]
    assert (body["streak"]["count"], body["streak"]["claimed_today"]) == (1, True)
    assert body["vip"]["claimed_today"] is True
    assert body["profile"]["total_spent"] == 30
    assert body["balances"]["gold_balance"] == Wallet.objects.get(pk=player.pk).gold


def test_economy_endpoints_require_authentication(api_client: APIClient) -> None:
    for method, path in [
        ("get", "/api/users/balance"),
        ("get", "/api/wallet/ledger"),
        ("post", "/api/streak/claim"),
        ("post", "/api/vip/claim"),
        ("get", "/api/dashboard"),
    ]:
        response = getattr(api_client, method)(path)
        assert response.status_code == 401, path


def test_an_account_created_without_signing_up_reads_as_empty_and_gets_a_wallet_on_first_write(
    staff_user: Any,
) -> None:
    from economy.models import Wallet
    from realtime.registry import initial_state_for

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=staff_user).access}")
    assert not Wallet.objects.filter(pk=staff_user.pk).exists()

    balance = api.get("/api/users/balance")
    dashboard = api.get("/api/dashboard")
    vip = api.get("/api/vip/status")
    socket_state = initial_state_for(staff_user)
    opened_by_reading = Wallet.objects.filter(pk=staff_user.pk).exists()
    claim = api.post("/api/vip/claim")

    assert balance.status_code == dashboard.status_code == vip.status_code == 200
    assert (balance.json()["gold_balance"], balance.json()["vip_tier"], balance.json()["level"]) == (0, "STANDARD", 1)
    assert dashboard.json()["balances"] == {
        "cyber_token_balance": 0,
        "gold_balance": 0,
        "gold": 0,
        "gems_balance": 0,
        "gems": 0,
        "vip_points": 0,
    }
    assert (vip.json()["vip_tier"], vip.json()["daily_points"], vip.json()["claimed_today"]) == ("STANDARD", 50, False)
    assert socket_state["balances"]["gold_balance"] == 0
    assert opened_by_reading is False
    assert claim.status_code == 200
    assert claim.json()["awarded_points"] == 50
    assert Wallet.objects.get(pk=staff_user.pk).vip_points == 50


@pytest.mark.parametrize("backend", ["configured", "locmem"])
def test_dashboard_version_counts_up_from_nothing(backend: str, settings: Any) -> None:
    from django.core.cache import cache

    from economy.dashboard_cache import dashboard_invalidate, dashboard_version_key

    if backend == "locmem":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    key = dashboard_version_key(4242)
    cache.delete(key)

    dashboard_invalidate(4242)
    dashboard_invalidate(4242)

    assert cache.get(key) == 2
