#!/usr/bin/env python3
"""Casino Club benchmark: ``make bench`` (full), ``make bench-quick`` (~2 min),
``bench/run.py --smoke`` (under a minute; casino/tests/test_bench_smoke.py).

One run, start to finish (bench/README.md has the details):

1. the stack, production-shaped, on 127.0.0.1: the services of
   ``scripts/services.sh up``; a dedicated database (``casino_bench``,
   migrated), Redis database, Kafka topic and ClickHouse database; gunicorn
   (``casino.wsgi``, N sync workers), daphne (``casino.asgi``), the relay and
   the sink; N players seeded (bulk users, balances through
   ``economy.services``), a gem-priced and a money-priced product;
2. the ceiling: pgbench with ``bench/pgbench/purchase.sql`` (one purchase's
   write set) on a copy of that database, at several client counts;
3. the player scenario, open loop, at fixed arrival rates (Locust);
4. saturation, closed loop: purchase and claim endpoints at rising
   concurrency until throughput stops growing; the ratio to the ceiling;
5. the pipeline: outbox lag sampled during the load, ClickHouse ingestion
   delay of the run's events;
6. integrity: ``manage.py audit_ledger`` and duplicate-grant counts;

then a table on stdout and ``bench/results/<timestamp>/`` (results.json,
report.md, PNG plots, logs). Everything it started is stopped at the end,
on failure and on Ctrl-C too.

Exit status: 0 when the run completed and integrity holds (performance
targets are reported, not enforced, unless ``--strict``); 1 on an integrity
violation (or a missed target with ``--strict``); 2 when the run could not
complete; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import importlib.util
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Only look: importing locust here would monkey-patch this process with gevent.
_missing = [name for name in ("locust", "matplotlib", "numpy") if importlib.util.find_spec(name) is None]
if _missing:  # pragma: no cover - depends on the environment
    sys.exit(f"bench: {', '.join(_missing)} missing: {sys.executable} -m pip install -r requirements-bench.txt")

from bench import analysis, ceiling, integrity, pipeline, stack  # noqa: E402
from bench.stack import BenchError, Process, ProcessSet  # noqa: E402

PRESETS: dict[str, dict[str, Any]] = {
    "full": {
        "players": 2000,
        "rates": [50.0, 100.0, 200.0],
        "stage_seconds": 60,
        "warmup_seconds": 20,
        "pacing": 2.0,
        "workers": 4,
        "pgbench_clients": [1, 4, 8, 16, 32],
        "pgbench_seconds": 15,
        "saturation_concurrency": [1, 2, 4, 8, 16, 32, 64],
        "saturation_step_seconds": 15,
        "saturation_settle_seconds": 3,
        "bucket_seconds": 5,
        "redis_db": 15,
    },
    "quick": {
        "players": 600,
        "rates": [50.0, 100.0, 200.0],
        "stage_seconds": 12,
        "warmup_seconds": 5,
        "pacing": 2.0,
        "workers": 4,
        "pgbench_clients": [1, 8, 32],
        "pgbench_seconds": 3,
        "saturation_concurrency": [2, 8, 32],
        "saturation_step_seconds": 5,
        "saturation_settle_seconds": 2,
        "bucket_seconds": 3,
        "redis_db": 15,
    },
    "smoke": {
        "players": 20,
        "rates": [5.0],
        "stage_seconds": 6,
        "warmup_seconds": 0,
        "pacing": 0.5,  # 3 players, each through a whole visit (login ... buy with gems) within the stage
        "workers": 2,
        "pgbench_clients": [2],
        "pgbench_seconds": 2,
        "saturation_concurrency": [2],
        "saturation_step_seconds": 2,
        "saturation_settle_seconds": 1,
        "bucket_seconds": 1,
        "redis_db": 14,
    },
}
TARGET_RATE = 200.0


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="~2 minutes: fewer players, shorter stages")
    mode.add_argument("--smoke", action="store_true", help="<1 min: 20 players, 5 req/s for 6 s (the smoke test)")
    parser.add_argument("--players", type=int, help="players to seed (full 2000, quick 600)")
    parser.add_argument("--rates", type=_floats, help="arrival rates, req/s, comma-separated (50,100,200)")
    parser.add_argument("--stage-seconds", type=int, help="seconds per measured rate (full 60)")
    parser.add_argument("--warmup-seconds", type=int, help="warm-up at the first rate, not measured (full 20)")
    parser.add_argument("--pacing", type=float, help="mean think time between a player's requests, s (2.0)")
    parser.add_argument("--workers", type=int, help="gunicorn sync workers (4, as in production)")
    parser.add_argument("--pgbench-clients", type=_ints, help="pgbench client counts (1,4,8,16,32)")
    parser.add_argument("--pgbench-seconds", type=int, help="seconds per pgbench level (full 15)")
    parser.add_argument("--saturation-concurrency", type=_ints, help="closed-loop steps (1,2,4,...,64)")
    parser.add_argument("--saturation-step-seconds", type=int, help="seconds per closed-loop step (full 15)")
    parser.add_argument("--skip-pgbench", action="store_true", help="no ceiling sweep")
    parser.add_argument("--skip-saturation", action="store_true", help="no closed-loop phase")
    parser.add_argument("--skip-player", action="store_true", help="no open-loop player phase (saturation only)")
    parser.add_argument(
        "--profile",
        metavar="ENDPOINT",
        choices=["dashboard", "buy_gems", "streak_claim", "vip_claim", "balance", "shop_catalog"],
        help="also profile one endpoint with py-spy (closed loop, one client per worker)",
    )
    parser.add_argument("--profile-seconds", type=int, default=20)
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
    return args


def say(message: str) -> None:
    sys.stdout.write(f"[{datetime.now(UTC):%H:%M:%S}] {message}\n")
    sys.stdout.flush()


# --- facts about the machine and the code -------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cpu_model": model,
        "cores": os.cpu_count() or 0,
        "memory_gb": mem_kb / 1024 / 1024,
        "kernel": platform.release(),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python_loop_ms": python_loop_ms(),
    }


def python_loop_ms() -> float:
    """CPU milliseconds for a fixed pure-Python workload (best of 5): every
    figure of a run scales with it, so it is how two machines compare."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i % 7
        best = min(best, (time.process_time() - started) * 1000)
    return best


