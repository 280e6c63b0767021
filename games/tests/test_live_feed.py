"""The live feed: big wins and jackpots reach every connected player (the real WebSocket
consumer on the Redis channel layer) with a nickname only, after the round commits, and are
counted in /api/metrics/global."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from casino.asgi import application
from casino.degraded import dependency_failures
from economy.services import wallet_grant
from games.services import Decision, Draw, round_play
from realtime.feed import broadcast_feed, feed_counts
from realtime.push import dispatcher

FEED_FIELDS = {"kind", "game", "nickname", "amount", "multiplier", "at"}


def fund(user: Any, gold: int = 1_000_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, key: str, *, payout: int, bet: int = 100, game: str = "rps", jackpot: bool = False) -> Any:
    def decide(draw: Draw) -> Decision:
        event = {"is_jackpot": True} if jackpot else {}
        return Decision(payout=payout, inputs={}, outcome={"is_jackpot": jackpot}, subtype="test", event=event)

    return round_play(user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint=key, decide=decide)


def watch_feed(watchers: list[Any], action: Any, *, items: int) -> list[list[dict[str, Any]]]:
    """Connect a socket per watcher, run ``action`` (sync, its own transactions), and collect
    the first ``items`` live_feed messages each socket receives."""

    tokens = [tokens_issue(user=watcher).access for watcher in watchers]

    async def scenario() -> list[list[dict[str, Any]]]:
        sockets = []
        for access in tokens:
            communicator = WebsocketCommunicator(application, f"/api/realtime/sync?token={access}")
            connected, _ = await communicator.connect(timeout=5)
            assert connected
            assert json.loads(await communicator.receive_from(timeout=5))["type"] == "sync_connected"
            assert json.loads(await communicator.receive_from(timeout=5))["type"] == "initial_state"
            sockets.append(communicator)
        await sync_to_async(action)()
        received: list[list[dict[str, Any]]] = []
        for communicator in sockets:
            feed: list[dict[str, Any]] = []
            while len(feed) < items:
                message = json.loads(await communicator.receive_from(timeout=5))
                if message["type"] == "live_feed":
                    feed.append(message)
            received.append(feed)
            await communicator.disconnect()
        return received

    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_big_win_reaches_every_connected_player_with_the_nickname_only(settings: Any) -> None:
    # Given two connected players and a third who plays
    settings.BIG_WIN_THRESHOLD_GOLD = 1000
    first, second = UserFactory(), UserFactory()
    winner: Any = UserFactory(nickname="HighRoller")
    fund(winner)

    # When the third loses, wins less than the threshold, then wins 1500 on a bet of 100
    def rounds() -> None:
        play(winner, "loss", payout=0)
        play(winner, "small", payout=999)
        play(winner, "big", payout=1500)

    feeds = watch_feed([first, second], rounds, items=1)

    # Then both sockets' first feed item is the big win, with a nickname and no id
    for (message,) in feeds:
        data = message["data"]
        assert set(data) == FEED_FIELDS
        assert (data["kind"], data["game"], data["nickname"]) == ("big_win", "rps", "HighRoller")
        assert (data["amount"], data["multiplier"]) == (1500, 15.0)
        assert data["at"].endswith("Z")
        assert winner.site_id not in json.dumps(message) and str(winner.phone_number) not in json.dumps(message)


@pytest.mark.django_db(transaction=True)
def test_a_jackpot_is_announced_as_a_jackpot_whatever_it_pays(settings: Any) -> None:
    settings.BIG_WIN_THRESHOLD_GOLD = 1_000_000
    watcher = UserFactory()
    lucky = UserFactory(nickname="Sevens")
    fund(lucky)

    (feed,) = watch_feed(
        [watcher], lambda: play(lucky, "jackpot", payout=500, bet=10, game="slot", jackpot=True), items=1
    )

    data = feed[0]["data"]
    assert (data["kind"], data["game"], data["nickname"], data["amount"], data["multiplier"]) == (
        "jackpot",
        "slot",
        "Sevens",
        500,
        50.0,
    )


@pytest.mark.django_db
def test_big_wins_and_jackpots_are_counted_in_the_global_metrics(
    api_client: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given two big wins, a jackpot and a small win today
    settings.CLICKHOUSE_URL = ""
    settings.BIG_WIN_THRESHOLD_GOLD = 1000
    player = UserFactory()
    fund(player)
    with django_capture_on_commit_callbacks(execute=True):
        play(player, "big-1", payout=2000)
        play(player, "big-2", payout=1000)
        play(player, "jackpot", payout=5000, game="slot", jackpot=True)
        play(player, "small", payout=999)
    dispatcher.wait_idle()
    # When anyone reads the live metrics
    response = api_client.get("/api/metrics/global")
    # Then they count them
    assert response.status_code == 200
    assert (response.json()["big_wins_today"], response.json()["jackpots_today"]) == (2, 1)


@pytest.mark.django_db
def test_a_cache_that_is_down_loses_the_count_not_the_request(settings: Any) -> None:
    # Given a cache that does not answer
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    failures = dependency_failures.labels(dependency="redis", use="live_feed_count")
    before = failures._value.get()
    item = {"kind": "big_win", "game": "rps", "nickname": "X", "amount": 1, "multiplier": 1.0, "at": "now"}
    # When an item is broadcast and the counts are read
    broadcast_feed(item)
    counts = feed_counts()
    # Then nothing raised, the counts read zero and the failures are counted
    assert counts == {"big_wins_today": 0, "jackpots_today": 0}
    assert failures._value.get() >= before + 2
