"""Locust scenarios of the bench; started by ``bench/run.py``, configured by the
JSON file named in ``BENCH_CONFIG`` (mode, host, stages, players...).

Two phases, one after the other in one Locust process (``BenchShape``):

``player`` -- the original scenario, **open loop**, at fixed arrival rates.
    Each Locust user is one player's device walking the journey
    sign-up or login -> dashboard -> streak claim -> VIP claim -> shop catalog
    -> buy with gems -> buy with money (pending order at the sandbox provider)
    -> the provider approves and sends its signed webhook -> balance,
    then starts over as the next player of the pool. One step = one request.
    Arrival rate: every user starts one request per *slot*; slots are
    scheduled ahead on the clock (``paced``), a think time drawn uniformly
    from 0.5-1.5 x ``pacing_s`` apart, whatever the previous response took.
    So the request rate is ``users / pacing_s`` and does not drop when the
    server slows down (no coordinated omission) -- until a response takes
    longer than the whole slot; such slots are counted (``late_slots``) and the
    report shows the achieved rate next to the target. The shape sets
    ``users = rate x pacing_s`` per stage.

``saturation`` -- **closed loop**: N users fire back to back (no think time)
    at one endpoint family (``purchase``: buy with gems; ``claim``: streak and
    VIP claims alternately), N rising step by step while throughput grows.
    The shape stops a series when two consecutive steps add < 5 %.

Every request is recorded (start time, name, latency, ok, status) in the
samples CSV that ``bench/analysis.py`` reads; Locust's own CSVs are kept too.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gevent
import gevent.lock
from locust import FastHttpUser, LoadTestShape, constant, events, task

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if "BENCH_CONFIG" not in os.environ:
    raise RuntimeError("bench/locustfile.py is started by bench/run.py (BENCH_CONFIG names its config)")
CONFIG: dict[str, Any] = json.loads(Path(os.environ["BENCH_CONFIG"]).read_text())
PLAYERS: list[dict[str, Any]] = json.loads(Path(CONFIG["players_path"]).read_text())
PACING_S: float = float(CONFIG.get("pacing_s", 2.0))
PROVIDER_IP = "192.0.2.10"  # TEST-NET-1: the payment provider's address as the balancer sees it

import django  # noqa: E402

django.setup()  # bench.settings: only for the webhook secret and the provider's payload/signature helpers

from django.conf import settings  # noqa: E402

from shop.providers.sandbox import WebhookEventType, webhook_payload  # noqa: E402
from shop.webhooks import signature_headers  # noqa: E402

# --- recording -----------------------------------------------------------------------------

_samples = open(CONFIG["samples_path"], "w", buffering=1 << 16)  # noqa: SIM115 - closed at quit
_samples.write("start,name,ms,ok,status\n")
COUNTERS: collections.Counter[str] = collections.Counter()
ERRORS: collections.Counter[str] = collections.Counter()
_ok_by_second: collections.Counter[int] = collections.Counter()


@events.request.add_listener
def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    exception: BaseException | None = None,
    start_time: float | None = None,
    response: Any = None,
    **_: Any,
) -> None:
    started = start_time if start_time is not None else time.time() - response_time / 1000
    status = getattr(response, "status_code", 0) or 0
    _samples.write(f"{started:.4f},{name},{response_time:.3f},{0 if exception else 1},{status}\n")
    if exception is not None:
        ERRORS[f"{name}: {str(exception)[:160]}"] += 1
    else:
        _ok_by_second[int(started)] += 1


@events.quitting.add_listener
def _flush(**_: Any) -> None:
    _samples.flush()
    _samples.close()
    Path(CONFIG["counters_path"]).write_text(
        json.dumps({"counters": dict(COUNTERS), "errors": dict(ERRORS.most_common(50))}, indent=2)
    )


# --- the sandbox payment provider, played by the bench ---------------------------------------


class Provider:
    """Approves a sandbox payment in the provider's own book (the conditional
    UPDATE of ``sandbox_decide``, without its Celery delivery) and builds the
    signed ``payment.succeeded`` webhook with the project's own helpers. One
    connection for the whole process, used by one greenlet at a time."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: Any = None
        self.lock = gevent.lock.BoundedSemaphore()

    def approve(self, reference: str, instrument: str) -> SimpleNamespace | None:
        import psycopg

        with self.lock:
            if self.conn is None or self.conn.closed:
                self.conn = psycopg.connect(self.dsn, autocommit=True)
            row = self.conn.execute(
                "UPDATE shop_sandboxpayment SET status = 'approved', payment_instrument = %s, updated_at = now() "
                "WHERE reference = %s AND status = 'created' "
                "RETURNING reference, merchant_reference, amount, currency, payment_instrument, refunded_amount, "
                "updated_at",
                [instrument, reference],
            ).fetchone()
        if row is None:
            return None
        keys = ("reference", "merchant_reference", "amount", "currency", "payment_instrument", "refunded_amount")
        return SimpleNamespace(**dict(zip(keys, row[:6], strict=True)), updated_at=row[6])

    @staticmethod
    def delivery(payment: SimpleNamespace, msg_id: str | None = None) -> tuple[str, bytes, dict[str, str]]:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        payload = webhook_payload(event_type=WebhookEventType.SUCCEEDED, payment=payment)  # type: ignore[arg-type]
        body = json.dumps(payload, separators=(",", ":")).encode()
        return msg_id, body, Provider.sign(msg_id, body)

    @staticmethod
    def sign(msg_id: str, body: bytes) -> dict[str, str]:
        headers = signature_headers(
            secrets=list(settings.SHOP_WEBHOOK_SECRETS[:1]), msg_id=msg_id, timestamp=int(time.time()), body=body
        )
        headers.update({"Content-Type": "application/json", "X-Forwarded-For": PROVIDER_IP})
        return headers


