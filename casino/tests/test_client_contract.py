"""The existing web client's journey through the API, in its order, with the
client's habits: `X-Idempotency-Key` on every non-GET, paths without a
trailing slash (its proxy strips them), the fields it reads
(docs/client-contract.md). It grows with the games and events issues.

The shop's rows (answer aliases, status words) and the notifications inbox
are separate tests after the journey."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from accounts.tests.factories import InviteCodeFactory
from shop.tests.factories import GemPriceProductFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Correct-Horse-9"
GOLD_NAMES = ("cyber_token_balance", "gold_balance", "gold")
USER_FIELDS = (
    "id",
    "site_id",
    "nickname",
    "phone_number",
    "is_active",
    "is_admin",
    "created_at",
    "last_login",
    "gold_balance",
    "cyber_token_balance",
    "gold",
    "gems_balance",
    "vip_points",
    "vip_tier",
    "level",
    "experience",
    "experience_points",
    "exp",
    "max_experience",
    "daily_streak",
    "total_spent",
)
PRODUCT_FIELDS = (
    "id",
    "product_id",
    "name",
    "description",
    "price",
    "currency",
    "is_active",
    "remaining_stock",
    "per_user_limit",
    "user_remaining",
)


class Client:
    """The web client as the server sees it."""

    def __init__(self) -> None:
        self.api = APIClient()
        self.access = ""
        self.refresh = ""

    def _auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.access}"} if self.access else {}

    def get(self, path: str) -> Any:
        assert not path.endswith("/"), "the client's proxy strips trailing slashes"
        return self.api.get(path, **self._auth())

    def post(self, path: str, body: dict[str, Any] | None = None, *, key: str | None = None, **headers: str) -> Any:
        assert not path.endswith("/")
        idempotency = {"HTTP_X_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
        return self.api.post(path, body or {}, format="json", **{**self._auth(), **idempotency, **headers})


def assert_fields(body: dict[str, Any], names: tuple[str, ...] | set[str], where: str) -> None:
    missing = [name for name in names if name not in body]
    assert not missing, f"{where} lacks {missing}: {sorted(body)}"


@pytest.fixture
def gold_product() -> Any:
    return GemPriceProductFactory(sku="gems-10", price_type="gold", price_amount=100, grants={"gems": 10})


def sign_up(client: Client) -> dict[str, Any]:
    InviteCodeFactory(code="CLIENT01", max_uses=10)
    response = client.post(
        "/api/auth/signup",
        {
            "site_id": "webclient",
            "nickname": "WebClient",
            "phone_number": "010-1234-5678",
            "invite_code": "CLIENT01",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert_fields(body, ("access_token", "refresh_token", "token_type", "expires_in", "user"), "sign-up")
    assert body["user"]["phone_number"] == "01012345678"
    client.access, client.refresh = body["access_token"], body["refresh_token"]
    return dict(body)


@pytest.fixture
def client(db: Any) -> Iterator[Client]:
    web = Client()
    sign_up(web)
    return web


def test_the_clients_journey_from_sign_up_to_a_purchase(gold_product: Any) -> None:
    web = Client()

    # 1. sign up with the form's dashed phone number
    signup = sign_up(web)
    assert_fields(signup["user"], USER_FIELDS, "sign-up user")
    start_gold = signup["user"]["cyber_token_balance"]
    assert start_gold == signup["user"]["gold_balance"] == signup["user"]["gold"]

    # 2. log in
    login = web.post("/api/auth/login", {"site_id": "webclient", "password": PASSWORD})
    assert login.status_code == 200, login.json()
    assert_fields(login.json(), ("access_token", "refresh_token", "token_type", "expires_in", "user"), "login")
    assert_fields(login.json()["user"], USER_FIELDS, "login user")
    web.access, web.refresh = login.json()["access_token"], login.json()["refresh_token"]

    # 3. refresh, once with a stale Bearer header (the client refreshes after a 401) and once without
    web.access = "expired.access.token"
    with_header = web.post("/api/auth/refresh", {"refresh_token": web.refresh})
    assert with_header.status_code == 200, with_header.json()
    assert_fields(with_header.json(), ("access_token", "refresh_token"), "refresh")
    web.access = ""
    without_header = web.post("/api/auth/refresh", {"refresh_token": with_header.json()["refresh_token"]})
    assert without_header.status_code == 200, without_header.json()
    web.access, web.refresh = without_header.json()["access_token"], without_header.json()["refresh_token"]

    # 4. profile, under both paths
    for path in ("/api/auth/me", "/api/auth/profile"):
        profile = web.get(path)
        assert profile.status_code == 200, (path, profile.json())
        assert_fields(profile.json(), USER_FIELDS, path)
        assert profile.json()["cyber_token_balance"] == start_gold

    # 5. balance
    balance = web.get("/api/users/balance").json()
    assert_fields(
        balance,
        (*GOLD_NAMES, "gems_balance", "gems", "user_id", "nickname", "daily_streak", "experience_points"),
        "balance",
    )
    assert balance["cyber_token_balance"] == start_gold

    # 6. home screen
    home = web.get("/api/dashboard")
    assert home.status_code == 200
    assert_fields(home.json(), ("profile", "balances", "streak", "vip", "events", "missions"), "dashboard")
    assert_fields(home.json()["streak"], ("count", "claimed_today", "next_reward", "attendance_week"), "streak")
    assert_fields(home.json()["vip"], ("vip_points", "claimed_today", "last_claim_at"), "vip")
    assert home.json()["profile"]["cyber_token_balance"] == start_gold

    # 7. daily streak: status, tick, claim, a second claim, the retry
    streak_fields = (
        "count",
        "current_count",
        "claimed_today",
        "today_reward_gold",
        "today_reward_xp",
        "next_day_reward_gold",
        "next_day_reward_xp",
        "last_action_date",
    )
    for path in ("/api/streak/status", "/api/streak/preview"):
        assert_fields(web.get(path).json(), streak_fields, path)
    tick = web.post("/api/streak/tick", {"action_type": "DAILY_LOGIN"})
    assert tick.status_code == 200 and tick.json()["count"] == 1
    claim_key = str(uuid.uuid4())
    claim = web.post("/api/streak/claim", {"action_type": "DAILY_LOGIN"}, key=claim_key)
    assert claim.status_code == 200, claim.json()
    claim_fields = ("streak_count", "awarded_gold", "awarded_xp", "new_gold_balance", "claimed_at")
    assert_fields(claim.json(), claim_fields, "claim")
    second = web.post("/api/streak/claim", {"action_type": "DAILY_LOGIN"})
    assert 400 <= second.status_code < 500
    assert "already claimed" in second.json()["message"]
    assert web.post("/api/streak/claim", {"action_type": "DAILY_LOGIN"}, key=claim_key).json() == claim.json()
    gold = claim.json()["new_gold_balance"]

    # 8. VIP
    assert_fields(web.get("/api/vip/status").json(), ("claimed_today", "vip_points", "last_claim_at"), "vip status")
    vip = web.post("/api/vip/claim")
    assert vip.status_code == 200, vip.json()
    assert_fields(vip.json(), ("awarded_points", "new_vip_points", "claimed_at"), "vip claim")

    # 9. recent actions, with the timestamp the client sometimes sends in place of the id
    recent = web.get("/api/actions/recent/1700000000000?limit=5")
    assert recent.status_code == 200
    assert [action["action_type"] for action in recent.json()][:2] == ["VIP_CLAIM", "DAILY_LOGIN"]
    for action in recent.json():
        assert_fields(action, ("id", "action_type", "game_type", "amount", "created_at"), "recent action")

    # 9b. telemetry in the client's old shapes (its user_id is ignored) and the new one: analytics only
    sent = web.post("/api/actions", {"user_id": 1, "action_type": "screen_view", "context": {"screen": "lobby"}})
    assert (sent.status_code, sent.json()) == (202, {"accepted": 1}), sent.json()
    bulk = web.post("/api/actions/bulk", {"items": [{"action_type": "shop_open"}, {"action_type": "game_open"}]})
    assert (bulk.status_code, bulk.json()) == (202, {"accepted": 2}), bulk.json()
    events = web.post(
        "/api/telemetry/events", {"events": [{"name": "session_start", "client_ts": "2026-12-01T10:00:00Z"}]}
    )
    assert (events.status_code, events.json()) == (202, {"accepted": 1}), events.json()
    assert recent.json() == web.get("/api/actions/recent/1700000000000?limit=5").json(), "telemetry is no action"

    # 10. the shop's catalog under both paths
    for path in ("/api/shop/products", "/api/shop/catalog"):
        catalog = web.get(path)
        assert catalog.status_code == 200, path
        assert "gems-10" in json.dumps(catalog.json())

    # 11. buy with gold, with the socket open: the balance and the order arrive live
    access = web.access

    async def buy_with_socket_open() -> tuple[Any, list[dict[str, Any]]]:
        from casino.asgi import application
        from realtime.push import dispatcher

        # The earlier steps' events leave after their commits, on the push thread: let them go out
        # before the socket opens (to a player with no socket yet), so the socket sees only its own.
        assert await sync_to_async(dispatcher.wait_idle)(10)
        socket = WebsocketCommunicator(application, f"/api/realtime/sync?token={access}")
        connected, _ = await socket.connect(timeout=5)
        assert connected
        greeting = json.loads(await socket.receive_from(timeout=5))
        state = json.loads(await socket.receive_from(timeout=5))
        assert (greeting["type"], state["type"]) == ("sync_connected", "initial_state")
        assert_fields(state["data"], ("profile", "streaks", "recent_rewards", "stats"), "initial_state")
        assert_fields(state["data"]["profile"], ("gold", "exp", "tier", "total_spent"), "initial_state.profile")
        await socket.send_to(text_data="ping")
        assert await socket.receive_from(timeout=5) == "pong"
        bought = await sync_to_async(web.post)("/api/shop/buy", {"product_id": "gems-10", "quantity": 1})
        events = []
        while not await socket.receive_nothing(timeout=1):
            events.append(json.loads(await socket.receive_from(timeout=5)))
        await socket.disconnect()
        return bought, events

    bought, events = async_to_sync(buy_with_socket_open)()
    assert bought.status_code in (200, 201), bought.json()
    types = {event["type"] for event in events}
    assert {"balance_update", "purchase_update"} <= types, types
    for event in events:
        assert_fields(event, ("type", "user_id", "data", "timestamp"), f"event {event['type']}")

    # 12. afterwards the client reads the gold it has left and its history
    after = web.get("/api/users/balance").json()
    assert after["cyber_token_balance"] == gold - 100
    assert after["gems"] == 10
    assert web.get("/api/auth/me").json()["total_spent"] == 100
    history = web.get("/api/actions/recent/0").json()
    assert history[0]["action_type"] == "PURCHASE" and history[0]["amount"] == -100
    assert web.get("/api/shop/transactions").status_code == 200


def test_shop_rows_serve_the_clients_names(client: Client, gold_product: Any) -> None:
    catalog = client.get("/api/shop/products").json()
    rows = catalog if isinstance(catalog, list) else catalog.get("items") or catalog.get("products") or []
    assert_fields(rows[0], PRODUCT_FIELDS, "product")
    bought = client.post("/api/shop/buy", {"product_id": "gems-10", "quantity": 1}).json()
    assert_fields(
        bought,
        (
            "success",
            "product_id",
            "quantity",
            "gold_granted",
            "gold_spent",
            "new_gold_balance",
            "new_balance",
            "cyber_token_balance",
            "items",
            "receipt_code",
            "status",
            "reason_code",
        ),
        "buy",
    )
    history = client.get("/api/shop/transactions").json()
    assert_fields(history, ("transactions", "items"), "transactions")
    assert_fields(history["transactions"][0], ("product_id", "status", "amount", "receipt_code", "created_at"), "tx")


def test_purchase_update_carries_one_of_the_clients_four_status_words(client: Client, gold_product: Any) -> None:
    access = client.access

    async def scenario() -> list[dict[str, Any]]:
        from casino.asgi import application

        socket = WebsocketCommunicator(application, f"/api/realtime/sync?token={access}")
        await socket.connect(timeout=5)
        await socket.receive_from(timeout=5)
        await socket.receive_from(timeout=5)
        await sync_to_async(client.post)("/api/shop/buy", {"product_id": "gems-10", "quantity": 1})
        events = []
        while not await socket.receive_nothing(timeout=1):
            events.append(json.loads(await socket.receive_from(timeout=5)))
        await socket.disconnect()
        return events

    updates = [event for event in async_to_sync(scenario)() if event["type"] == "purchase_update"]
    assert updates
    for update in updates:
        assert update["data"]["status"] in {"pending", "success", "failed", "idempotent_reuse"}
        assert_fields(update["data"], ("state", "product_id", "receipt_code", "amount", "reason_code"), "purchase")


def test_notifications_list_and_read_all_with_only_the_auth_token_cookie(client: Client, settings: Any) -> None:
    settings.CLIENT_ORIGINS = ["https://client.example"]
    # the client (served from a configured origin) sends its access JWT as the auth_token cookie,
    # no Authorization header
    cookie_only = APIClient()
    cookie_only.cookies["auth_token"] = client.access

    listing = cookie_only.get("/api/notification/list")
    read_all = cookie_only.post(
        "/api/notification/read-all",
        {},
        format="json",
        HTTP_ORIGIN="https://client.example",
        HTTP_X_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )

    assert listing.status_code == 200, listing.content
    assert_fields(listing.json(), ("items", "unread"), "notification list")
    assert read_all.status_code == 200, read_all.content

    # the player's channels for campaigns, read and changed with the cookie alone
    channels = cookie_only.get("/api/notification/settings")
    assert (channels.status_code, channels.json()) == (200, {"in_app": True, "push": True, "email": True})
    changed = cookie_only.put(
        "/api/notification/settings", {"email": False}, format="json", HTTP_ORIGIN="https://client.example"
    )
    assert (changed.status_code, changed.json()) == (200, {"in_app": True, "push": True, "email": False})
    assert cookie_only.get("/api/notification/settings").json()["email"] is False


EVENT_FIELDS = (
    "id",
    "title",
    "description",
    "event_type",
    "start_date",
    "end_date",
    "rewards",
    "requirements",
    "image_url",
    "priority",
    "participation_count",
    "user_participation",
)
MISSION_ROW_FIELDS = ("mission", "current_progress", "completed", "claimed", "reset_at")
MISSION_FIELDS = (
    "id",
    "title",
    "description",
    "mission_type",
    "category",
    "target_value",
    "rewards",
    "icon",
    "reset_period",
)


def test_the_events_and_missions_panels(client: Client) -> None:
    from events.tests.factories import MissionTemplateFactory, event_with

    # Given a running event and a daily mission, each needing two rounds
    event = event_with({"rounds_played": 2}, title="Weekend rush", reward_gold=300)
    mission = MissionTemplateFactory(period="daily", target=2, reward_gold=150, title="Play twice")

    # 1. the events panel, under its three paths
    for path in ("/api/events", "/api/events/active", f"/api/events/{event.pk}"):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.content)
        rows = answer.json() if isinstance(answer.json(), list) else [answer.json()]
        row = next(item for item in rows if item["id"] == event.pk)
        assert_fields(row, EVENT_FIELDS, path)
        assert_fields(row["user_participation"], ("joined", "progress", "completed", "claimed"), path)
        assert row["user_participation"]["joined"] is False

    # 2. join (idempotent)
    joined = client.post("/api/events/join", {"event_id": event.pk})
    assert joined.status_code in (200, 201), joined.json()
    assert_fields(joined.json(), ("progress", "completed", "claimed_rewards"), "join")
    assert client.post("/api/events/join", {"event_id": event.pk}).status_code == 200

    # 3. the missions panel, before playing
    for path in ("/api/events/missions/daily", "/api/events/missions/weekly", "/api/events/missions/all"):
        assert client.get(path).status_code == 200, path
    daily = client.get("/api/events/missions/daily").json()
    row = next(item for item in daily if item["mission"]["id"] == mission.pk)
    assert_fields(row, MISSION_ROW_FIELDS, "mission row")
    assert_fields(row["mission"], MISSION_FIELDS, "mission")
    assert (row["current_progress"], row["completed"], row["mission"]["rewards"]["gold"]) == (0, False, 150)

    # 4. the client still sends progress: refused, nothing changes
    for path in ("/api/events/missions/progress", f"/api/events/progress/{event.pk}"):
        sent = client.api.put(
            path,
            {"mission_id": mission.pk, "progress_increment": 99, "progress": {"rounds_played": 99}},
            format="json",
            HTTP_X_IDEMPOTENCY_KEY=str(uuid.uuid4()),
            **client._auth(),
        )
        assert 400 <= sent.status_code < 500, (path, sent.status_code)
        assert sent.json()["error"] == "progress_is_server_side"
    assert client.get("/api/events/missions/daily").json()[0]["current_progress"] == 0

    # 5. play two rounds through the game's endpoint: progress comes from the server
    for _ in range(2):
        played = client.post("/api/games/rps/play", {"choice": "rock", "bet_amount": 10})
        assert played.status_code == 200, played.json()
    event_row = client.get(f"/api/events/{event.pk}").json()
    assert (event_row["user_participation"]["completed"], event_row["user_participation"]["claimed"]) == (True, False)
    row = next(item for item in client.get("/api/events/missions/daily").json() if item["mission"]["id"] == mission.pk)
    assert (row["current_progress"], row["completed"], row["claimed"]) == (2, True, False)
    home = client.get("/api/dashboard").json()
    assert [item["current_progress"] for item in home["missions"] if item["mission_id"] == mission.pk] == [2]
    assert [item["completed"] for item in home["events"] if item["id"] == event.pk] == [True]

    # 6. claim the mission (a second claim is refused), then the event
    gold = client.get("/api/users/balance").json()["cyber_token_balance"]
    claimed = client.post(f"/api/events/missions/claim/{mission.pk}")
    assert claimed.status_code == 200, claimed.json()
    assert_fields(claimed.json(), ("rewards", "new_balance", "claimed"), "mission claim")
    assert (claimed.json()["rewards"]["gold"], claimed.json()["new_balance"]) == (150, gold + 150)
    again = client.post(f"/api/events/missions/claim/{mission.pk}")
    assert again.status_code == 409 and again.json()["error"] == "reward_already_claimed"
    event_claim = client.post(f"/api/events/claim/{event.pk}")
    assert event_claim.status_code == 200, event_claim.json()
    assert_fields(event_claim.json(), ("rewards", "reward_items", "awarded_gold", "new_balance"), "event claim")
    assert event_claim.json()["new_balance"] == gold + 150 + 300
    row = next(item for item in client.get("/api/events/missions/all").json() if item["mission"]["id"] == mission.pk)
    assert row["claimed"] is True


def test_the_game_screens(client: Client) -> None:
    """The four game screens, the stats and history pages, in the client's order and with its
    habits (an X-Idempotency-Key on every play; the crash point only once a round is over)."""
    start = client.get("/api/users/balance").json()["cyber_token_balance"]
    access = client.access

    # 1. slots, with the socket open: the round arrives live as game_event (subtype slot_spin)
    async def spin_with_socket_open() -> tuple[Any, list[dict[str, Any]]]:
        from casino.asgi import application

        socket = WebsocketCommunicator(application, f"/api/realtime/sync?token={access}")
        connected, _ = await socket.connect(timeout=5)
        assert connected
        for _ in range(2):  # sync_connected, initial_state
            await socket.receive_from(timeout=5)
        spun = await sync_to_async(client.post)("/api/games/slot/spin", {"bet_amount": 100}, key="spin-1")
        events = []
        while not await socket.receive_nothing(timeout=1):
            events.append(json.loads(await socket.receive_from(timeout=5)))
        await socket.disconnect()
        return spun, events

    spun, events = async_to_sync(spin_with_socket_open)()
    assert spun.status_code == 200, spun.json()
    spin = spun.json()
    assert_fields(spin, ("success", "reels", "win_amount", "is_jackpot", "multiplier", "balance", "feedback"), "spin")
    assert len(spin["reels"][0]) == 3  # the client reads reels[0]
    assert_fields(spin["feedback"], ("code", "severity", "message"), "spin feedback")
    assert spin["balance"] == start - 100 + spin["win_amount"]
    game_events = [event for event in events if event["type"] == "game_event"]
    assert [event["data"]["subtype"] for event in game_events] == ["slot_spin"]
    assert "balance_update" in {event["type"] for event in events}
    # a retry with the same key is the same round, not a second spin
    again = client.post("/api/games/slot/spin", {"bet_amount": 100}, key="spin-1").json()
    assert (again["round_id"], again["balance"]) == (spin["round_id"], spin["balance"])

    # 2. rock-paper-scissors
    rps = client.post("/api/games/rps/play", {"choice": "rock", "bet_amount": 10})
    assert rps.status_code == 200, rps.json()
    assert_fields(rps.json(), ("player_choice", "computer_choice", "result", "win_amount", "balance"), "rps")
    assert rps.json()["result"] in ("win", "lose", "draw")
    wrong = client.post("/api/games/rps/play", {"choice": "lizard", "bet_amount": 10})
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_choice"

    # 3. gacha: the config's odds, then one pull
    config = client.get("/api/games/gacha/config").json()
    assert_fields(config, ("cost_single", "cost_ten", "rarity_table"), "gacha config")
    assert abs(sum(probability for _, probability in config["rarity_table"]) - 1) < 1e-9
    pulled = client.post("/api/games/gacha/pull", {"pull_count": 1})
    assert pulled.status_code == 200, pulled.json()
    assert_fields(pulled.json(), ("items", "balance", "animation_type"), "gacha pull")
    assert_fields(pulled.json()["items"][0], ("name", "rarity"), "gacha item")

    # 4. crash: with an auto target the round is over at once, so the crash point is shown
    auto = client.post("/api/games/crash/bet", {"bet_amount": 50, "auto_cashout_multiplier": 1.5}).json()
    assert_fields(auto, ("game_id", "status", "win_amount", "balance", "max_multiplier"), "crash auto bet")
    assert auto["status"] in ("auto_cashed", "lost") and auto["max_multiplier"] is not None
    # ... a live round shows no crash point until it is over; the cash-out ends it
    live = client.post("/api/games/crash/bet", {"bet_amount": 50}).json()
    assert_fields(live, ("game_id", "status", "balance"), "crash live bet")
    if live["status"] == "running":  # (a crash point of 1.00 ends a round at its start)
        assert live.get("max_multiplier") is None
        assert client.get(f"/api/games/crash/{live['game_id']}").json().get("max_multiplier") is None
        cashed = client.post("/api/games/crash/cashout", {"game_id": live["game_id"]}).json()
        assert_fields(cashed, ("game_id", "status", "win_amount", "balance", "max_multiplier"), "crash cash-out")
        assert cashed["status"] in ("cashed_out", "lost") and cashed["max_multiplier"] is not None

    # 5. the stats page: every game played once or more, counted from the rounds
    stats = client.get("/api/games/stats/me").json()["stats"]
    assert_fields(
        stats,
        ("total_games_played", "total_wins", "total_losses", "overall_max_win", "win_rate", "total_profit",
         "total_bets", "updated_at", "game_breakdown"),
        "stats",
    )  # fmt: skip
    assert set(stats["game_breakdown"]) >= {"slot", "crash", "gacha", "rps"}
    for game in ("slot", "crash", "gacha", "rps"):
        assert_fields(stats["game_breakdown"][game], ("plays", "wins", "losses", "max_win"), f"stats {game}")
    assert stats["game_breakdown"]["slot"]["plays"] == 1 and stats["game_breakdown"]["crash"]["plays"] == 2
    assert stats["total_games_played"] == 5

    # 6. the history page and the profile's recent actions list the rounds
    history = client.get("/api/games/history?limit=3&offset=0").json()
    assert history["total"] == 5 and len(history["items"]) == 3
    for item in history["items"]:
        assert_fields(item, ("id", "game_type", "action_type", "amount", "result", "created_at"), "history item")
    recent = client.get("/api/actions/recent/0?limit=10").json()
    assert {action["game_type"] for action in recent} >= {"slot", "rps", "gacha", "crash"}

    # 7. and the balance the client shows agrees with all of it
    assert client.get("/api/users/balance").json()["cyber_token_balance"] == cashed_or(live, client)


def cashed_or(live: dict[str, Any], client: Client) -> int:
    """The gold after the last round (the crash round's answer holds it once the round is over)."""
    state = client.get(f"/api/games/crash/{live['game_id']}").json()
    return int(state["balance"])
