"""Driving Locust (bench/locustfile.py): the plan of the load phases, the
tokens the closed loop uses, one Locust process per phase, and the profile of
one endpoint under load (``--profile``)."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import seed, stack
from bench.samples import Samples, latency_row
from bench.stack import ROOT, BenchError, ProcessSet
from bench.stages import REFERENCE_SERIES, needs_reference, phases, player_stages


def base_config(
    *,
    host: str,
    players_path: Path,
    database_dsn: str,
    run_tag: str,
    pacing_s: float,
    login_ratio: float = 0.1,
    visit_rounds: int = 1,
    start_midway: bool = True,
    login_host: str | None = None,
    socket_host: str | None = None,
    socket_ratio: float = 0.0,
) -> dict[str, Any]:
    """What every Locust phase of a run shares (bench/locustfile.py reads it from BENCH_CONFIG).
    ``login_host``: the login pool password logins and sign-ups go to (compose's
    ``web-login``, behind the load balancer's routes); None: ``host`` too.
    ``socket_host``: the ASGI server's ``ws://`` address, where ``socket_ratio`` of the
    visits hold the app's realtime socket (bench/player_socket.py)."""
    return {
        "host": host,
        "login_host": login_host or host,
        "players_path": str(players_path),
        "database_dsn": database_dsn,
        "invite_code": seed.INVITE_CODE,
        "password": seed.PLAYER_PASSWORD,
        "gems_sku": seed.GEMS_SKU,
        "money_sku": seed.MONEY_SKU,
        "run_tag": run_tag,
        "pacing_s": pacing_s,
        # How a visit starts: a sign-up, a password login, else the refresh token the app kept.
        "signup_ratio": 0.1,
        "login_ratio": login_ratio,
        "visit_rounds": visit_rounds,
        "start_midway": start_midway,
        "socket_host": socket_host,
        "socket_ratio": socket_ratio,
        # Seconds an access token is used before the app refreshes it (production's lifetime, less a minute).
        "access_refresh_s": _access_lifetime_s() - 60,
        "retry_ratio": 0.05,
        "webhook_duplicate_ratio": 0.05,
        "spin_retry_ratio": 0.05,
        "spawn_rate": 100,
    }


def _rate_text(stage: dict[str, Any]) -> str:
    if stage["share"] is not None:
        return f"{stage['share'] * 100:g} % of the {REFERENCE_SERIES} saturation"
    return f"{stage['rate']:g} req/s"


def _access_lifetime_s() -> float:
    from django.conf import settings

    return float(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds())


def plan(
    args: argparse.Namespace, say: Callable[[str], None]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, float]:
    """The player stages (open loop), the saturation series (closed loop) and how long
    the Locust process that runs both may take."""
    stages: list[dict[str, Any]] = []
    if not args.skip_player:
        stages = player_stages(args.rates, stage_seconds=args.stage_seconds, warmup_seconds=args.warmup_seconds)
        if needs_reference(stages) and args.skip_saturation:
            raise BenchError(
                f"--rates {','.join(map(str, args.rates))}: a share of the {REFERENCE_SERIES} saturation needs "
                "the closed loop (drop --skip-saturation, or give the rates in requests a second)"
            )
        say(
            "player scenario (open loop): "
            + ", ".join(f"{s['name']} {_rate_text(s)} x {s['duration_s']} s" for s in stages)
            + f"; think time {args.pacing:g} s"
        )
    total = sum(stage["duration_s"] for stage in stages) + 160  # + the pauses between phases, stop timeouts
    saturation = None
    if not args.skip_saturation:
        series = [REFERENCE_SERIES, "purchase", "claim"]
        order = [", ".join(names) for kind, names in phases(stages, series) if kind == "saturation"]
        if len(order) > 1:  # the reference first: the stages' shares are of its peak
            plan_text = f"{order[0]} before the player scenario, {order[1]} after it"
        else:
            plan_text = f"{order[0]}{' after the player scenario' if stages else ''}"
        say(f"saturation (closed loop): {plan_text}, at up to {args.saturation_concurrency} clients")
        saturation = {
            "series": series,
            "concurrency": args.saturation_concurrency,
            "step_s": args.saturation_step_seconds,
            "settle_s": args.saturation_settle_seconds,
        }
        total += len(series) * len(args.saturation_concurrency) * (args.saturation_step_seconds + 2) + 5
        if needs_reference(stages):
            total += 125  # the second pause, up to wait_quiet's limit
    return stages, saturation, total


def issue_tokens(run_dir: Path) -> Path:
    """Tokens for the seeded players, as a login earlier today left them (needs
    Django set up): the closed loop measures no login traffic, and the open
    loop's players start in the middle of a visit, logged in, with the refresh
    token their app keeps."""
    from accounts.models import User
    from accounts.tokens import tokens_issue

    players = json.loads((run_dir / "players.json").read_text())
    ids = [p["id"] for p in players]
    tokens = {}
    for user in User.objects.filter(pk__in=ids):
        pair = tokens_issue(user=user)
        tokens[str(user.pk)] = {"access": pair.access, "refresh": pair.refresh}
    path = run_dir / "tokens.json"
    path.write_text(json.dumps(tokens))
    return path


def locust_env(env: dict[str, str], config_path: Path) -> dict[str, str]:
    """The environment of a Locust process. ``GEVENT_RESOLVER=block``: the host is a numeric
    address, and gevent's default resolver hands every ``getaddrinfo`` to a native thread and
    back. gunicorn's sync workers close each connection, so that was one hop a request, timed
    as part of the request by the client: at 110 req/s the mix's p95s read 2-6 ms higher with
    it, and an eighth of the load generator's CPU went to the hop (bench/README.md, "Twenty-third
    round")."""
    return {**env, "BENCH_CONFIG": str(config_path), "GEVENT_RESOLVER": "block"}


@dataclass
class Locust:
    """Runs Locust processes for one bench run, alongside the run's other processes."""

    procs: ProcessSet
    env: dict[str, str]
    run_dir: Path
    notes: list[str]

    def run(
        self, mode: str, user_classes: list[str], config: dict[str, Any], *, timeout: float
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        config = {
            **config,
            "mode": mode,
            "samples_path": str(self.run_dir / f"samples-{mode}.csv"),
            "sockets_path": str(self.run_dir / f"sockets-{mode}.csv"),
            "timeline_path": str(self.run_dir / f"timeline-{mode}.json"),
            "counters_path": str(self.run_dir / f"counters-{mode}.json"),
        }
        config_path = self.run_dir / f"locust-{mode}.json"
        config_path.write_text(json.dumps(config, indent=1))
        argv = [
            stack.PYTHON,
            "-m",
            "locust",
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--host",
            config["host"],
            "--csv",
            str(self.run_dir / f"locust-{mode}"),
            "--only-summary",
            "--loglevel",
            "WARNING",
            # Users stopped at a stage change finish their request first (up to the 30 s network
            # timeout), so the slowest samples of an overloaded stage are not lost.
            "--stop-timeout",
            "35",
            "--exit-code-on-error",
            "0",
            *user_classes,
        ]
        process = self.procs.start(f"locust-{mode}", argv, locust_env(self.env, config_path))
        deadline = time.monotonic() + timeout
        while process.alive:
            if time.monotonic() > deadline:
                raise BenchError(f"locust ({mode}) still running after {timeout:.0f}s: {process.describe()}")
            for other in self.procs.processes:
                if other is not process and not other.alive:
                    raise BenchError(f"{other.name} died during the load: {other.describe()}")
            time.sleep(0.5)
        if process.popen.returncode != 0:
            raise BenchError(f"locust ({mode}) failed: {process.describe()}")
        self.procs.stop(process)
        timeline_path = Path(config["timeline_path"])
        if not timeline_path.exists():
            raise BenchError(f"locust ({mode}) wrote no timeline: {process.describe()}")
        counters_path = Path(config["counters_path"])
        counters = json.loads(counters_path.read_text()) if counters_path.exists() else {}
        log = process.log_tail(200_000)
        cpu_warnings = log.count("CPU usage above")
        if cpu_warnings:
            self.notes.append(
                f"Locust ({mode}) warned {cpu_warnings}x that its own CPU use was above 90 %: on this 2-core "
                "machine the load generator competes with the server it measures."
            )
        return json.loads(timeline_path.read_text()), counters


def run_profile(
    locust: Locust,
    *,
    gunicorn_pid: int,
    endpoint: str,
    clients: int,
    seconds: int,
    base_config: dict[str, Any],
    tokens_path: Path | None,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """``endpoint`` alone, one client per gunicorn worker, while py-spy records every worker."""
    from bench import pyspy as profile

    pids = profile.worker_pids(gunicorn_pid)
    settle = 3
    say(f"profile: {endpoint}, {clients} clients back to back, py-spy on workers {pids}")
    out_dir = locust.run_dir / "profile"
    config = {
        **base_config,
        "tokens_path": str(tokens_path),
        "saturation": {
            "series": [endpoint],
            "concurrency": [clients],
            "step_s": seconds + settle + 1,
            "settle_s": settle,
        },
    }
    recorders: list[Any] = []

    def record_later() -> None:
        time.sleep(settle + 2)  # Locust's start-up and the settle time
        recorders.extend(profile.start_recording(pids, seconds, out_dir))

    starter = threading.Thread(target=record_later, daemon=True)
    starter.start()
    timeline, _ = locust.run("profile", ["SaturationUser"], config, timeout=seconds + settle + 90)
    starter.join()
    for recorder in recorders:
        recorder.wait(60)
    summary = profile.summarize(out_dir)
    samples = Samples.read(locust.run_dir / "samples-profile.csv")
    step = timeline[0]
    row = latency_row(
        samples, samples.mask(None, step["measure_start"], step["end"]), step["end"] - step["measure_start"]
    )
    return {"endpoint": endpoint, "clients": clients, "load": row, **summary}