def git_sha() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607 - git from PATH, as casino/settings.py does
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()

    sha = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return sha + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


# --- the run ------------------------------------------------------------------------------------------


class BenchRun:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.started = time.time()
        self.tag = secrets.token_hex(3)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = f"{stamp}-{self.tag}"
        self.dir = args.results_dir / self.run_id
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "logs").mkdir(exist_ok=True)
        self.procs = ProcessSet(self.dir / "logs")
        self.smoke = args.mode == "smoke"
        self.database = args.database or ("casino_bench_smoke_" + self.tag if self.smoke else "casino_bench")
        self.ceiling_database = f"{self.database}_ceiling"
        self.ch_database = f"casino_bench_{self.tag}"
        self.topic = f"casino.bench.{self.tag}"
        self.env: dict[str, str] = {}
        self.services: dict[str, str] = {}
        self.result: dict[str, Any] = {"notes": []}
        self.phases: dict[str, float] = {}
        self.lock_handle: Any = None
        self.sampler: pipeline.Sampler | None = None
        self.gunicorn: Process | None = None
        self.django_ready = False
        self.created: set[str] = set()

    # --- setup ---

    def lock(self) -> None:
        if self.smoke:
            return  # throwaway names; smoke runs may overlap
        lock_dir = ROOT / "var" / "run"
        lock_dir.mkdir(parents=True, exist_ok=True)
        self.lock_handle = open(lock_dir / "bench.lock", "w")  # noqa: SIM115 - held for the run
        try:
            fcntl.flock(self.lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BenchError(
                f"another bench run holds {lock_dir / 'bench.lock'} (same database {self.database})"
            ) from None

    def build_env(self, port: int) -> dict[str, str]:
        s = self.services
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        redis_url = stack.with_database(s["REDIS_URL"], str(self.args.redis_db))
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                # production-shaped (docker-compose.yml x-app-environment), with this run's own resources
                "APP_ENV": "production",
                "DEBUG": "false",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "SECURE_SSL_REDIRECT": "false",  # no TLS terminator on loopback
                "DATABASE_URL": stack.with_database(s["DATABASE_URL"], self.database),
                "CONN_MAX_AGE": "60",
                "REDIS_URL": redis_url,
                "CELERY_BROKER_URL": redis_url,
                "CACHE_KEY_PREFIX": f"bench-{self.tag}",
                "CHANNEL_PREFIX": f"bench-asgi-{self.tag}",
                "KAFKA_BOOTSTRAP_SERVERS": s["KAFKA_BOOTSTRAP_SERVERS"],
                "KAFKA_TOPIC": self.topic,
                "CLICKHOUSE_URL": stack.with_database(s["CLICKHOUSE_URL"], self.ch_database),
                "SINK_CONSUMER_GROUP": f"casino-bench-sink-{self.tag}",
                "SHOP_WEBHOOK_SECRETS": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
                "PUBLIC_BASE_URL": f"http://{stack.HOST}:{port}",
                "SHOP_ALLOW_SANDBOX_IN_PRODUCTION": "true",
                "OUTBOX_RELAY_VIA_BEAT": "false",
                "LOG_LEVEL": "INFO",
                "GIT_SHA": self.result["meta"]["git_sha"],
                "BUILD_ID": f"bench-{self.tag}",
                "METRICS_PORT": "0",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def setup_django(self) -> None:
        os.environ.update(self.env)
        import django

        django.setup()
        self.django_ready = True

    def close_db(self) -> None:
        if self.django_ready:
            from django.db import connections

            connections.close_all()

    # --- phases ---

    def execute(self) -> int:
        args = self.args
        self.result["meta"] = {
            "run_id": self.run_id,
            "mode": args.mode,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "git_sha": git_sha(),
            "config": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in {"quick", "smoke"}
            },
        }
        say(f"bench {self.run_id} ({args.mode}); results in {self.dir}")
        self.lock()
        t = time.monotonic()
        self.services = stack.services_up()
        self.phases["services"] = time.monotonic() - t
        say("services up: " + ", ".join(f"{k}={v}" for k, v in self.services.items()))

        gport, dport = stack.free_port(), stack.free_port()
        self.env = self.build_env(gport)
        pg_url = self.services["DATABASE_URL"]
        versions = {
            "python": platform.python_version(),
            "django": package_version("Django"),
            "postgresql": stack.pg_version(pg_url),
            "gunicorn": package_version("gunicorn"),
            "daphne": package_version("daphne"),
            "locust": package_version("locust"),
            "pgbench": ceiling.pgbench_version(),
            "clickhouse": self._clickhouse_version(),
        }
        self.result["meta"]["versions"] = versions
        self.result["meta"]["stack"] = {
            "gunicorn": f"http://127.0.0.1:{gport}",
            "daphne": f"http://127.0.0.1:{dport}",
            "database": self.database,
            "redis": self.env["REDIS_URL"],
            "kafka_topic": self.topic,
            "clickhouse_database": self.ch_database,
        }

        # 1. database, migrations, seed
        t = time.monotonic()
        say(f"database {self.database}: create and migrate")
        stack.pg_create_database(pg_url, self.database)
        self.created.add("pg")
        migrate = subprocess.run(  # noqa: S603
            [stack.PYTHON, str(ROOT / "manage.py"), "migrate", "--noinput"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        (self.dir / "logs" / "migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise BenchError(f"migrate failed:\n{migrate.stderr[-2000:]}")
        self.phases["migrate"] = time.monotonic() - t
        if not self.smoke:
            stack.redis_flush(self.env["REDIS_URL"])  # the bench's own Redis database
        self.setup_django()
        from bench import seed

        seed_t0 = time.time()
        say(f"seeding {args.players} players")
        seeded = seed.seed(args.players)
        self.result["meta"]["seed_seconds"] = seeded.seconds
        say(f"  seeded in {seeded.seconds:.1f} s")
        players_path = self.dir / "players.json"
        players_path.write_text(json.dumps(seeded.players))
        self.result["notes"].append(self._hasher_note())
        from bench import queries

        self.result["queries"] = queries.probe(seeded.players[:2], seed.PLAYER_PASSWORD, seed.GEMS_SKU, seed.MONEY_SKU)
        say(
            "  SQL per request (in-process): "
            + ", ".join(f"{row['endpoint']} {row['statements']}+{row['commits']}c" for row in self.result["queries"])
        )

        from realtime import clickhouse
        from realtime.sink import ensure_topic

        ensure_topic(self.topic)
        self.created.add("topic")
        clickhouse.ensure_schema()
        self.created.add("ch")

        # 2. the ceiling (pgbench on a copy of the seeded database) and 3. the stack.
        # Full and quick runs measure the ceiling before the stack starts; the smoke
        # run overlaps the two to stay short (its figures mean nothing anyway).
        if not args.skip_pgbench:
            self.close_db()
            stack.pg_create_database(pg_url, self.ceiling_database, template=self.database)
            self.created.add("ceiling")
        if self.smoke:
            daphne = self.start_stack(gport, dport)
        if not args.skip_pgbench:
            t = time.monotonic()
            say(
                f"ceiling: pgbench {ceiling.SCRIPT.name} at {args.pgbench_clients} clients, "
                f"{args.pgbench_seconds} s each"
            )
            try:
                self.result["ceiling"] = ceiling.sweep(
                    database_url=stack.with_database(pg_url, self.ceiling_database),
                    client_counts=args.pgbench_clients,
                    seconds=args.pgbench_seconds,
                    variables={
                        "minuid": seeded.min_user_id,
                        "maxuid": seeded.max_user_id,
                        "productid": seeded.gems_product_id,
                        "price": seed.GEMS_PRICE,
                    },
                    log_dir=self.dir / "pgbench",
                    say=say,
                )
            finally:
                stack.pg_drop_database(pg_url, self.ceiling_database)
                self.created.discard("ceiling")
            self.phases["ceiling"] = time.monotonic() - t
        t = time.monotonic()
        if not self.smoke:
            daphne = self.start_stack(gport, dport)
        assert self.gunicorn is not None
        stack.wait_http(self.gunicorn, f"http://{stack.HOST}:{gport}/ready", timeout=90)
        stack.wait_http(daphne, f"http://{stack.HOST}:{dport}/health", timeout=90)
        say("  web up; waiting for the seed's events to reach ClickHouse (relay + sink working)")
        drained = pipeline.wait_drained(timeout=120, t0=seed_t0 - 1, t1=time.time() + 1, say=say)
        if not drained["drained"]:
            self.procs.check_alive()
            raise BenchError(f"the pipeline did not deliver the seed's events: {drained}")
        self.phases["stack"] = time.monotonic() - t
        self.procs.check_alive()

        base_config = {
            "host": f"http://{stack.HOST}:{gport}",
            "players_path": str(players_path),
            "database_dsn": self.env["DATABASE_URL"],
            "invite_code": seed.INVITE_CODE,
            "password": seed.PLAYER_PASSWORD,
            "gems_sku": seed.GEMS_SKU,
            "money_sku": seed.MONEY_SKU,
            "run_tag": self.tag,
            "pacing_s": args.pacing,
            "signup_ratio": 0.1,
            "retry_ratio": 0.05,
            "webhook_duplicate_ratio": 0.05,
            "spawn_rate": 100,
        }
        self.sampler = pipeline.Sampler(self._bench_pgids)
        self.sampler.start()
        load_t0 = time.time()

        # 4 and 5. player scenario (open loop), then saturation (closed loop): one Locust process
        stages = []
        if not args.skip_player:
            if args.warmup_seconds:
                stages.append(
                    {"name": "warmup", "rate": args.rates[0], "duration_s": args.warmup_seconds, "measured": False}
                )
            stages += [
                {"name": f"{r:g}rps", "rate": r, "duration_s": args.stage_seconds, "measured": True} for r in args.rates
            ]
            say(
                "player scenario (open loop): "
                + ", ".join(f"{s['name']} {s['rate']:g} req/s x {s['duration_s']} s" for s in stages)
                + f"; think time {args.pacing:g} s"
            )
        total = sum(stage["duration_s"] for stage in stages) + 160  # + the pause between phases, stop timeouts
        tokens_path = self.issue_tokens() if (not args.skip_saturation or args.profile) else None
        saturation = None
        if not args.skip_saturation:
            say(f"then saturation (closed loop): purchase, claim at up to {args.saturation_concurrency} clients")
            saturation = {
                "series": ["purchase", "claim"],
                "concurrency": args.saturation_concurrency,
                "step_s": args.saturation_step_seconds,
                "settle_s": args.saturation_settle_seconds,
            }
            total += 2 * len(args.saturation_concurrency) * (args.saturation_step_seconds + 2) + 5
        t = time.monotonic()
        timeline, counters = self.run_locust(
            "run",
            ["PlayerUser", "SaturationUser"],
            {
                **base_config,
                "stages": stages,
                "gap_s": 1 if self.smoke else 3,
                "tokens_path": str(tokens_path) if tokens_path else None,
                "saturation": saturation,
            },
            timeout=total + 90,
        )
        self.phases["load"] = time.monotonic() - t
        player_timeline = [entry for entry in timeline if entry.get("phase") == "player"]
        sat_timeline = [entry for entry in timeline if entry.get("phase") == "saturation"]
        player_stages_raw = [entry for entry in player_timeline if "end" in entry]

        # optional profile
        if args.profile:
            self.run_profile(base_config, tokens_path)

        load_t1 = time.time()
        self.sampler.stop()

        # 6. pipeline and integrity
        say("pipeline: waiting for the outbox and ClickHouse to catch up")
        drained = pipeline.wait_drained(timeout=180, t0=load_t0, t1=load_t1, say=say)
        self.procs.check_alive()
        player_window = (
            (player_stages_raw[0]["start"], player_stages_raw[-1]["end"]) if player_stages_raw else (load_t0, load_t1)
        )
        ingestion = pipeline.ingestion(
            {"player": player_window, "run": (load_t0, load_t1)},
            [s for s in player_stages_raw if s.get("measured")],
            float(args.bucket_seconds),
        )
        summary = pipeline.summarize_samples(self.sampler.samples, *player_window)
        self.result["pipeline"] = {
            **summary,
            "drain": drained,
            "ingestion": ingestion,
            "sampler_errors": self.sampler.errors[:5],
        }
        pipeline.write_samples_csv(self.dir / "pipeline-samples.csv", self.sampler.samples)
        say("integrity: audit_ledger and duplicate grants")
        self.result["integrity"] = integrity.check()
        self.close_db()
        self.result["meta"]["machine"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        say("stopping the stack; numbers and plots")
        stop_errors: list[str] = []
        stopper = threading.Thread(target=lambda: stop_errors.extend(self.procs.stop_all()), daemon=True)
        stopper.start()

        # 7. numbers, plots, report
        self.analyse(player_timeline, counters, sat_timeline, player_window)
        stopper.join(60)
        self.result["notes"] += [f"stop: {error}" for error in stop_errors]
        return self.finish()

    def start_stack(self, gport: int, dport: int) -> Process:
        """gunicorn, daphne, relay and sink as production runs them (docker-compose.yml)."""
        args = self.args
        say(f"starting gunicorn ({args.workers} sync workers) :{gport}, daphne :{dport}, relay, sink")
        prom_dir = self.dir / "prometheus-multiproc"
        prom_dir.mkdir(exist_ok=True)
        self.gunicorn = self.procs.start(
            "gunicorn",
            [
                stack.PYTHON,
                "-m",
                "gunicorn",
                "casino.wsgi:application",
                "--workers",
                str(args.workers),
                "--bind",
                f"{stack.HOST}:{gport}",
                "--access-logfile",
                "-",
            ],
            {**self.env, "PROMETHEUS_MULTIPROC_DIR": str(prom_dir)},
        )
        daphne = self.procs.start(
            "daphne",
            [stack.PYTHON, "-m", "daphne", "-b", stack.HOST, "-p", str(dport), "casino.asgi:application"],
            {**self.env, "CONN_MAX_AGE": "0"},
        )
        self.procs.start("relay", [stack.PYTHON, str(ROOT / "manage.py"), "relay_outbox"], self.env)
        self.procs.start("sink", [stack.PYTHON, str(ROOT / "manage.py"), "sink_clickhouse"], self.env)
        return daphne

    def _clickhouse_version(self) -> str:
        try:
            client = stack.clickhouse_client(self.services["CLICKHOUSE_URL"])
            try:
                return str(client.execute("SELECT version()")[0][0])
            finally:
                client.disconnect()
        except Exception as exc:  # noqa: BLE001
            return f"unknown ({exc})"

    def _bench_pgids(self) -> dict[int, str]:
        return {process.pid: process.name for process in self.procs.processes}

    def _hasher_note(self) -> str:
        from django.contrib.auth.hashers import PBKDF2PasswordHasher

        hasher = PBKDF2PasswordHasher()
        t = time.perf_counter()
        hasher.encode("Bench-Player-Pass-7", hasher.salt())
        ms = (time.perf_counter() - t) * 1000
        return (
            f"Passwords use MD5 in the bench (bench/settings.py). One hash with production's PBKDF2 "
            f"({hasher.iterations} iterations) took {ms:.0f} ms of CPU here: every real login or sign-up costs "
            f"that much more, and at 2 cores caps logins at ~{2000 / ms:.0f}/s."
        )

    def issue_tokens(self) -> Path:
        from accounts.models import User
        from accounts.tokens import tokens_issue

        players = json.loads((self.dir / "players.json").read_text())
        ids = [p["id"] for p in players]
        tokens = {str(user.pk): tokens_issue(user=user).access for user in User.objects.filter(pk__in=ids)}
        path = self.dir / "tokens.json"
        path.write_text(json.dumps(tokens))
        return path

    def run_locust(
        self, mode: str, user_classes: list[str], config: dict[str, Any], *, timeout: float
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        config = {
            **config,
            "mode": mode,
            "samples_path": str(self.dir / f"samples-{mode}.csv"),
            "timeline_path": str(self.dir / f"timeline-{mode}.json"),
            "counters_path": str(self.dir / f"counters-{mode}.json"),
        }
        config_path = self.dir / f"locust-{mode}.json"
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
            str(self.dir / f"locust-{mode}"),
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
        process = self.procs.start(f"locust-{mode}", argv, {**self.env, "BENCH_CONFIG": str(config_path)})
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
            self.result["notes"].append(
                f"Locust ({mode}) warned {cpu_warnings}x that its own CPU use was above 90 %: on this 2-core "
                "machine the load generator competes with the server it measures."
            )
        return json.loads(timeline_path.read_text()), counters

    def run_profile(self, base_config: dict[str, Any], tokens_path: Path | None) -> None:
        from bench import profile

        args = self.args
        assert self.gunicorn is not None
        pids = profile.worker_pids(self.gunicorn.pid)
        settle = 3
        say(f"profile: {args.profile}, {args.workers} clients back to back, py-spy on workers {pids}")
        out_dir = self.dir / "profile"
        config = {
            **base_config,
            "tokens_path": str(tokens_path),
            "saturation": {
                "series": [args.profile],
                "concurrency": [args.workers],
                "step_s": args.profile_seconds + settle + 1,
                "settle_s": settle,
            },
        }
        recorders: list[Any] = []

        def record_later() -> None:
            time.sleep(settle + 2)  # Locust's start-up and the settle time
            recorders.extend(profile.start_recording(pids, args.profile_seconds, out_dir))

        starter = threading.Thread(target=record_later, daemon=True)
        starter.start()
        timeline, _ = self.run_locust("profile", ["SaturationUser"], config, timeout=args.profile_seconds + settle + 90)
        starter.join()
        for recorder in recorders:
            recorder.wait(60)
        summary = profile.summarize(out_dir)
        samples = analysis.Samples.read(self.dir / "samples-profile.csv")
        step = timeline[0]
        row = analysis.latency_row(
            samples, samples.mask(None, step["measure_start"], step["end"]), step["end"] - step["measure_start"]
        )
        self.result["profile"] = {"endpoint": args.profile, "clients": args.workers, "load": row, **summary}

    # --- numbers ---

    def analyse(
        self,
        player_timeline: list[dict[str, Any]],
        counters: dict[str, Any],
        sat_timeline: list[dict[str, Any]],
        player_window: tuple[float, float],
    ) -> None:
        meta = self.result["meta"]
        meta["duration_s"] = time.time() - self.started
        meta["phases_s"] = self.phases
        analyse(
            self.dir,
            self.result,
            player_timeline=player_timeline,
            counters=counters,
            sat_timeline=sat_timeline,
            player_window=player_window,
            pipeline_samples=self.sampler.samples if self.sampler else [],
        )

    def finish(self) -> int:
        (self.dir / "results.json").write_text(json.dumps(self.result, indent=1, default=str))
        report = analysis.markdown(self.result)
        (self.dir / "report.md").write_text(report)
        sys.stdout.write("\n" + report + "\n")
        sys.stdout.flush()
        say(f"results: {self.dir}")
        if not self.result["integrity"]["ok"]:
            say("INTEGRITY VIOLATED (see the integrity table)")
            return 1
        if self.args.strict and not self.result["targets"]["all_ok"]:
            say("targets missed (--strict)")
            return 1
        return 0

    # --- cleanup ---

    def cleanup(self) -> None:
        errors = []
        if self.sampler is not None and self.sampler.is_alive():
            self.sampler.stop()
        errors += self.procs.stop_all()
        with contextlib.suppress(Exception):
            self.close_db()
        pg_url = self.services.get("DATABASE_URL")
        if pg_url and "ceiling" in self.created:
            with contextlib.suppress(Exception):
                stack.pg_drop_database(pg_url, self.ceiling_database)
        if "ch" in self.created and not self.args.keep:
            try:
                stack.clickhouse_drop_database(self.services["CLICKHOUSE_URL"], self.ch_database)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"ClickHouse: {exc}")
        if "topic" in self.created and not self.args.keep:
            problem = stack.kafka_delete_topic(self.services["KAFKA_BOOTSTRAP_SERVERS"], self.topic)
            if problem:
                errors.append(problem)
        if self.env.get("REDIS_URL"):
            try:
                if self.smoke:
                    stack.redis_delete_prefix(self.env["REDIS_URL"], [f"bench-{self.tag}:", f"bench-asgi-{self.tag}"])
                else:
                    stack.redis_flush(self.env["REDIS_URL"])
            except Exception as exc:  # noqa: BLE001
                errors.append(f"Redis: {exc}")
        if pg_url and self.smoke and "pg" in self.created:
            try:
                stack.pg_drop_database(pg_url, self.database)
            except Exception as exc:  # noqa: BLE001
                errors.append(f"PostgreSQL: {exc}")
        if self.lock_handle is not None:
            self.lock_handle.close()
        for error in errors:
            say(f"cleanup: {error}")


def analyse(
    run_dir: Path,
    result: dict[str, Any],
    *,
    player_timeline: list[dict[str, Any]],
    counters: dict[str, Any],
    sat_timeline: list[dict[str, Any]],
    player_window: tuple[float, float],
    pipeline_samples: list[dict[str, Any]],
) -> None:
    """Numbers, targets and plots from the files of a run (also ``--render``)."""
    meta = result["meta"]
    config = meta["config"]
    pacing, rates, bucket = float(config["pacing"]), list(config["rates"]), float(config["bucket_seconds"])
    samples = analysis.Samples.read(run_dir / "samples-run.csv")
    stages = analysis.player_stats(samples, [s for s in player_timeline if "end" in s], pacing)
    late = counters.get("counters", {}).get("late_slots", 0)
    result["player"] = {
        "stages": stages,
        "counters": counters.get("counters", {}),
        "errors": counters.get("errors", {}),
        "open_loop": (
            f"{round(rates[-1] * pacing)} users at the top rate, each scheduling one request per "
            f"slot, slots {0.5 * pacing:g}-{1.5 * pacing:g} s apart on the clock; {late} slots "
            "started late (the previous request outlived its slot)"
        ),
    }
    ceiling_result = result.get("ceiling")
    ceiling_tps = ceiling_result["best"]["tps"] if ceiling_result else None
    if sat_timeline:
        result["saturation"] = analysis.saturation_stats(samples, [s for s in sat_timeline if "end" in s], ceiling_tps)
    ing = result["pipeline"]["ingestion"].get("player", {})
    result["targets"] = analysis.evaluate_targets(
        stages,
        target_rate=TARGET_RATE,
        duplicate_grants=result["integrity"]["duplicate_grants"],
        audit_ok=result["integrity"]["audit_exit"] == 0,
        ingestion_p95_s=ing.get("p95_s"),
    )
    cpu = result["pipeline"]["cpu_mean_cores"]
    result["analysis_notes"] = [
        "Open loop: " + result["player"]["open_loop"] + ".",
        f"CPU during the player load (mean cores busy of {meta['machine']['cores']}): whole machine "
        f"{cpu['cpu_total']:.2f} = gunicorn {cpu['cpu_gunicorn']:.2f} + Locust {cpu['cpu_locust']:.2f} + "
        f"relay/sink/daphne {cpu['cpu_pipeline']:.2f} + PostgreSQL (all databases) {cpu['cpu_postgres']:.2f} + "
        f"other work {cpu['cpu_other']:.2f}. Load generator, server, PostgreSQL, the pipeline and other "
        "people's work share the same cores: treat the figures as noisy.",
        "Players send their own X-Forwarded-For (bench/settings.py trusts it, playing the load balancer); "
        "the payment provider's approvals are a conditional UPDATE of its own table, its webhooks are signed "
        "with shop.webhooks.signature_headers.",
    ]
    t0, t1 = player_window
    series = analysis.time_series(samples, analysis.PLAYER_ENDPOINTS, t0, t1, bucket)
    analysis.plot_latency(run_dir / "latency_over_time.png", series, stages, t0, meta)
    analysis.plot_throughput(run_dir / "throughput_vs_concurrency.png", result.get("saturation"), ceiling_result, meta)
    rates_series = analysis.rate_series(samples, analysis.PLAYER_ENDPOINTS, t0, t1, bucket)
    analysis.plot_pipeline(
        run_dir / "pipeline.png", pipeline_samples, rates_series, stages, result["pipeline"]["ingestion"], t0, meta
    )
    result["plots"] = ["latency_over_time.png", "throughput_vs_concurrency.png", "pipeline.png"]


def render(run_dir: Path) -> int:
    """Rebuild report.md, results.json and the plots of a finished run from its files."""
    result = json.loads((run_dir / "results.json").read_text())
    timeline = json.loads((run_dir / "timeline-run.json").read_text())
    counters_path = run_dir / "counters-run.json"
    counters = json.loads(counters_path.read_text()) if counters_path.exists() else {}
    pipeline_samples: list[dict[str, Any]] = []
    samples_path = run_dir / "pipeline-samples.csv"
    if samples_path.exists():
        lines = samples_path.read_text().splitlines()
        keys = lines[0].split(",")
        pipeline_samples = [
            {k: float(v) for k, v in zip(keys, line.split(","), strict=True) if v != ""} for line in lines[1:]
        ]
    if result.get("profile") and (run_dir / "profile").is_dir():
        from bench import profile

        result["profile"].update(profile.summarize(run_dir / "profile"))
    player_timeline = [e for e in timeline if e.get("phase") == "player"]
    done = [e for e in player_timeline if "end" in e]
    window = (done[0]["start"], done[-1]["end"]) if done else (timeline[0]["start"], timeline[-1].get("end", 0))
    result["notes"] = [
        n for n in result.get("notes", []) if not n.startswith(("Open loop:", "CPU during", "Players send"))
    ]
    analyse(
        run_dir,
        result,
        player_timeline=player_timeline,
        counters=counters,
        sat_timeline=[e for e in timeline if e.get("phase") == "saturation"],
        player_window=window,
        pipeline_samples=pipeline_samples,
    )
    (run_dir / "results.json").write_text(json.dumps(result, indent=1, default=str))
    report = analysis.markdown(result)
    (run_dir / "report.md").write_text(report)
    sys.stdout.write(report + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args.render)

    def interrupted(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # Explicitly, SIGINT too: a job started in the background of a script inherits it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    run = BenchRun(args)
    try:
        return run.execute()
    except KeyboardInterrupt:
        say("interrupted: stopping everything this run started")
        return 130
    except BenchError as exc:
        say(f"FAILED: {exc}")
        return 2
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            run.cleanup()
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)


if __name__ == "__main__":
    sys.exit(main())
