"""Steady-state cost per request, in-process, against the bare-framework
reference measured in the same process (bench/bare.py): application CPU,
SQL statements, database round trips, commits and Redis commands per
endpoint, and the interleaved reference requests each row's ratio is taken
to (the ratios and the targets of docs/architecture.md, "Performance
targets", are judged in bench/targets.py: ``evaluate_cpu``).

Every request goes through Django's real WSGI handler (``WSGIHandler``: the
``request_started``/``request_finished`` signals, so persistent connections
and their health checks behave as under gunicorn; the whole middleware stack)
with the run's production settings (bench/settings.py), against the run's
database. Only gunicorn's HTTP parsing is missing, the same for every row.

One row (:func:`measure`):

1. a fresh database connection (a ``CONN_MAX_AGE`` expiry cannot fall inside
   the row), then ``warmup`` requests, not measured: imports, caches, and
   psycopg preparing each statement the 5th time it runs;
2. ``requests`` requests, each timed alone: the process's CPU time
   (``time.process_time``, every thread, so work handed to asgiref's event
   loop thread counts) from the WSGI call until the response is read and
   closed and the push thread has sent what the request pushed after its
   commit (``realtime.push``: else that work lands in the next request timed,
   the reference's); its wall time; and the PostgreSQL backend's CPU time over the same
   window (``/proc/<pid>/schedstat``), where the server is on this machine;
   each followed by one request of the row's reference (bench/bare.py) as the
   same player, timed apart: the row's ratio is to these interleaved
   requests, which meet the machine at the same speed as the row's;
3. ``count_requests`` more with the counters installed -- kept apart from the
   timed ones because counting costs CPU too: SQL statements (Django's execute
   wrapper), round trips (statements + BEGIN + COMMIT/ROLLBACK + connection
   health checks + psycopg's prepares and deallocations: what the independent
   profile counted), commits (COMMITs sent + data-changing statements run in
   autocommit, each its own transaction) and Redis commands; the last one's
   statements are listed in results.json (``rows[].sql``).

Every request of a row is a different player, player ``i`` of the pool for
the ``i``-th request of every row, so a once-a-day reward is a first claim,
and the rows build on one another in order (a later spin follows the first,
the webhook pays the money order the same player placed). Before each
authenticated request of the product the player is marked active, not
measured, as within a visit (the activity mark is paid once a minute); the day's
first request is a row of its own. Seeds: bench/seed.py (``bq`` players).

The counters are bench/counting.py. This module imports only the standard
library and its siblings (relatively) at import time: bench/against.py loads
it into an older checkout of the project, as ``bench_current.cpu``.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .counting import Counters, Counts, backend_cpu_ns, backend_pid
from .targets import CPU_TARGETS

REFERENCES = ("bare_read", "bare_purchase")

SPIN_BET = 100
PROVIDER_IP = "192.0.2.10"  # TEST-NET-1, as bench/provider.py: the payment provider behind the balancer


# --- the rows -------------------------------------------------------------------------------------


def pushes_sent() -> None:
    """Wait until the process's push thread has sent every queued push (blocked, no CPU)."""
    from realtime.push import dispatcher

    dispatcher.wait_idle(10)


@dataclass(frozen=True)
class Case:
    """One row: the request it times, and what it is compared with."""

    name: str
    kind: str  # reference / read / write
    method: str
    path: str
    expect: tuple[int, ...]
    body: str | None = None  # a body of Runner.body
    auth: bool = True  # Bearer token of the player
    touch: bool = True  # mark the player active first (not measured), as earlier requests of a visit did
    idempotent: bool = False  # a fresh Idempotency-Key
    before: str | None = None  # an unmeasured step first (Runner.before_<name>)
    after: str | None = None  # unmeasured bookkeeping with the response (Runner.after_<name>)
    note: str = ""

    @property
    def reference(self) -> str | None:
        if self.kind == "reference":
            return None
        return CPU_TARGETS.get(self.name, ("bare_read" if self.kind == "read" else "bare_purchase", 0.0))[0]


