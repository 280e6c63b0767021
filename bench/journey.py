"""The player scenario's journey (bench/locustfile.py, ``PlayerUser``): one
visit of one player (:class:`Session`) and its steps, exactly one request each.

Sessions as players have them: a visit starts with a sign-up (``signup_ratio``
of visits), a password login (``login_ratio``; production's hasher) or, as most
do, with the refresh token the app kept from the player's last visit
(``refresh``). A token is refreshed again once it is ``access_refresh_s`` old.
A visit lasts ``visit_rounds`` rounds: the journey, then its play steps
again (``PLAY_AGAIN``: no second sign-in or claim), as a player stays a few
minutes. A user that appears when a stage adds users is a player already in a visit
(tokens issued by bench/run.py): it starts at a random step, so no stage
begins with a burst of logins. Login, sign-up and refresh are rows of their
own in the report; the p95 targets are the other endpoints'. A share of the
visits (``socket_ratio``) holds the app's realtime socket while it lasts
(bench/player_socket.py), so what the requests push reaches a player."""

from __future__ import annotations

import random
import time
import uuid
from types import SimpleNamespace
from typing import Any

from bench.api_user import ApiUser
from bench.provider import Provider
from bench.recording import COUNTERS
from bench.scenario import CONFIG, TOKENS, new_signup, next_player

PROVIDER = Provider(CONFIG["database_dsn"])

# Three slot spins and a crash round among sixteen steps: a quarter of the player traffic is game
# rounds (issue 13), each counted towards the live events, missions and achievements bench/seed.py
# runs; the player looks at the events and the day's missions and claims what they completed.
JOURNEY = (
    "auth",
    "dashboard",
    "slot_spin",
    "streak_claim",
    "vip_claim",
    "events",
    "crash_bet",
    "shop_catalog",
    "buy_gems",
    "slot_spin",
    "buy_money",
    "webhook",
    "slot_spin",
    "missions",
    "mission_claim",
    "balance",
)
# The steps of each later round of a visit (``visit_rounds``): the player plays on -- back to the
# lobby, spins, shops, pays, claims missions -- without signing in, claiming the day's rewards or
# looking at the events again.
PLAY_AGAIN = tuple(step for step in JOURNEY if step not in ("auth", "streak_claim", "vip_claim", "events"))
SPIN_BET = 100  # gold: the seeded players hold 50,000 (bench/seed.py), a sign-up gets its bonus
CRASH_CASHOUT = "2.00"  # an automatic cash-out: the round settles in the request


# The newest refresh token of each player (a refresh rotates it; sending an old one again would
# revoke the player's whole session family): seeded from bench/run.py's tokens.
REFRESH_TOKENS: dict[str, str] = {pid: pair["refresh"] for pid, pair in TOKENS.items() if pair.get("refresh")}


class Session:
    """One visit of one player: how it starts (the module docstring), then the journey, step by step."""

    def __init__(self, *, midway: bool = False) -> None:
        draw = random.random()
        signup_ratio = float(CONFIG.get("signup_ratio", 0.1))
        signup = not midway and draw < signup_ratio
        self.player = new_signup() if signup else next_player()
        self.token: str | None = None
        self.token_at = 0.0
        pid = str(self.player.get("id"))
        resumable = pid in REFRESH_TOKENS
        password = draw < signup_ratio + float(CONFIG.get("login_ratio", 0.1))  # a sign-up, or a login
        start = "auth" if password or not resumable else "refresh"
        self.money: SimpleNamespace | None = None  # the pending money order
        # The app's realtime socket, held while the visit lasts (bench/player_socket.py).
        self.holds_socket = bool(CONFIG.get("socket_host")) and random.random() < float(CONFIG.get("socket_ratio", 0))
        steps = list(JOURNEY)
        if signup:
            # A new account has the sign-up gold but no gems: it buys gems with money first.
            steps.remove("buy_gems")
            steps.insert(steps.index("webhook") + 1, "buy_gems")
            # ... and is in no event yet: it joins one from the events list.
            steps.insert(steps.index("events") + 1, "event_join")
        if random.random() < float(CONFIG.get("retry_ratio", 0.05)):
            steps.insert(steps.index("buy_gems") + 1, "buy_gems_retry")
        if random.random() < float(CONFIG.get("webhook_duplicate_ratio", 0.05)):
            steps.insert(steps.index("webhook") + 1, "webhook_duplicate")
        if random.random() < float(CONFIG.get("spin_retry_ratio", 0.05)):
            steps.insert(steps.index("slot_spin") + 1, "slot_spin_retry")
        steps[0] = start
        steps += list(PLAY_AGAIN) * (max(1, int(CONFIG.get("visit_rounds", 1))) - 1)
        self.steps = steps
        self.index = 0
        if midway and pid in TOKENS:  # in the middle of a visit, logged in earlier
            self.token, self.token_at = TOKENS[pid]["access"], time.monotonic()
            self.index = random.randrange(1, len(steps))
        self.gems_buy: tuple[str, bytes] | None = None
        self.spin: tuple[str, int] | None = None  # the last spin's key and round id
        self.delivery: tuple[str, bytes] | None = None
        self.unjoined: list[int] = []  # running events the player is not in (the last events list)
        self.claimable: list[int] = []  # missions completed and not claimed (the last missions list)
        COUNTERS["sessions"] += 1

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps)


