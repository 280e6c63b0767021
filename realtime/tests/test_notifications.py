"""The notification inbox, through the API: written by subscribers to domain
events, read with a Bearer header or the client's ``auth_token`` cookie."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

import realtime
from accounts.tokens import tokens_issue
from economy.services import wallet_adjust
from economy.tests.factories import player_with_wallet
from realtime.models import Notification, OutboxEvent
from realtime.tests.recording import emitted, pushed_while
from shop.tests.factories import GemPriceProductFactory

pytestmark = pytest.mark.django_db
LIST = "/api/notification/list"
ORIGIN = "http://client.example"


@pytest.fixture(autouse=True)
def _client_origin(settings: Any) -> None:
    settings.CLIENT_ORIGINS = [ORIGIN]


@pytest.fixture
def player() -> Any:
    return player_with_wallet(gold=0, gems=2000)


def bearer(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


def cookie(user: Any) -> APIClient:
    """As the web client calls these endpoints: only the auth_token cookie."""
    client = APIClient()
    client.cookies["auth_token"] = tokens_issue(user=user).access
    return client


def buy(player: Any) -> dict[str, Any]:
    product = GemPriceProductFactory()
    response = bearer(player).post(
        "/api/shop/buy", {"product_id": product.sku, "quantity": 1}, format="json", HTTP_IDEMPOTENCY_KEY="buy-1"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def emit_purchase(player: Any, **data: Any) -> None:
    with transaction.atomic():
        realtime.emit("purchase_update", player.pk, {"receipt_code": "RC-1", "product_id": "gold-pack", **data})


def test_a_fulfilled_purchase_lands_in_the_inbox_and_is_pushed_live(player: Any) -> None:
    # given a player who buys a product with gems
    with emitted("notification") as live:
        order = buy(player)

    # when the client reads its inbox with only the cookie
    response = cookie(player).get(LIST)

    # then the purchase is there, unread, and went out on the socket as a notification event
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["unread"] == 1
    assert body["total"] == 1
    [item] = body["items"]
    assert item["kind"] == "purchase_fulfilled"
    assert item["read"] is False
    assert item["title"] == "Purchase complete"
    assert set(item) >= {"id", "title", "body", "kind", "created_at", "read"}
    assert item["data"]["receipt_code"] == order["receipt_code"]
    [event] = live  # the socket's event, carrying the inbox row's key
    assert (event.user_id, event.data["id"], event.data["read"]) == (player.pk, item["id"], False)
    assert not OutboxEvent.objects.filter(type="notification").exists()  # the inbox row is the record


@pytest.mark.django_db(transaction=True)
def test_a_purchase_writes_its_notification_with_its_last_statement_and_pushes_it_with_the_rows_key(
    player: Any,
) -> None:
    # given a player with an open socket who buys a product with gems
    product = GemPriceProductFactory()
    bought: dict[str, Any] = {}

    def purchase() -> None:
        with CaptureQueriesContext(connection) as queries:
            response = bearer(player).post(
                "/api/shop/buy", {"product_id": product.sku, "quantity": 1}, format="json", HTTP_IDEMPOTENCY_KEY="b-1"
            )
        assert response.status_code == 201, response.json()
        bought["writes"] = [q["sql"] for q in queries.captured_queries if "realtime_notification" in q["sql"]]

    messages = pushed_while(player, purchase)

    # then the inbox row went with the order and the outbox rows, in one statement
    [statement] = bought["writes"]
    assert 'INSERT INTO "shop_order"' in statement and "realtime_outboxevent" in statement
    # and the socket was told of it with that row's key, after the purchase's own events
    notification = Notification.objects.get(user=player)
    envelopes = [message["envelope"] for message in messages]
    [told] = [envelope for envelope in envelopes if envelope["type"] == "notification"]
    assert (told["data"]["id"], told["data"]["title"]) == (notification.pk, notification.title)
    assert [envelope["type"] for envelope in envelopes].index("notification") > 0


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"status": "success", "state": "fulfilled"}, "purchase_fulfilled"),
        ({"status": "failed", "state": "refunded"}, "purchase_refunded"),
        ({"status": "refunded"}, "purchase_refunded"),  # an emitter without `state`
        ({"status": "fulfilled"}, "purchase_fulfilled"),
        ({"status": "pending", "state": "pending"}, None),
        ({"status": "failed", "state": "expired"}, None),
        ({"status": "success", "state": "paid"}, None),
    ],
)
def test_purchase_updates_key_off_state_then_status(player: Any, data: dict[str, Any], kind: str | None) -> None:
    emit_purchase(player, **data)

    kinds = list(Notification.objects.filter(user_id=player.pk).values_list("kind", flat=True))

    assert kinds == ([kind] if kind else [])


def test_a_staff_grant_notifies_the_player_but_a_correction_downwards_does_not(player: Any) -> None:
    # given a staff grant of 500 gold and a correction taking 100 gems back
    wallet_adjust(actor=None, user=player, currency="gold", amount=500, reason="apology")
    wallet_adjust(actor=None, user=player, currency="gems", amount=-100, reason="mistake")

    # when the player reads the inbox
    items = bearer(player).get(LIST).json()["items"]

    # then only the gift is there
    assert [(item["kind"], item["body"]) for item in items] == [("staff_grant", "You received 500 gold.")]


def test_event_and_achievement_rewards_notify_but_daily_claims_do_not(player: Any) -> None:
    with transaction.atomic():
        realtime.emit("reward_granted", player.pk, {"source": "event_reward", "amounts": {"gold": 300}})
        realtime.emit("reward_granted", player.pk, {"source": "streak_daily", "amounts": {"gold": 100}})
        realtime.emit("reward_granted", player.pk, {"source": "vip_daily", "amounts": {"vip_points": 10}})

    kinds = list(Notification.objects.filter(user_id=player.pk).values_list("kind", flat=True))

    assert kinds == ["reward_event_reward"]


def test_a_notification_rolls_back_with_its_event(player: Any) -> None:
    def change_that_fails() -> None:
        with transaction.atomic():
            realtime.emit("purchase_update", player.pk, {"state": "fulfilled", "status": "success"})
            raise RuntimeError("the order change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert not Notification.objects.filter(user_id=player.pk).exists()


def test_the_inbox_is_paginated_newest_first_with_the_total_unread(player: Any) -> None:
    for index in range(5):
        emit_purchase(player, state="fulfilled", receipt_code=f"RC-{index}")

    body = bearer(player).get(LIST, {"limit": 2, "offset": 1}).json()

    assert [item["data"]["receipt_code"] for item in body["items"]] == ["RC-3", "RC-2"]
    assert (body["total"], body["unread"], body["limit"], body["offset"]) == (5, 5, 2, 1)


def test_read_marks_one_and_read_all_the_rest_idempotently(player: Any) -> None:
    for index in range(3):
        emit_purchase(player, state="fulfilled", receipt_code=f"RC-{index}")
    client = cookie(player)
    first = client.get(LIST).json()["items"][0]

    read = client.post(f"/api/notification/{first['id']}/read", HTTP_ORIGIN=ORIGIN)
    again = client.post(f"/api/notification/{first['id']}/read", HTTP_ORIGIN=ORIGIN)

    assert read.status_code == again.status_code == 200
    assert read.json()["read"] is True
    assert client.get(LIST).json()["unread"] == 2

    everything = client.post("/api/notification/read-all", HTTP_ORIGIN=ORIGIN)
    twice = client.post("/api/notification/read-all", HTTP_ORIGIN=ORIGIN)

    assert everything.status_code == twice.status_code == 200
    assert everything.json() == {"marked_read": 2, "unread": 0}
    assert twice.json() == {"marked_read": 0, "unread": 0}
    assert all(item["read"] for item in client.get(LIST).json()["items"])


def test_a_player_never_sees_or_reads_another_players_notifications(player: Any) -> None:
    # given another player's notification
    other = player_with_wallet(gold=0)
    emit_purchase(other, state="fulfilled")
    theirs = Notification.objects.get(user_id=other.pk)

    # when the player lists, reads it by id and reads all
    listed = cookie(player).get(LIST).json()
    read = bearer(player).post(f"/api/notification/{theirs.pk}/read")
    bearer(player).post("/api/notification/read-all")

    # then nothing of theirs shows and it stays unread
    assert listed["items"] == [] and listed["unread"] == 0
    assert read.status_code == 404
    assert read.json()["error"] == "notification_not_found"
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_REFERER": "https://evil.example/page"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_ORIGIN": "http://client.example.evil.example"},
        {},  # neither header
    ],
)
def test_a_cross_site_post_with_the_cookie_is_refused(player: Any, headers: dict[str, str]) -> None:
    emit_purchase(player, state="fulfilled")

    response = cookie(player).post("/api/notification/read-all", **headers)

    assert response.status_code == 403
    assert response.json()["error"] == "cross_site_request"
    assert Notification.objects.get(user_id=player.pk).read_at is None


def test_a_same_origin_referer_is_enough(player: Any) -> None:
    response = cookie(player).post("/api/notification/read-all", HTTP_REFERER=f"{ORIGIN}/inbox?x=1")

    assert response.status_code == 200


def test_a_bearer_post_needs_no_origin(player: Any) -> None:
    response = bearer(player).post("/api/notification/read-all", HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 200


def test_without_a_token_or_with_a_bad_cookie_it_is_401(player: Any) -> None:
    anonymous = APIClient().get(LIST)
    bad = APIClient()
    bad.cookies["auth_token"] = "not-a-jwt"
    refused = bad.get(LIST)

    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "not_authenticated"
    assert refused.status_code == 401


def test_a_revoked_token_in_the_cookie_is_refused(player: Any) -> None:
    client = cookie(player)
    player.token_version += 1
    player.save(update_fields=["token_version"])

    response = client.get(LIST)

    assert response.status_code == 401
    assert response.json()["error"] == "token_revoked"


def test_the_cookie_is_accepted_on_the_notification_endpoints_only(player: Any) -> None:
    response = cookie(player).get("/api/users/balance")

    assert response.status_code == 401