CASES = [
    Case("bare_read", "reference", "GET", "/bench/bare/wallet", (200,), touch=False,
         note="DRF + simplejwt + one raw SELECT of the wallet"),
    Case("bare_purchase", "reference", "POST", "/bench/bare/purchase", (201,), body="gems", touch=False,
         note="DRF + simplejwt + lock, update, ledger insert; one transaction"),
    Case("health", "read", "GET", "/health", (200,), auth=False, touch=False, note="middleware and a view, no SQL"),
    Case("balance (first request of the day)", "read", "GET", "/api/users/balance", (200,), touch=False,
         note="+ the day's activity mark"),
    Case("balance", "read", "GET", "/api/users/balance", (200,)),
    Case("dashboard", "read", "GET", "/api/dashboard", (200,), note="built (not cached for this player)"),
    Case("dashboard (cached)", "read", "GET", "/api/dashboard", (200,), before="dashboard",
         note="right after a build"),
    Case("shop_catalog", "read", "GET", "/api/shop/catalog", (200,)),
    Case("events", "read", "GET", "/api/events/active", (200,),
         note="the running events with the player's participations"),
    Case("missions", "read", "GET", "/api/events/missions/daily", (200,),
         note="today's missions with the player's progress"),
    Case("mission_claim", "write", "POST", "/api/events/missions/claim/{mission}", (200,), idempotent=True,
         before="mission", note="a completed daily mission's reward"),
    Case("streak_claim", "write", "POST", "/api/streak/claim", (200,), idempotent=True,
         note="the day's first claim, continuing yesterday's streak (bench/seed.py)"),
    Case("streak_claim (repeat)", "write", "POST", "/api/streak/claim", (409,), idempotent=True,
         note="already claimed: 409 with the first claim"),
    Case("vip_claim", "write", "POST", "/api/vip/claim", (200,), idempotent=True, note="the day's first claim"),
    Case("buy_gems (first)", "write", "POST", "/api/shop/buy", (201,), body="gems", idempotent=True,
         note="the player's first purchase: unlocks an achievement, pays its reward and item"),
    Case("buy_gems", "write", "POST", "/api/shop/buy", (201,), body="gems", idempotent=True,
         note="gold pack for gems, fulfilled in the request"),
    Case("slot_spin (first)", "write", "POST", "/api/games/slot/spin", (200, 201), body="spin", idempotent=True,
         note="the player's first round: creates their fairness seed"),
    Case("slot_spin", "write", "POST", "/api/games/slot/spin", (200, 201), body="spin", idempotent=True),
    Case("crash_bet", "write", "POST", "/api/games/crash/bet", (200, 201), body="crash", idempotent=True,
         note="auto cash-out at 2.00: settled in the request"),
    Case("rps_play", "write", "POST", "/api/games/rps/play", (200, 201), body="rps", idempotent=True),
    Case("gacha_pull", "write", "POST", "/api/games/gacha/pull", (200, 201), body="gacha", idempotent=True,
         note="one pull (100 gold)"),
    Case("buy_money", "write", "POST", "/api/shop/buy", (201,), body="money", idempotent=True, after="money",
         note="pending order at the sandbox provider"),
    Case("webhook", "write", "POST", "/api/shop/webhook/payment", (200,), auth=False, touch=False, before="approve",
         note="signed payment.succeeded for that order: fulfils it"),
    Case("token_refresh", "write", "POST", "/api/auth/refresh", (200,), body="refresh", auth=False, touch=False,
         after="refresh", note="a refresh token traded for a new pair (the old one blacklisted); no password"),
]  # fmt: skip


# --- the runner ----------------------------------------------------------------------------------


@dataclass
class Sample:
    status: int
    cpu_ns: int
    wall_ns: int
    pg_ns: int | None
    problem: str | None = None