PROVIDER = Provider(CONFIG["database_dsn"])

# --- the player pool -------------------------------------------------------------------------

_order = list(range(len(PLAYERS)))
random.Random(CONFIG.get("seed", 7)).shuffle(_order)
_pool = itertools.cycle(_order)
_signups = itertools.count(1)


def next_player() -> dict[str, Any]:
    return PLAYERS[next(_pool)]


def new_signup() -> dict[str, Any]:
    n = next(_signups)
    return {
        "site_id": f"bs{CONFIG['run_tag']}{n:06d}",
        "nickname": f"Bench Signup {CONFIG['run_tag']} {n:06d}",
        "phone_number": f"+1666{n:08d}",
        "ip": f"10.200.{(n // 250) % 250}.{n % 250 + 1}",
        "device": f"bench-signup-device-{n:06d}",
        "new": True,
    }


# --- HTTP helpers ------------------------------------------------------------------------------


class ApiUser(FastHttpUser):
    abstract = True
    # One connection at a time per simulated device (gunicorn's sync workers close it after each response).
    concurrency = 1
    network_timeout = 30.0
    connection_timeout = 10.0

    def call(
        self,
        method: str,
        path: str,
        name: str,
        *,
        player: dict[str, Any] | None,
        token: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        check: Any = None,
    ) -> Any:
        """One request; returns ``(json or None, response)`` on success, ``None`` on failure."""
        sent = {"User-Agent": "casino-bench/1"}
        if player is not None:
            sent["X-Forwarded-For"] = player["ip"]
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        kwargs: dict[str, Any] = {"name": name, "headers": sent, "catch_response": True}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        with self.client.request(method, path, **kwargs) as response:
            if response.status_code not in expect:
                text = (response.text or "")[:160] if response.status_code else str(response.error)[:160]
                response.failure(f"HTTP {response.status_code}: {text}")
                return None
            data = None
            if response.content:
                try:
                    data = response.json()
                except ValueError:
                    response.failure("not JSON")
                    return None
            problem = check(data, response) if check else None
            if problem:
                response.failure(problem)
                return None
            response.success()
            return data, response


# --- mode "player": the open-loop scenario ----------------------------------------------------


def paced(user: PlayerUser) -> float:
    """Wait until this user's next slot: slots are scheduled ahead on the clock,
    not after the response, so a slow response does not delay later arrivals."""
    now = time.monotonic()
    target = (user.slot if user.slot is not None else now) + random.uniform(0.5, 1.5) * PACING_S
    if target < now:
        COUNTERS["late_slots"] += 1  # the request outlived its whole slot: this arrival is late
        target = now
    user.slot = target
    return target - now


JOURNEY = (
    "auth",
    "dashboard",
    "streak_claim",
    "vip_claim",
    "shop_catalog",
    "buy_gems",
    "buy_money",
    "webhook",
    "balance",
)


class Session:
    """One visit of one player: the journey, step by step."""

    def __init__(self) -> None:
        signup = random.random() < float(CONFIG.get("signup_ratio", 0.1))
        self.player = new_signup() if signup else next_player()
        self.token: str | None = None
        self.money: SimpleNamespace | None = None  # the pending money order
        steps = list(JOURNEY)
        if signup:
            # A new account has the sign-up gold but no gems: it buys gems with money first.
            steps.remove("buy_gems")
            steps.insert(steps.index("webhook") + 1, "buy_gems")
        if random.random() < float(CONFIG.get("retry_ratio", 0.05)):
            steps.insert(steps.index("buy_gems") + 1, "buy_gems_retry")
        if random.random() < float(CONFIG.get("webhook_duplicate_ratio", 0.05)):
            steps.insert(steps.index("webhook") + 1, "webhook_duplicate")
        self.steps = steps
        self.index = 0
        self.gems_buy: tuple[str, bytes] | None = None
        self.delivery: tuple[str, bytes] | None = None
        COUNTERS["sessions"] += 1

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps)


