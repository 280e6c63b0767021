"""Redis goes down: nothing that runs after a commit turns the committed
success into an error (design promise 9).

Each test starts a ``redis-server`` of its own (``throwaway_redis``), points the
cache, the channel layer and the sliding windows at it, kills it, and then
drives the real endpoints: the answer is a success with the ledger changed
exactly once, never a 500. The activity mark, the dashboard cache and the
WebSocket push fail open (``docs/architecture.md``, "A dependency going down").
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.activity import record_activity
from accounts.tokens import tokens_issue
from casino import degraded
from economy.dashboard_cache import dashboard_invalidate
from economy.enums import LedgerReason
from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from economy.tests.factories import player_with_wallet
from realtime.push import dispatcher
from realtime.tests.conftest import ThrowawayRedis
from shop.models import Order, OrderStatus
from shop.tests.factories import GemPriceProductFactory, MoneyProductFactory

pytestmark = pytest.mark.django_db(transaction=True)


def failures(use: str, dependency: str = "redis") -> float:
    return REGISTRY.get_sample_value("dependency_failures_total", {"dependency": dependency, "use": use}) or 0.0


def client_of(player: Any) -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a 500 must show as a response, as a real client sees it
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    return client


def ledger_of(player: Any) -> list[tuple[str, str, int]]:
    return list(
        LedgerEntry.objects.filter(wallet__user_id=player.pk).order_by("pk").values_list("reason", "currency", "delta")
    )


@pytest.fixture(autouse=True)
def _log_every_failure() -> None:
    degraded.forget_log_times()


def test_a_streak_claim_with_redis_dead_commits_once_and_answers_success(throwaway_redis: ThrowawayRedis) -> None:
    # Given a player with a wallet, and Redis dead
    player = player_with_wallet(gold=1000)
    client = client_of(player)
    before = ledger_of(player)
    activity_failures, cache_failures = failures("activity"), failures("dashboard_cache")
    throwaway_redis.kill()

    # When they claim the daily streak, then claim again
    first = client.post("/api/streak/claim", HTTP_IDEMPOTENCY_KEY="claim-1")
    again = client.post("/api/streak/claim", HTTP_IDEMPOTENCY_KEY="claim-2")

    # Then the claim succeeded and the ledger moved exactly once; the repeat is refused cleanly
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["streak_count"] == 1 and body["awarded_gold"] > 0
    assert again.status_code == 409, again.content
    assert again.json()["error"] == "already_claimed"
    new_entries = ledger_of(player)[len(before) :]
    assert [(reason, currency) for reason, currency, _ in new_entries if currency == "gold"] == [
        (LedgerReason.STREAK_DAILY, "gold")
    ]
    assert Wallet.objects.get(user_id=player.pk).gold == 1000 + body["awarded_gold"] == body["new_gold_balance"]
    # ... and Redis being down was counted, not raised
    assert failures("activity") > activity_failures
    assert failures("dashboard_cache") > cache_failures


def test_a_gold_purchase_with_redis_dead_commits_once_and_answers_success(throwaway_redis: ThrowawayRedis) -> None:
    # Given a player with gold, a product priced in gold, and Redis dead
    player = player_with_wallet(gold=5000)
    product = GemPriceProductFactory(price_type="gold", price_amount=100, grants={"gems": 5})
    client = client_of(player)
    throwaway_redis.kill()

    # When they buy it (and the client retries with the same key)
    response = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="buy-1")
    retry = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="buy-1")

    # Then it is one fulfilled order, one posting, and the retry replays it
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "fulfilled"
    assert retry.status_code == 201 and retry.json() == response.json()
    order = Order.objects.get(user_id=player.pk)
    assert order.status == OrderStatus.FULFILLED
    purchase = [(c, d) for r, c, d in ledger_of(player) if r == LedgerReason.PURCHASE]
    assert sorted(purchase) == [("gems", 5), ("gold", -100)]
    wallet = Wallet.objects.get(user_id=player.pk)
    assert (wallet.gold, wallet.gems) == (4900, 5)


def test_a_money_purchase_with_redis_dead_is_held_for_review_not_an_error(throwaway_redis: ThrowawayRedis) -> None:
    # Given a player, a real-money product, and Redis (the fraud windows) dead
    player = player_with_wallet()
    product = MoneyProductFactory()
    client = client_of(player)
    throwaway_redis.kill()

    # When they buy it
    response = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_IDEMPOTENCY_KEY="buy-m")

    # Then the order exists once, held for review (the fraud features were unavailable), and nothing failed
    assert response.status_code == 201, response.content
    order = Order.objects.get(user_id=player.pk)
    assert order.status == OrderStatus.PENDING_REVIEW
    assert response.json()["receipt_code"] == order.receipt_code


def test_the_dashboard_with_redis_dead_is_built_from_the_database(throwaway_redis: ThrowawayRedis) -> None:
    # Given a player, and Redis dead
    player = player_with_wallet(gold=1234)
    client = client_of(player)
    throwaway_redis.kill()

    # When they open the dashboard
    response = client.get("/api/dashboard")

    # Then it is served, uncached, with their balance
    assert response.status_code == 200, response.content
    assert b"1234" in response.content
    assert response["ETag"]


def test_after_commit_work_with_redis_dead_raises_nothing(throwaway_redis: ThrowawayRedis, user: Any) -> None:
    # Given Redis dead
    throwaway_redis.kill()
    pushes = failures("push")

    # When a grant commits (its push and dashboard bump run on commit), and the helpers run directly
    with transaction.atomic():
        wallet_grant(user=user, bundle={"gold": 5}, reason=LedgerReason.EVENT_REWARD, idempotency_key="g1")
    dashboard_invalidate(user.pk)
    written = record_activity(user.pk)

    # Then nothing raised: the grant is committed, the push failed quietly, the activity row was written
    assert dispatcher.wait_idle(10)
    assert failures("push") > pushes
    assert Wallet.objects.get(user_id=user.pk).gold == 5
    assert written is True
    user.refresh_from_db()
    assert user.last_seen_at is not None


def test_a_push_that_raises_on_commit_does_not_fail_the_committed_request(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a channel layer that raises as soon as it is touched
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError("channel layer down")

    monkeypatch.setattr("realtime.services.get_channel_layer", broken)
    pushes = failures("push", dependency="channel_layer")

    # When a grant commits
    with transaction.atomic():
        wallet_grant(user=user, bundle={"gold": 7}, reason=LedgerReason.EVENT_REWARD, idempotency_key="g2")

    # Then the commit stands and the failed push was counted
    assert Wallet.objects.get(user_id=user.pk).gold == 7
    assert failures("push", dependency="channel_layer") == pushes + 1


def test_the_log_of_a_quiet_failure_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    # Given a use that fails many times in a row
    degraded.forget_log_times()
    with caplog.at_level("WARNING", logger="casino.degraded"):
        for _ in range(50):
            degraded.dependency_failed(dependency="redis", use="test_use", error=ConnectionError("down"))

    # Then each failure is counted but only the first is logged
    assert failures("test_use") >= 50
    assert len([r for r in caplog.records if "test_use" in r.getMessage()]) == 1
