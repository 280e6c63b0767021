"""Locust scenarios of the bench; started by ``bench/run.py``, configured by the
JSON file named in ``BENCH_CONFIG`` (mode, host, stages, players...).

Two phases, one after the other in one Locust process (``BenchShape``):

``player`` -- the original scenario, **open loop**, at fixed arrival rates.
    Each Locust user is one player's device walking the journey
    sign-up or login -> dashboard -> slot spin -> streak claim -> VIP claim
    -> the running events -> crash round -> shop catalog -> buy with gems ->
    slot spin -> buy with money (pending order at the sandbox provider) -> the
    provider approves and sends its signed webhook -> slot spin -> today's
    missions -> claim a completed one -> balance, then plays on for more
    rounds (bench/journey.py) and starts over as the next player of the pool
    (game rounds: a quarter to a third of the requests, each counted towards
    the live operations bench/seed.py runs). One step = one request.
    Arrival rate: every user starts one request per *slot*; slots are
    scheduled ahead on the clock (``paced``), a think time drawn uniformly
    from 0.5-1.5 x ``pacing_s`` apart, whatever the previous response took.
    So the request rate is ``users / pacing_s`` and does not drop when the
    server slows down (no coordinated omission) -- until a response takes
    longer than the whole slot; such slots are counted (``late_slots``) and the
    report shows the achieved rate next to the target. The shape sets
    ``users = rate x pacing_s`` per stage. The users a stage adds start their
    first request at a random moment of their first slot, not all at once
    (spawned within a second, they would double the arrival rate for that
    second), so the rate ramps to the new one over one ``pacing_s``; a stage
    that adds users to a running load is measured from the end of that ramp
    (``measure_start``) to its end.

``saturation`` -- **closed loop**: N users fire back to back (no think time)
    at one endpoint family (``bare_purchase``: the bare-framework reference of
    bench/bare.py, the same request as a gem purchase; ``purchase``: buy with
    gems; ``claim``: streak and VIP claims alternately), N rising step by step
    while throughput grows.
    The shape stops a series when two consecutive steps add < 5 %.

Every request is recorded (start time, name, latency, ok, status) in the
samples CSV that ``bench/samples.py`` reads (``bench/recording.py``); Locust's
own CSVs are kept too. The journey's steps are in ``bench/journey.py``, the
configuration, player pool and request series in ``bench/scenario.py``.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import gevent
from locust import LoadTestShape, constant, task

# Locust loads this file by path, not as bench.locustfile: the bench's own modules are imported
# from the package (bench.*), as bench/run.py does, with the project root on the path.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import django  # noqa: E402

# Fails here, before Django starts, unless bench/run.py started this process (BENCH_CONFIG).
from bench import stages  # noqa: E402
from bench.scenario import CONFIG, PACING_S, SERIES, TOKENS, next_saturation_player  # noqa: E402

django.setup()  # bench.settings: only for the webhook secret and the provider's payload/signature helpers

from bench.api_user import ApiUser  # noqa: E402
from bench.journey import SPIN_BET, JourneySteps, Session  # noqa: E402
from bench.player_socket import PlayerSocket  # noqa: E402
from bench.recording import COUNTERS, OK_BY_SECOND  # noqa: E402

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


class PlayerUser(JourneySteps):
    wait_time = paced

    def on_start(self) -> None:
        self.slot: float | None = None
        self.socket: PlayerSocket | None = None
        # A player already in a visit (bench/journey.py): no burst of logins when a stage adds users.
        self.session: Session | None = Session(midway=bool(CONFIG.get("start_midway", True)))
        # ... nor a burst of requests: the first arrives at a random moment of the first slot.
        gevent.sleep(random.uniform(0, PACING_S))

    def on_stop(self) -> None:
        self._close_socket()

    @task
    def step(self) -> None:
        if self.slot is None:
            self.slot = time.monotonic()
        if self.session is None or self.session.done:
            self._close_socket()  # the visit is over: the app is closed
            self.session = Session()  # a failed sign-up/login ends its visit: the next slot starts another
        session = self.session
        self._open_socket(session)
        if session.token and time.monotonic() - session.token_at > float(CONFIG["access_refresh_s"]):
            self.do_refresh(session)  # the access token is about to expire: this slot renews it
            return
        name = session.steps[session.index]
        session.index += 1
        getattr(self, f"do_{name}")(session)
        self._open_socket(session)  # signed in just now: the app opens its socket

    def _open_socket(self, session: Session) -> None:
        """The app's realtime socket (bench/player_socket.py), once the visit has a token."""
        if self.socket is None and session.token and session.holds_socket and not session.done:
            self.socket = PlayerSocket(CONFIG["socket_host"], session.token)

    def _close_socket(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None


# --- mode "saturation": closed loop ----------------------------------------------------------

STATE: dict[str, Any] = {"series": None}


class SaturationUser(ApiUser):
    """Back to back, no think time; every request as the next player of the
    pool (pre-issued token), so per-player row locks spread as in real traffic."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.turn = 0

    @task
    def hit(self) -> None:
        player = next_saturation_player()
        requests = SERIES[STATE["series"]]
        method, path, name, body, expect = requests[self.turn % len(requests)]
        self.turn += 1
        payload = None
        if body == "gems":
            payload = {"product_id": CONFIG["gems_sku"], "quantity": 1, "device_id": player["device"]}
        elif body == "spin":
            payload = {"bet_amount": SPIN_BET}
        headers = {"Idempotency-Key": uuid.uuid4().hex} if method == "POST" else None
        self.call(
            method,
            path,
            name,
            player=player,
            token=TOKENS.get(str(player["id"]), {}).get("access"),
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
    """The plan of one Locust process (``bench.stages.phases``), in order:

    1. when a stage's rate is a share of the bare purchase's saturation
       (``30%``), that series first (``SaturationUser``), so the share can be
       resolved to requests a second from its peak;
    2. ``stages`` (the player scenario, ``PlayerUser``): warm-up first, then
       each rate for its duration; users = rate x pacing;
    3. the other saturation series (``SaturationUser``): per series,
       concurrency steps until throughput stops growing (< 5 % twice) or the
       steps run out.

    Between two phases a pause (no users) until gunicorn's queue is empty,
    so one phase's backlog does not spill into the next.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timeline: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.stages = list(CONFIG.get("stages", []))
        sat = CONFIG.get("saturation") or {}
        self.levels = list(sat.get("concurrency", []))
        self.step_s = float(sat.get("step_s", 10))
        self.settle_s = float(sat.get("settle_s", 2))
        self.gap_s = float(CONFIG.get("gap_s", 3))
        self.phases = stages.phases(self.stages, list(sat.get("series", [])))
        self.phase_index = 0
        self.phase_t0: float | None = None  # when the current phase began (Locust's run time)
        self.quiet: Any = None  # the greenlet waiting for a quiet server between two phases
        self.series_index = 0
        self.level_index = 0
        self.best = 0.0
        self.stalls = 0
        self.peaks: dict[str, float] = {}  # series -> its best step's throughput, req/s

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

    def _next_phase(self) -> None:
        self.phase_index += 1
        self.phase_t0 = None
        self.quiet = None
        self.series_index = self.level_index = self.stalls = 0
        self.best = 0.0

    def tick(self) -> tuple[int, float, list[type[Any]]] | None:
        while self.phase_index < len(self.phases):
            kind, series = self.phases[self.phase_index]
            if self.phase_t0 is None:
                self.phase_t0 = self.get_run_time()
            step = {"player": self._tick_player, "gap": self._tick_gap, "saturation": self._tick_saturation}[kind](
                series
            )
            if step is not None:
                return step
            self._next_phase()
        self._finish()
        return None

    def _tick_player(self, _series: list[str]) -> tuple[int, float, list[type[Any]]] | None:
        assert self.phase_t0 is not None
        elapsed = self.get_run_time() - self.phase_t0
        offset = 0.0
        for stage in self.stages:
            offset += float(stage["duration_s"])
            if elapsed >= offset:
                continue
            spawn_rate = float(CONFIG.get("spawn_rate", 100))
            if self.current is None or self.current.get("name") != stage["name"]:
                reference = self.peaks.get(stages.REFERENCE_SERIES)
                rate = stages.resolve_rate(stage, reference)
                # Measured once the users it adds to a running load are spawned and have
                # ramped in (PlayerUser.on_start); the first stage is measured from its start.
                in_player = self.current is not None and self.current.get("phase") == "player"
                running = self.runner.user_count if self.runner and in_player else 0
                added = max(0, round(rate * PACING_S) - running)
                ramp = min(added / spawn_rate + PACING_S, float(stage["duration_s"]) / 2) if running and added else 0.0
                entry = {"phase": "player", "name": stage["name"], "rate": rate, "share": stage.get("share")}
                if stage.get("share") is not None:
                    entry["reference_rps"] = reference
                self._begin({**entry, "measured": stage["measured"], "ramp_s": ramp})
                self.current["measure_start"] = self.current["start"] + ramp
            return max(1, round(float(self.current["rate"]) * PACING_S)), spawn_rate, [PlayerUser]
        return None

    def _tick_gap(self, _series: list[str]) -> tuple[int, float, list[type[Any]]] | None:
        if self.quiet is None:
            self._begin({"phase": "gap", "name": "gap"})
            self.quiet = gevent.spawn(wait_quiet, CONFIG["host"], self.gap_s)
        if not self.quiet.ready():
            return 0, 1000.0, [PlayerUser]
        assert self.current is not None
        self.current["quiet"] = self.quiet.value
        return None

    def _tick_saturation(self, names: list[str]) -> tuple[int, float, list[type[Any]]] | None:
        if self.series_index >= len(names):
            return None
        series = names[self.series_index]
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
        throughput = sum(OK_BY_SECOND[s] for s in range(start, end)) / max(1, end - start)
        current["shape_throughput"] = throughput
        self.peaks[series] = max(self.peaks.get(series, 0.0), throughput)
        if throughput > self.best * 1.05:
            self.best, self.stalls = throughput, 0
        else:
            self.stalls += 1
        self.level_index += 1
        if self.stalls >= 2 or self.level_index >= len(self.levels):
            self.series_index += 1
            self.level_index, self.best, self.stalls = 0, 0.0, 0
        return self._tick_saturation(names)