class PlayerUser(ApiUser):
    wait_time = paced

    def on_start(self) -> None:
        self.slot: float | None = None
        self.session: Session | None = None

    @task
    def step(self) -> None:
        if self.slot is None:
            self.slot = time.monotonic()
        if self.session is None or self.session.done:
            self.session = Session()  # a failed sign-up/login ends its visit: the next slot starts another
        session = self.session
        name = session.steps[session.index]
        session.index += 1
        getattr(self, f"do_{name}")(session)

    # --- steps (exactly one request each) ---

    def do_auth(self, s: Session) -> None:
        p = s.player
        if p.get("new"):
            result = self.call(
                "POST",
                "/api/auth/signup",
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
                "/api/auth/login",
                "login",
                player=p,
                body={"site_id": p["site_id"], "password": CONFIG["password"]},
                check=lambda d, r: None if d and d.get("access_token") else "no access_token",
            )
        s.token = result[0]["access_token"] if result else None
        if s.token is None:
            s.index = len(s.steps)

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
            check=lambda d, r: None if d and "awarded_gold" in d else "no awarded_gold",
        )

    def do_vip_claim(self, s: Session) -> None:
        self.call(
            "POST",
            "/api/vip/claim",
            "vip_claim",
            player=s.player,
            token=s.token,
            headers=self._idem(),
            check=lambda d, r: None if d and "awarded_points" in d else "no awarded_points",
        )

    def do_shop_catalog(self, s: Session) -> None:
        def has_products(d: Any, r: Any) -> str | None:
            skus = {item.get("product_id") for item in (d or {}).get("products", [])}
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
            check=lambda d, r: None if d and d.get("status") == "fulfilled" else f"status {d and d.get('status')}",
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
            status = (d or {}).get("status")
            if status == "pending" and d.get("checkout_url"):
                return None
            if status == "pending_review":
                return None  # the fraud rules asked for a review: no checkout, counted below
            return f"status {status}"

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
        if data["status"] == "pending_review":
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


# --- mode "saturation": closed loop ----------------------------------------------------------

STATE: dict[str, Any] = {"series": None}
# Access tokens issued by bench/run.py right before this mode (no login traffic in the measurement).
TOKENS: dict[str, str] = json.loads(Path(CONFIG["tokens_path"]).read_text()) if CONFIG.get("tokens_path") else {}
_sat_pool = itertools.cycle(list(reversed(_order)))

# series -> the requests it cycles through: (method, path, sample name, body or None, expected statuses)
SERIES: dict[str, list[tuple[str, str, str, Any, tuple[int, ...]]]] = {
    "purchase": [("POST", "/api/shop/buy", "sat_buy_gems", "gems", (201,))],
    "claim": [
        ("POST", "/api/streak/claim", "sat_streak_claim", None, (200,)),
        ("POST", "/api/vip/claim", "sat_vip_claim", None, (200,)),
    ],
    # single endpoints, for profiling (bench/run.py --profile)
    "dashboard": [("GET", "/api/dashboard", "sat_dashboard", None, (200,))],
    "buy_gems": [("POST", "/api/shop/buy", "sat_buy_gems", "gems", (201,))],
    "streak_claim": [("POST", "/api/streak/claim", "sat_streak_claim", None, (200,))],
    "vip_claim": [("POST", "/api/vip/claim", "sat_vip_claim", None, (200,))],
    "balance": [("GET", "/api/users/balance", "sat_balance", None, (200,))],
    "shop_catalog": [("GET", "/api/shop/catalog", "sat_shop_catalog", None, (200,))],
}