@dataclass
class Runner:
    """Runs requests through Django's WSGI handler in this process."""

    players: list[dict[str, Any]]
    gems_sku: str
    money_sku: str
    handler: Any = None
    environs: Any = None
    state: dict[int, dict[str, Any]] = field(default_factory=dict)
    touch: Callable[[int], Any] | None = None

    def __post_init__(self) -> None:
        from django.core.handlers.wsgi import WSGIHandler
        from django.test.client import RequestFactory

        class Environs(RequestFactory):
            """RequestFactory's WSGI environ, not a request: the handler builds that itself."""

            def request(self, **request: Any) -> Any:
                return self._base_environ(**request)

        self.handler = WSGIHandler()
        self.environs = Environs(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
        try:
            from accounts.activity import record_activity

            self.touch = record_activity
        except ImportError:  # an older checkout: no per-request activity mark
            self.touch = None

    # --- bodies and set-up steps ---

    def body(self, name: str, player: dict[str, Any]) -> dict[str, Any]:
        if name == "gems":
            return {"product_id": self.gems_sku, "quantity": 1, "device_id": player["device"]}
        if name == "money":
            return {
                "product_id": self.money_sku,
                "quantity": 1,
                "device_id": player["device"],
                "payment_instrument": f"card_{player['device']}",
            }
        if name == "spin":
            return {"bet_amount": SPIN_BET}
        if name == "crash":
            return {"bet_amount": SPIN_BET, "auto_cashout_multiplier": "2.00"}
        if name == "rps":
            return {"choice": "rock", "bet_amount": SPIN_BET}
        if name == "gacha":
            return {"pull_count": 1}
        if name == "refresh":
            return {"refresh_token": player["refresh"]}
        raise ValueError(name)

    def before_dashboard(self, player: dict[str, Any]) -> str | None:
        status, _ = self.call(self.environ(Case("", "read", "GET", "/api/dashboard", (200,)), player))
        return None if status == 200 else f"dashboard build answered {status}"

    def before_mission(self, player: dict[str, Any]) -> str | None:
        """The player has completed today's first daily mission (its instance at its target)."""
        from django.utils import timezone

        from events.models import MissionProgress, MissionTemplate

        template = MissionTemplate.objects.filter(is_active=True, period="daily").order_by("sort_order", "id").first()
        if template is None:
            return "no active daily mission"
        now = timezone.now()
        MissionProgress.objects.update_or_create(
            template=template,
            user_id=player["id"],
            period_start=now.date(),
            defaults={
                "target": template.target,
                "value": template.target,
                "completed_at": now,
                "claimed_at": None,
                "updated_at": now,
            },
        )
        self.state.setdefault(player["id"], {})["mission"] = template.pk
        return None

    def after_money(self, player: dict[str, Any], status: int, body: bytes) -> None:
        if status == 201:
            data = json.loads(body)
            if data.get("checkout_url"):
                self.state.setdefault(player["id"], {})["money"] = data["checkout_url"].rstrip("/").rsplit("/", 1)[-1]

    def after_refresh(self, player: dict[str, Any], status: int, body: bytes) -> None:
        if status == 200:
            player["refresh"] = json.loads(body)["refresh_token"]  # the old one is spent

    def before_approve(self, player: dict[str, Any]) -> str | None:
        """The provider approves the player's pending money order and signs its webhook (bench/provider.py)."""
        from django.conf import settings
        from django.utils import timezone

        from shop.models import SandboxPayment, SandboxPaymentStatus
        from shop.providers.sandbox import WebhookEventType, webhook_payload
        from shop.webhooks import signature_headers

        reference = self.state.get(player["id"], {}).pop("money", None)
        if reference is None:
            return "no pending money order for this player"
        approved = SandboxPayment.objects.filter(reference=reference, status=SandboxPaymentStatus.CREATED).update(
            status=SandboxPaymentStatus.APPROVED,
            payment_instrument=f"card_{player['device']}",
            updated_at=timezone.now(),
        )
        if not approved:
            return "the provider could not approve the payment"
        payment = SandboxPayment.objects.get(reference=reference)
        body = json.dumps(
            webhook_payload(event_type=WebhookEventType.SUCCEEDED, payment=payment), separators=(",", ":")
        ).encode()
        headers = signature_headers(
            secrets=list(settings.SHOP_WEBHOOK_SECRETS[:1]),
            msg_id=f"msg_{uuid.uuid4().hex}",
            timestamp=int(time.time()),
            body=body,
        )
        self.state.setdefault(player["id"], {})["webhook"] = (body, {**headers, "X-Forwarded-For": PROVIDER_IP})
        return None

    # --- one request ---

    def environ(self, case: Case, player: dict[str, Any]) -> dict[str, Any]:
        headers: dict[str, str] = {}
        data = b""
        if case.before == "approve":
            data, signed = self.state[player["id"]].pop("webhook")
            headers.update(signed)
        else:
            headers["X-Forwarded-For"] = player["ip"]
            if case.body:
                data = json.dumps(self.body(case.body, player)).encode()
        if case.auth:
            headers["Authorization"] = f"Bearer {player['token']}"
        if case.idempotent:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        path = case.path.format(**self.state.get(player["id"], {})) if "{" in case.path else case.path
        return self.environs.generic(  # type: ignore[no-any-return]
            case.method, path, data=data, content_type="application/json", headers=headers
        )

    def call(self, environ: dict[str, Any]) -> tuple[int, bytes]:
        started: list[str] = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            started.append(status)

        response = self.handler(environ, start_response)
        try:
            body = b"".join(response)
        finally:
            response.close()  # request_finished, as a WSGI server does
        return int(started[0].split(" ", 1)[0]), body

    def one(self, case: Case, player: dict[str, Any], counters: Counters | None = None) -> Sample:
        """One request of ``case`` as ``player``: its set-up steps first, then the
        request, timed (and counted, with ``counters``) alone."""
        if case.before:
            problem = getattr(self, f"before_{case.before}")(player)
            if problem:
                return Sample(0, 0, 0, None, problem)
        if case.touch and self.touch is not None:
            self.touch(player["id"])
        environ = self.environ(case, player)
        pid = backend_pid()
        pg0 = backend_cpu_ns(pid)
        with counters if counters is not None else contextlib.nullcontext():
            wall0, cpu0 = time.perf_counter_ns(), time.process_time_ns()
            status, body = self.call(environ)
            pushes_sent()  # the push thread's work for this request is this request's CPU
            cpu, wall = time.process_time_ns() - cpu0, time.perf_counter_ns() - wall0
        pid_after = backend_pid()
        pg: int | None = None
        if pid is None and pid_after is None:
            pg = 0  # no connection before or after: the request did not use the database
        elif pid is not None and pid_after == pid:
            pg1 = backend_cpu_ns(pid)
            pg = pg1 - pg0 if pg0 is not None and pg1 is not None else None
        # else a connection opened (or changed) inside the request: its backend's figure is unknown
        if case.after:
            getattr(self, f"after_{case.after}")(player, status, body)
        problem = None
        if status not in case.expect:
            problem = f"HTTP {status}: {body[:160].decode(errors='replace')}"
        return Sample(status, cpu, wall, pg, problem)


def _ms(values: list[int]) -> float | None:
    return statistics.fmean(values) / 1e6 if values else None


def _p50(values: list[int]) -> float | None:
    return statistics.median(values) / 1e6 if values else None


def _typical(values: list[int]) -> int | str | None:
    """The count of a row: its median, or "a-b" when the counted requests differ."""
    if not values:
        return None
    low, high = min(values), max(values)
    return int(statistics.median(values)) if low == high else f"{low}-{high}"


def measure(
    players: list[dict[str, Any]],
    *,
    gems_sku: str,
    money_sku: str,
    warmup: int,
    requests: int,
    count_requests: int,
    say: Callable[[str], None] = print,
    log_path: str | None = None,
    cases: list[Case] | None = None,
    profile: str | None = None,
    profile_dir: str | None = None,
) -> dict[str, Any]:
    """Every row of :data:`CASES` over ``players`` (at least warmup + requests +
    count_requests of them, each with ``token``); returns ``{"rows", "config"}``.
    What the application logs meanwhile (it logs to ``sys.stderr``, looked up per
    record) goes to ``log_path``: still written, so still paid for, but not onto
    the console. ``profile`` names rows (comma-separated) to run under cProfile
    (their timed requests; their CPU figures then include the profiler's
    overhead), whose statistics go to ``profile_dir``/cpu-<row>.pstats (read
    them with ``python -m pstats``)."""
    needed = warmup + requests + count_requests
    if len(players) < needed:
        raise ValueError(f"{needed} players needed, {len(players)} given")
    with contextlib.ExitStack() as stack:
        if log_path:
            stack.enter_context(contextlib.redirect_stderr(stack.enter_context(open(log_path, "a"))))
        runner = Runner(players=players, gems_sku=gems_sku, money_sku=money_sku)
        profiled = set((profile or "").split(","))
        by_name = {case.name: case for case in cases or CASES}
        rows = [
            _measure_case(
                runner,
                case,
                players,
                warmup,
                requests,
                needed,
                say,
                f"{profile_dir}/cpu-{case.name}.pstats" if case.name in profiled and profile_dir else None,
                paired=by_name.get(case.reference) if case.reference else None,
            )
            for case in cases or CASES
        ]
        # The machine's speed drifts (a shared VM: tens of percent within minutes): the ratios use the reference
        # requests interleaved with each row; the reference rows are measured again after the others to show
        # the drift (and as the ratio's reference of a row measured without its pair).
        for row in rows:
            case = next(case for case in cases or CASES if case.name == row["endpoint"])
            if case.kind != "reference" or row["cpu_ms"] is None:
                continue
            again = _measure_case(runner, case, players, warmup, requests, needed, say, None)
            if again["cpu_ms"] is None:
                continue
            row["cpu_ms_first"], row["cpu_ms_again"] = row["cpu_ms"], again["cpu_ms"]
            row["cpu_ms"] = (row["cpu_ms_first"] + row["cpu_ms_again"]) / 2
    return {
        "rows": rows,
        "config": {"warmup": warmup, "requests": requests, "count_requests": count_requests},
    }


def _measure_case(
    runner: Runner,
    case: Case,
    players: list[dict[str, Any]],
    warmup: int,
    requests: int,
    needed: int,
    say: Callable[[str], None],
    profile_path: str | None = None,
    paired: Case | None = None,
) -> dict[str, Any]:
    """One row: warm-up, timed requests, counted requests (the module's docstring).
    ``paired``: the row's reference, one request of it right after each of the
    row's (same player), timed apart: the row's ratio is to these."""
    import cProfile

    from django.db import connections

    connections["default"].close()
    samples: list[Sample] = []
    statements: list[str] = []
    paired_samples: list[Sample] = []
    counted: list[Counts] = []
    # Timed by the process's CPU clock, as the rows are: a wall-clock profile
    # charges the wait for PostgreSQL's answer to psycopg's wait loop.
    profiler = cProfile.Profile(time.process_time) if profile_path else None
    for index in range(needed):
        player = players[index]
        if index < warmup + requests:
            profiled = profiler if index >= warmup else None
            if profiled is not None:
                profiled.enable()
            sample = runner.one(case, player)
            if profiled is not None:
                profiled.disable()
            reference = runner.one(paired, player) if paired is not None else None
            if index >= warmup:
                samples.append(sample)
                if reference is not None:
                    paired_samples.append(reference)
            continue
        counters = Counters()
        sample = runner.one(case, player, counters)
        if sample.problem is None:
            counted.append(counters.counts)
            statements = counters.sql
    row = _row(case, samples, counted)
    row["sql"] = statements if counted else []  # the last counted request's statements (results.json)
    if paired is not None:
        good = [sample.cpu_ns for sample in paired_samples if sample.problem is None]
        row["paired_cpu_ms"] = _ms(good) if len(good) >= max(1, len(paired_samples) // 2) else None
        row["paired_cpu_p50_ms"] = _p50(good)
    if profiler is not None and profile_path:
        profiler.dump_stats(profile_path)
        say(f"  {case.name}: cProfile of its timed requests in {profile_path} (its CPU includes the profiler)")
    say(
        f"  {case.name:36} {row['cpu_ms'] or 0:7.2f} ms CPU, {row['statements']} statements, "
        f"{row['commits']} commits" + (f"  [{row['errors']} errors: {row['problems'][0]}]" if row["errors"] else "")
    )
    return row


def _row(case: Case, samples: list[Sample], counted: list[Counts]) -> dict[str, Any]:
    good = [sample for sample in samples if sample.problem is None]
    problems = Counter(sample.problem for sample in samples if sample.problem)
    statuses = Counter(sample.status for sample in samples if sample.status)
    pg = [sample.pg_ns for sample in good if sample.pg_ns is not None]
    counts = [c.as_dict() for c in counted]
    row: dict[str, Any] = {
        "endpoint": case.name,
        "kind": case.kind,
        "method": case.method,
        "path": case.path,
        "reference": case.reference,
        "note": case.note,
        "status": statuses.most_common(1)[0][0] if statuses else None,
        "requests": len(samples),
        "errors": len(samples) - len(good),
        "problems": [f"{count} x {text}" for text, count in problems.most_common(3)],
        "cpu_ms": _ms([s.cpu_ns for s in good]),
        "cpu_p50_ms": _p50([s.cpu_ns for s in good]),
        "wall_ms": _ms([s.wall_ns for s in good]),
        "wall_p50_ms": _p50([s.wall_ns for s in good]),
        "pg_cpu_ms": _ms(pg) if len(pg) >= max(1, len(good) // 2) else None,
    }
    for key in (*Counts().as_dict().keys(),):
        row[key] = _typical([c[key] for c in counts])
    return row


def issue_tokens(players: list[dict[str, Any]]) -> None:
    """An access and a refresh token per player, as a login would issue them (needs Django set up)."""
    from accounts.models import User

    try:
        from accounts.tokens import tokens_issue
    except ImportError:  # an older checkout
        tokens_issue = None
    users = {user.pk: user for user in User.objects.filter(pk__in=[p["id"] for p in players])}
    for player in players:
        user = users[player["id"]]
        if tokens_issue is not None:
            pair = tokens_issue(user=user)
            player["token"], player["refresh"] = str(pair.access), str(pair.refresh)
        else:
            from rest_framework_simplejwt.tokens import RefreshToken

            refresh = RefreshToken.for_user(user)
            player["token"], player["refresh"] = str(refresh.access_token), str(refresh)