class JourneySteps(ApiUser):
    """The steps, ``do_<step>``; the user class that walks them is ``PlayerUser``."""

    abstract = True  # a base class: Locust would otherwise start it as a user of its own

    def do_auth(self, s: Session) -> None:
        p = s.player
        if p.get("new"):
            result = self.call(
                "POST",
                f"{CONFIG['login_host']}/api/auth/signup",  # the login pool, as the load balancer routes it
                "signup",
                player=p,
                body={
                    "site_id": p["site_id"],
                    "nickname": p["nickname"],
                    "phone_number": p["phone_number"],
                    "invite_code": CONFIG["invite_code"],
                    "password": CONFIG["password"],
                },
                expect=(201,),
                check=lambda d, r: None if d and d.get("access_token") else "no access_token",
            )
            COUNTERS["signups"] += 1
        else:
            result = self.call(
                "POST",
                f"{CONFIG['login_host']}/api/auth/login",
                "login",
                player=p,
                body={"site_id": p["site_id"], "password": CONFIG["password"]},
                check=lambda d, r: None if d and d.get("access_token") else "no access_token",
            )
        self._signed_in(s, result)

    def do_refresh(self, s: Session) -> None:
        """The app resumes the visit (or renews an old access token) with the refresh token it kept."""
        pid = str(s.player.get("id"))
        refresh_token = REFRESH_TOKENS.pop(pid, None)
        if refresh_token is None:  # another device of the same player holds it now: sign in with the password
            return self.do_auth(s)
        result = self.call(
            "POST",
            "/api/auth/refresh",
            "refresh",
            player=s.player,
            body={"refresh_token": refresh_token},
            check=lambda d, r: None if d and d.get("access_token") else "no access_token",
        )
        self._signed_in(s, result)
        return None

    def _signed_in(self, s: Session, result: Any) -> None:
        s.token = result[0]["access_token"] if result else None
        s.token_at = time.monotonic()
        if s.token is None:
            s.index = len(s.steps)
            return
        if result[0].get("refresh_token") and s.player.get("id") is not None:
            REFRESH_TOKENS[str(s.player["id"])] = result[0]["refresh_token"]

    def do_dashboard(self, s: Session) -> None:
        self.call("GET", "/api/dashboard", "dashboard", player=s.player, token=s.token)

    def _idem(self) -> dict[str, str]:
        return {"Idempotency-Key": uuid.uuid4().hex}

    def do_streak_claim(self, s: Session) -> None:
        self.call(
            "POST",
            "/api/streak/claim",
            "streak_claim",
            player=s.player,
            token=s.token,
            headers=self._idem(),
            expect=(200, 409),  # a repeat the same day: 409 already_claimed, carrying the first claim
            check=lambda d, r: None if d and "awarded_gold" in d.get("first_claim", d) else "no awarded_gold",
        )

    def do_vip_claim(self, s: Session) -> None:
        self.call(
            "POST",
            "/api/vip/claim",
            "vip_claim",
            player=s.player,
            token=s.token,
            headers=self._idem(),
            expect=(200, 409),
            check=lambda d, r: None if d and "awarded_points" in d.get("first_claim", d) else "no awarded_points",
        )

    def do_shop_catalog(self, s: Session) -> None:
        def has_products(d: Any, r: Any) -> str | None:
            skus = {item.get("product_id") for item in (d or []) if isinstance(item, dict)}  # the catalog is a list
            return None if CONFIG["gems_sku"] in skus and CONFIG["money_sku"] in skus else "bench products missing"

        self.call("GET", "/api/shop/catalog", "shop_catalog", player=s.player, token=s.token, check=has_products)

    def do_buy_gems(self, s: Session) -> None:
        key = uuid.uuid4().hex
        body = {"product_id": CONFIG["gems_sku"], "quantity": 1, "device_id": s.player["device"]}
        result = self.call(
            "POST",
            "/api/shop/buy",
            "buy_gems",
            player=s.player,
            token=s.token,
            body=body,
            headers={"Idempotency-Key": key},
            expect=(201,),
            check=lambda d, r: None if d and d.get("state") == "fulfilled" else f"state {d and d.get('state')}",
        )
        if result:
            s.gems_buy = (key, result[1].content)

    def do_buy_gems_retry(self, s: Session) -> None:
        """The client retries the same purchase (same key, same body): the first answer, byte for byte."""
        if s.gems_buy is None:
            return self.do_balance(s)
        key, first = s.gems_buy

        def same(d: Any, r: Any) -> str | None:
            if r.headers.get("Idempotent-Replayed") != "true":
                return "retry was not a replay"
            if r.content != first:
                return "replay differs from the first answer"
            return None

        result = self.call(
            "POST",
            "/api/shop/buy",
            "buy_gems_retry",
            player=s.player,
            token=s.token,
            body={"product_id": CONFIG["gems_sku"], "quantity": 1, "device_id": s.player["device"]},
            headers={"Idempotency-Key": key},
            expect=(200, 201),
            check=same,
        )
        COUNTERS["replays_ok" if result else "replays_bad"] += 1
        return None

    def do_buy_money(self, s: Session) -> None:
        def pending(d: Any, r: Any) -> str | None:
            state = (d or {}).get("state")  # "status" is the client's word; "state" the order's
            if state == "pending" and d.get("checkout_url"):
                return None
            if state == "pending_review":
                return None  # the fraud rules asked for a review: no checkout, counted below
            return f"state {state}"

        result = self.call(
            "POST",
            "/api/shop/buy",
            "buy_money",
            player=s.player,
            token=s.token,
            body={
                "product_id": CONFIG["money_sku"],
                "quantity": 1,
                "device_id": s.player["device"],
                "payment_instrument": f"card_{s.player['device']}",
            },
            headers=self._idem(),
            expect=(201,),
            check=pending,
        )
        if not result:
            return
        data = result[0]
        if data["state"] == "pending_review":
            COUNTERS["money_orders_in_review"] += 1
            return
        s.money = SimpleNamespace(
            reference=data["checkout_url"].rstrip("/").rsplit("/", 1)[-1],
            receipt=data["receipt_code"],
            instrument=f"card_{s.player['device']}",
        )

    def do_webhook(self, s: Session) -> None:
        if s.money is None:
            return self.do_balance(s)
        payment = PROVIDER.approve(s.money.reference, s.money.instrument)
        if payment is None:
            COUNTERS["provider_approve_missed"] += 1
            return self.do_balance(s)
        msg_id, body, headers = Provider.delivery(payment)
        result = self.call(
            "POST",
            "/api/shop/webhook/payment",
            "webhook",
            player=None,
            raw=body,
            headers=headers,
            check=lambda d, r: None
            if d and d.get("result") == "fulfilled" and not d.get("duplicate")
            else f"webhook result {d}",
        )
        if result:
            COUNTERS["money_orders_fulfilled"] += 1
            s.delivery = (msg_id, body)
        return None

    def do_webhook_duplicate(self, s: Session) -> None:
        """The provider delivers the same event again (same webhook-id, fresh signature)."""
        if s.delivery is None:
            return self.do_balance(s)
        msg_id, body = s.delivery
        result = self.call(
            "POST",
            "/api/shop/webhook/payment",
            "webhook_duplicate",
            player=None,
            raw=body,
            headers=Provider.sign(msg_id, body),
            check=lambda d, r: None if d and d.get("duplicate") is True else f"not acknowledged as duplicate: {d}",
        )
        COUNTERS["webhook_duplicates_ok" if result else "webhook_duplicates_bad"] += 1
        return None

    def do_balance(self, s: Session) -> None:
        self.call(
            "GET",
            "/api/users/balance",
            "balance",
            player=s.player,
            token=s.token,
            check=lambda d, r: None if d and "gold_balance" in d else "no gold_balance",
        )

    def _spin(self, s: Session, name: str, key: str, check: Any) -> Any:
        return self.call(
            "POST",
            "/api/games/slot/spin",
            name,
            player=s.player,
            token=s.token,
            body={"bet_amount": SPIN_BET},
            headers={"Idempotency-Key": key},
            expect=(200, 201),
            check=check,
        )

    def do_slot_spin(self, s: Session) -> None:
        def spun(d: Any, r: Any) -> str | None:
            if not d or not d.get("reels") or not isinstance(d.get("win_amount"), int) or "balance" not in d:
                return "no reels, win_amount or balance"
            return None

        key = uuid.uuid4().hex
        result = self._spin(s, "slot_spin", key, spun)
        if result:
            s.spin = (key, result[0].get("round_id"))
            COUNTERS["spins"] += 1

    def do_slot_spin_retry(self, s: Session) -> None:
        """The client retries the spin (same key, same body): the same round, never a second spin."""
        if s.spin is None:
            return self.do_balance(s)
        key, round_id = s.spin

        def same(d: Any, r: Any) -> str | None:
            return None if d and d.get("round_id") == round_id else f"retry gave round {d and d.get('round_id')}"

        result = self._spin(s, "slot_spin_retry", key, same)
        COUNTERS["spin_replays_ok" if result else "spin_replays_bad"] += 1
        return None

    def do_crash_bet(self, s: Session) -> None:
        def settled(d: Any, r: Any) -> str | None:
            if (
                not d
                or d.get("status") not in ("auto_cashed", "lost")
                or "max_multiplier" not in d
                or "balance" not in d
            ):
                return f"not settled in the request: {d and d.get('status')}"
            return None

        result = self.call(
            "POST",
            "/api/games/crash/bet",
            "crash_bet",
            player=s.player,
            token=s.token,
            body={"bet_amount": SPIN_BET, "auto_cashout_multiplier": CRASH_CASHOUT},
            headers=self._idem(),
            expect=(200, 201),
            check=settled,
        )
        if result:
            COUNTERS["crash_rounds"] += 1

    def do_events(self, s: Session) -> None:
        """The running events, with the player's own participation and progress."""

        def listed(d: Any, r: Any) -> str | None:
            if not isinstance(d, list) or not d:
                return "no running event (bench/seed.py seeds three)"
            if any("user_participation" not in event for event in d):
                return "an event without user_participation"
            return None

        result = self.call("GET", "/api/events/active", "events", player=s.player, token=s.token, check=listed)
        if result:
            s.unjoined = [event["id"] for event in result[0] if not event["user_participation"].get("joined")]

    def do_event_join(self, s: Session) -> None:
        """A new player joins the first running event they are not in (a sign-up's visit only)."""
        if not s.unjoined:
            return self.do_balance(s)
        event_id = s.unjoined.pop(0)
        result = self.call(
            "POST",
            "/api/events/join",
            "event_join",
            player=s.player,
            token=s.token,
            body={"event_id": event_id},
            headers=self._idem(),
            expect=(200, 201),
        )
        if result:
            COUNTERS["event_joins"] += 1
        return None

    def do_missions(self, s: Session) -> None:
        """Today's missions with the player's progress (rounds, bets, wins and claims advance them)."""

        def listed(d: Any, r: Any) -> str | None:
            if not isinstance(d, list) or not d:
                return "no daily mission (bench/seed.py seeds five)"
            return None

        result = self.call(
            "GET", "/api/events/missions/daily", "missions", player=s.player, token=s.token, check=listed
        )
        if result:
            s.claimable = [row["mission"]["id"] for row in result[0] if row.get("completed") and not row.get("claimed")]

    def do_mission_claim(self, s: Session) -> None:
        """Claim one completed mission of the last list; with none to claim, the balance instead."""
        if not s.claimable:
            COUNTERS["mission_claims_none_completed"] += 1
            return self.do_balance(s)
        mission_id = s.claimable.pop(0)
        result = self.call(
            "POST",
            f"/api/events/missions/claim/{mission_id}",
            "mission_claim",
            player=s.player,
            token=s.token,
            headers=self._idem(),
            check=lambda d, r: None if d and d.get("claimed") is True else f"not claimed: {d}",
        )
        if result:
            COUNTERS["mission_claims"] += 1
        return None