class SaturationUser(ApiUser):
    """Back to back, no think time; every request as the next player of the
    pool (pre-issued token), so per-player row locks spread as in real traffic."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.turn = 0

    @task
    def hit(self) -> None:
        player = PLAYERS[next(_sat_pool)]
        requests = SERIES[STATE["series"]]
        method, path, name, body, expect = requests[self.turn % len(requests)]
        self.turn += 1
        payload = None
        if body == "gems":
            payload = {"product_id": CONFIG["gems_sku"], "quantity": 1, "device_id": player["device"]}
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else None
        self.call(
            method,
            path,
            name,
            player=player,
            token=TOKENS.get(str(player["id"])),
            body=payload,
            headers=headers,
            expect=expect,
        )


# --- the shape -----------------------------------------------------------------------------------


def wait_quiet(host: str, minimum_s: float, limit_s: float = 120.0) -> dict[str, Any]:
    """Between the phases: at least ``minimum_s``, then until ``/health`` answers
    fast three times in a row -- gunicorn's listen queue may still hold the
    requests of an overloaded player phase, which would pollute the first
    closed-loop step."""
    import urllib.request

    started = time.monotonic()
    gevent.sleep(minimum_s)
    fast = 0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while fast < 3 and time.monotonic() - started < limit_s:
        t = time.monotonic()
        try:
            with opener.open(f"{host}/health", timeout=30) as response:
                response.read()
            fast = fast + 1 if time.monotonic() - t < 0.1 else 0
        except OSError:
            fast = 0
        gevent.sleep(0.3)
    return {"waited_s": round(time.monotonic() - started, 1), "quiet": fast >= 3}


def _write_timeline(timeline: list[dict[str, Any]]) -> None:
    path = Path(CONFIG["timeline_path"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(timeline, indent=1))
    tmp.replace(path)


class BenchShape(LoadTestShape):
    """The plan of one Locust process, in order:

    1. ``stages`` (the player scenario, ``PlayerUser``): warm-up first, then
       each rate for its duration; users = rate x pacing;
    2. a short pause (no users) so the pipeline's backlog of phase 1 does not
       mix with phase 3;
    3. ``saturation`` (``SaturationUser``): per series, concurrency steps
       until throughput stops growing (< 5 % twice) or the steps run out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timeline: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.stages = list(CONFIG.get("stages", []))
        sat = CONFIG.get("saturation") or {}
        self.series = list(sat.get("series", []))
        self.levels = list(sat.get("concurrency", []))
        self.step_s = float(sat.get("step_s", 10))
        self.settle_s = float(sat.get("settle_s", 2))
        self.gap_s = float(CONFIG.get("gap_s", 3)) if self.stages and self.series else 0.0
        self.quiet: Any = None  # the greenlet waiting for a quiet server between the phases
        self.series_index = 0
        self.level_index = 0
        self.best = 0.0
        self.stalls = 0

    def _begin(self, entry: dict[str, Any]) -> None:
        now = time.time()
        if self.current is not None and "end" not in self.current:
            self.current["end"] = now
        entry["start"] = now
        self.current = entry
        self.timeline.append(entry)
        _write_timeline(self.timeline)

    def _finish(self) -> None:
        if self.current is not None and "end" not in self.current:
            self.current["end"] = time.time()
            _write_timeline(self.timeline)

    def tick(self) -> tuple[int, float, list[type[Any]]] | None:
        elapsed = self.get_run_time()
        offset = 0.0
        for stage in self.stages:
            offset += float(stage["duration_s"])
            if elapsed < offset:
                if self.current is None or self.current.get("name") != stage["name"]:
                    self._begin(
                        {"phase": "player", "name": stage["name"], "rate": stage["rate"], "measured": stage["measured"]}
                    )
                users = max(1, round(float(stage["rate"]) * PACING_S))
                return users, float(CONFIG.get("spawn_rate", 100)), [PlayerUser]
        if self.gap_s:
            if self.quiet is None:
                self._begin({"phase": "gap", "name": "gap"})
                self.quiet = gevent.spawn(wait_quiet, CONFIG["host"], self.gap_s)
            if not self.quiet.ready():
                return 0, 1000.0, [PlayerUser]
            if self.current is not None and self.current.get("phase") == "gap":
                self.current["quiet"] = self.quiet.value
        return self._tick_saturation()

    def _tick_saturation(self) -> tuple[int, float, list[type[Any]]] | None:
        if self.series_index >= len(self.series):
            self._finish()
            return None
        series = self.series[self.series_index]
        concurrency = self.levels[self.level_index]
        current = self.current
        if current is None or current.get("series") != series or current.get("concurrency") != concurrency:
            STATE["series"] = series
            self._begin({"phase": "saturation", "series": series, "concurrency": concurrency})
            self.current["measure_start"] = self.current["start"] + self.settle_s
            return concurrency, 1000.0, [SaturationUser]
        if time.time() - current["start"] < self.step_s:
            return concurrency, 1000.0, [SaturationUser]
        # The step is over: did throughput grow?
        start, end = int(current["measure_start"]), int(time.time())
        throughput = sum(_ok_by_second[s] for s in range(start, end)) / max(1, end - start)
        current["shape_throughput"] = throughput
        if throughput > self.best * 1.05:
            self.best, self.stalls = throughput, 0
        else:
            self.stalls += 1
        self.level_index += 1
        if self.stalls >= 2 or self.level_index >= len(self.levels):
            self.series_index += 1
            self.level_index, self.best, self.stalls = 0, 0.0, 0
        return self._tick_saturation()
