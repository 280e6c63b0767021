"""The command line of bench/run.py (``--help`` lists it): every option a run
takes; what is left unset comes from the preset of its mode (bench/presets.py)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.presets import PRESETS
from bench.stages import Rate, parse_rates

ROOT = Path(__file__).resolve().parent.parent


def _rates(text: str) -> list[Rate]:
    try:
        return parse_rates(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None, *, description: str = "") -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="~4 minutes: fewer players, shorter stages, fewer requests a row in-process",
    )
    mode.add_argument(
        "--smoke",
        action="store_true",
        help="~1 min: 20 players, 5 req/s for 10 s, one request a row in-process (the smoke test)",
    )
    parser.add_argument("--players", type=int, help="players to seed (full 2000, quick 600)")
    parser.add_argument(
        "--rates",
        type=_rates,
        help="the player stages' arrival rates, comma-separated: req/s (50,100,200) or shares of the bare "
        "purchase's saturation, measured first in the same run (10%%,20%%,30%%: full and quick)",
    )
    parser.add_argument("--stage-seconds", type=int, help="seconds per measured rate (full 60)")
    parser.add_argument("--warmup-seconds", type=int, help="warm-up at the first rate, not measured (full 20)")
    parser.add_argument("--pacing", type=float, help="mean think time between a player's requests, s (2.0)")
    parser.add_argument(
        "--login-ratio", type=float, help="share of visits that start with a password login (0.1; the rest refresh)"
    )
    parser.add_argument(
        "--visit-rounds",
        type=int,
        help="rounds of play a visit lasts: the journey, then its play steps again (6; 1: a 16-request visit)",
    )
    parser.add_argument(
        "--socket-ratio",
        type=float,
        help="share of visits holding the app's realtime socket (1.0: every one, as the app opens it; 0: none)",
    )
    parser.add_argument(
        "--workers", type=int, help="gunicorn sync workers (as in production: one per core, deploy/gunicorn.conf.py)"
    )
    parser.add_argument(
        "--login-workers",
        type=int,
        default=1,
        help="the login pool's gunicorn sync workers (1, as compose's web-login: one core hashes at a time)",
    )
    parser.add_argument(
        "--one-pool",
        action="store_true",
        help="password logins and sign-ups on the API's gunicorn too (production: a login pool of their own)",
    )
    parser.add_argument("--pgbench-clients", type=_ints, help="pgbench client counts (1,4,8,16,32)")
    parser.add_argument("--pgbench-seconds", type=int, help="seconds per pgbench level (full 15)")
    parser.add_argument("--saturation-concurrency", type=_ints, help="closed-loop steps (1,2,4,...,64)")
    parser.add_argument("--saturation-step-seconds", type=int, help="seconds per closed-loop step (full 15)")
    parser.add_argument("--skip-pgbench", action="store_true", help="no ceiling sweep")
    parser.add_argument("--skip-saturation", action="store_true", help="no closed-loop phase")
    parser.add_argument("--skip-player", action="store_true", help="no open-loop player phase (saturation only)")
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="only the in-process table (CPU, SQL, commits per request against the bare reference): no server, no load",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="also the in-process table of another version: a git revision (HEAD, a sha) or a checkout's path",
    )
    parser.add_argument(
        "--cpu-requests", type=int, help="timed requests per row of the in-process table (full 200, quick 60)"
    )
    parser.add_argument("--cpu-warmup", type=int, help="unmeasured requests before them (full 20, quick 10)")
    parser.add_argument("--cpu-count-requests", type=int, help="requests counted for SQL and commits (full 10)")
    parser.add_argument(
        "--profile",
        metavar="ENDPOINT",
        choices=[
            "dashboard",
            "buy_gems",
            "streak_claim",
            "vip_claim",
            "balance",
            "shop_catalog",
            "slot_spin",
            "bare_purchase",
            "bare_read",
        ],
        help="also profile one endpoint with py-spy (closed loop, one client per worker)",
    )
    parser.add_argument("--profile-seconds", type=int, default=20)
    parser.add_argument(
        "--cpu-profile",
        metavar="ROW",
        help="run rows of the in-process table (names, comma-separated: buy_gems,webhook) under cProfile: "
        "cpu-<row>.pstats in the results",
    )
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--database", help="PostgreSQL database of the run (casino_bench; smoke: a throwaway one)")
    parser.add_argument("--redis-db", type=int, help="Redis database number of the run (15; smoke 14)")
    parser.add_argument("--keep", action="store_true", help="keep the run's ClickHouse database and Kafka topic")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a performance target is missed")
    parser.add_argument("--render", type=Path, metavar="RUN_DIR", help="only rebuild the report and plots of a run")
    args = parser.parse_args(argv)
    args.mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    for key, value in PRESETS[args.mode].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.workers is None:
        args.workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if args.login_workers < 1:
        parser.error("--login-workers is at least 1")
    return args
