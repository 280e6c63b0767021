#!/usr/bin/env python3
"""Casino Club benchmark: ``make bench`` (full), ``make bench-quick`` (~2.5 min),
``bench/run.py --smoke`` (under a minute; casino/tests/test_bench_smoke.py); both make
targets then run the realtime tier's bench (``bench/run.py sockets``: bench/sockets.py).

One run, start to finish (bench/README.md has the details):

1. the stack, production-shaped, on 127.0.0.1: the services of
   ``scripts/services.sh up``; a dedicated database (``casino_bench``,
   migrated), Redis database, Kafka topic and ClickHouse database; gunicorn
   (``casino.wsgi``, N sync workers), uvicorn (``casino.asgi``), the relay and
   the sink; N players seeded (bulk users, balances through
   ``economy.services``), a gem-priced and a money-priced product;
   the steady-state cost per request in-process, against the bare-framework
   reference (bench/cpu.py, bench/bare.py), and with ``--against REV`` the
   same table for another version of the code (bench/against.py);
2. the ceiling: pgbench with ``bench/pgbench/purchase.sql`` (one purchase's
   write set) on a copy of that database, at several client counts;
3. saturation of the bare purchase, closed loop, at rising concurrency until
   throughput stops growing (Locust);
4. the player scenario, open loop, at shares of that rate (10, 15, 20, 25, 30 %; quick: 10, 20, 30 %; or
   at fixed arrival rates, ``--rates 50,100,200``: then step 3 runs after it,
   bench/stages.py); then the purchase and claim endpoints, closed loop as in
   step 3; the ratios to the ceiling; the player scenario's sustained rate as
   a share of the bare purchase's;
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
import contextlib
import importlib.util
import json
import os
import secrets
import signal
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

from bench import against, ceiling, facts, integrity, load, pipeline, seed, server, stack, timing, vacuum  # noqa: E402
from bench.cli import parse_args  # noqa: E402
from bench.render import analyse, render  # noqa: E402
from bench.report import markdown  # noqa: E402
from bench.stack import BenchError, Process, ProcessSet  # noqa: E402

# The in-process table's players (bench/cpu.py): their own site ids, phone numbers and addresses.
CPU_PREFIX = "bq"
CPU_FIRST_INDEX = 500_000


def say(message: str) -> None:
    sys.stdout.write(f"[{datetime.now(UTC):%H:%M:%S}] {message}\n")
    sys.stdout.flush()


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
        self.res = stack.RunResources(
            tag=self.tag,
            smoke=self.smoke,
            database=args.database or ("casino_bench_smoke_" + self.tag if self.smoke else "casino_bench"),
        )
        self.env: dict[str, str] = {}
        self.services: dict[str, str] = {}
        self.result: dict[str, Any] = {"notes": []}
        self.phases: dict[str, float] = {}
        self.sampler: pipeline.Sampler | None = None
        self.vacuumer: vacuum.Vacuumer | None = None
        self.gunicorn: Process | None = None
        self.django_ready = False

    # --- setup ---

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
            "machine": facts.machine(),
            "git_sha": facts.git_sha(),
            "config": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in {"quick", "smoke"}
            },
        }
        say(f"bench {self.run_id} ({args.mode}); results in {self.dir}")
        self.res.lock()
        t = time.monotonic()
        self.services = stack.services_up()
        self.phases["services"] = time.monotonic() - t
        say("services up: " + ", ".join(f"{k}={v}" for k, v in self.services.items()))

        gport, dport = stack.free_port(), stack.free_port()
        self.login_port = None if args.one_pool else stack.free_port()
        self.env = server.app_env(
            services=self.services,
            redis_db=args.redis_db,
            database=self.res.database,
            clickhouse_database=self.res.clickhouse_database,
            topic=self.res.topic,
            tag=self.tag,
            port=gport,
            git_sha=self.result["meta"]["git_sha"],
        )
        pg_url = self.services["DATABASE_URL"]
        self.result["meta"]["versions"] = facts.versions(pg_url=pg_url, clickhouse_url=self.services["CLICKHOUSE_URL"])
        self.result["meta"]["stack"] = {
            "gunicorn": f"http://127.0.0.1:{gport}",
            "gunicorn_login": f"http://127.0.0.1:{self.login_port}" if self.login_port else None,
            "asgi": f"http://127.0.0.1:{dport}",
            "database": self.res.database,
            "redis": self.env["REDIS_URL"],
            "kafka_topic": self.res.topic,
            "clickhouse_database": self.res.clickhouse_database,
        }

        # 1. database, migrations, seed
        t = time.monotonic()
        say(f"database {self.res.database}: create and migrate")
        stack.pg_create_database(pg_url, self.res.database)
        self.res.created.add("pg")
        server.migrate(self.env, self.dir / "logs" / "migrate.log")
        self.phases["migrate"] = time.monotonic() - t
        if not self.smoke:
            stack.redis_flush(self.env["REDIS_URL"])  # the bench's own Redis database
        self.setup_django()
        if args.cpu_only:
            seed.seed_products()
            self.result["notes"].append(seed.demo_content_note(seed.seed_demo_content()))
            self.result["notes"].append(facts.hasher_note())
            self.cpu_table(pg_url)
            return self.finish_cpu_only()
        seed_t0 = time.time()
        say(f"seeding {args.players} players")
        seeded = seed.seed(args.players)
        self.result["meta"]["seed_seconds"] = seeded.seconds
        say(f"  seeded in {seeded.seconds:.1f} s")
        self.result["notes"].append(seed.demo_content_note(seeded.demo_content))
        players_path = self.dir / "players.json"
        players_path.write_text(json.dumps(seeded.players))
        self.result["notes"].append(facts.hasher_note())
        self.cpu_table(pg_url)

        from realtime import clickhouse
        from realtime.sink import ensure_topic

        ensure_topic(self.res.topic)
        self.res.created.add("topic")
        clickhouse.ensure_schema()
        self.res.created.add("ch")

        # 2. the ceiling (pgbench on a copy of the seeded database) and 3. the stack.
        # Full and quick runs measure the ceiling before the stack starts; the smoke
        # run overlaps the two to stay short (its figures mean nothing anyway).
        if not args.skip_pgbench:
            self.close_db()
            stack.pg_create_database(pg_url, self.res.ceiling_database, template=self.res.database)
            self.res.created.add("ceiling")
        if self.smoke:
            asgi = self.start_stack(gport, dport)
        if not args.skip_pgbench:
            t = time.monotonic()
            try:
                self.result["ceiling"] = ceiling.measure(
                    pg_url=pg_url,
                    database=self.res.ceiling_database,
                    client_counts=args.pgbench_clients,
                    seconds=args.pgbench_seconds,
                    seeded=seeded,
                    log_dir=self.dir / "pgbench",
                    say=say,
                )
            finally:
                self.res.created.discard("ceiling")
            self.phases["ceiling"] = time.monotonic() - t
        t = time.monotonic()
        if not self.smoke:
            asgi = self.start_stack(gport, dport)
        assert self.gunicorn is not None
        stack.wait_http(self.gunicorn, f"http://{stack.HOST}:{gport}/ready", timeout=90)
        if self.login_port:
            stack.wait_http(self.gunicorn, f"http://{stack.HOST}:{self.login_port}/ready", timeout=90)
        stack.wait_http(asgi, f"http://{stack.HOST}:{dport}/health", timeout=90)
        say("  web up; waiting for the seed's events to reach ClickHouse (relay + sink working)")
        drained = pipeline.wait_drained(timeout=120, t0=seed_t0 - 1, t1=time.time() + 1, say=say)
        if not drained["drained"]:
            self.procs.check_alive()
            raise BenchError(f"the pipeline did not deliver the seed's events: {drained}")
        self.phases["stack"] = time.monotonic() - t
        self.procs.check_alive()

        base_config = load.base_config(
            host=f"http://{stack.HOST}:{gport}",
            players_path=players_path,
            database_dsn=self.env["DATABASE_URL"],
            run_tag=self.tag,
            pacing_s=args.pacing,
            login_ratio=args.login_ratio,
            visit_rounds=args.visit_rounds,
            start_midway=args.start_midway,
            login_host=f"http://{stack.HOST}:{self.login_port}" if self.login_port else None,
            socket_host=f"ws://{stack.HOST}:{dport}",
            socket_ratio=args.socket_ratio,
        )
        self.sampler = pipeline.Sampler(self._bench_pgids, latency_dir=self.dir / "prometheus-multiproc")
        self.sampler.start()
        if not vacuum.autovacuum_on(self.env["DATABASE_URL"]):
            self.vacuumer = vacuum.Vacuumer(self.env["DATABASE_URL"], interval_s=5.0 if self.smoke else 20.0)
            self.vacuumer.start()
        load_t0 = time.time()

        # 4 and 5. player scenario (open loop), then saturation (closed loop): one Locust process
        stages, saturation, total = load.plan(args, say)
        tokens_path = load.issue_tokens(self.dir)
        locust = load.Locust(self.procs, self.env, self.dir, self.result["notes"])
        t = time.monotonic()
        timeline, counters = locust.run(
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
            assert self.gunicorn is not None
            self.result["profile"] = load.run_profile(
                locust,
                gunicorn_pid=self.gunicorn.pid,
                endpoint=args.profile,
                clients=args.workers,
                seconds=args.profile_seconds,
                base_config=base_config,
                tokens_path=tokens_path,
                say=say,
            )

        load_t1 = time.time()
        self.sampler.stop()
        if self.vacuumer is not None:
            self.result["vacuum"] = self.vacuumer.stop()
            self.result["notes"].append(vacuum.report_note(self.result["vacuum"]))

        # 6. pipeline and integrity
        say("pipeline: waiting for the outbox and ClickHouse to catch up")
        drained = pipeline.wait_drained(timeout=180, t0=load_t0, t1=load_t1, say=say)
        self.procs.check_alive()
        player_window = (
            (player_stages_raw[0]["start"], player_stages_raw[-1]["end"]) if player_stages_raw else (load_t0, load_t1)
        )
        self.result["pipeline"] = pipeline.after_load(
            self.sampler,
            drained=drained,
            windows={"player": player_window, "run": (load_t0, load_t1)},
            stages=[s for s in player_stages_raw if s.get("measured")],
            bucket_s=float(args.bucket_seconds),
            csv_path=self.dir / "pipeline-samples.csv",
        )
        say("integrity: audit_ledger and duplicate grants")
        self.result["integrity"] = integrity.check()
        self.close_db()
        self.result["meta"]["machine"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        say("stopping the stack; numbers and plots")
        stop_errors: list[str] = []
        stopper = threading.Thread(target=lambda: stop_errors.extend(self.procs.stop_all()), daemon=True)
        stopper.start()

        # 7. numbers, plots, report
        self.result["meta"]["duration_s"] = time.time() - self.started
        self.result["meta"]["phases_s"] = self.phases
        analyse(
            self.dir,
            self.result,
            player_timeline=player_timeline,
            counters=counters,
            sat_timeline=sat_timeline,
            player_window=player_window,
            pipeline_samples=self.sampler.samples,
            latency_snapshots=self.sampler.latency,
        )
        stopper.join(60)
        self.result["notes"] += [f"stop: {error}" for error in stop_errors]
        return self.finish()

    def cpu_table(self, pg_url: str) -> None:
        """The in-process table (bench/cpu.py) on players of its own, then the
        same for ``--against``; before any server runs, on a quiet stack."""
        from bench import cpu
        from bench.targets import evaluate_cpu

        args = self.args
        sizes = {
            "warmup": args.cpu_warmup,
            "requests": args.cpu_requests,
            "count_requests": args.cpu_count_requests,
        }
        t = time.monotonic()
        pool = sum(sizes.values())
        say(f"in-process cost per request (bench/cpu.py): {pool} players, {args.cpu_requests} timed requests a row")
        players = seed.seed_players(pool, prefix=CPU_PREFIX, first_index=CPU_FIRST_INDEX)
        cpu.issue_tokens(players)
        loop_ms = self.result["meta"]["machine"]["python_loop_ms"]
        table = cpu.measure(
            players,
            gems_sku=seed.GEMS_SKU,
            money_sku=seed.MONEY_SKU,
            say=say,
            log_path=str(self.dir / "logs" / "cpu-app.log"),
            profile=args.cpu_profile,
            profile_dir=str(self.dir),
            **sizes,
        )
        evaluate_cpu(table, python_loop_ms=loop_ms)
        self.result["cpu"] = table
        if args.against:
            self.close_db()
            self.res.created.add("against")
            other = against.measure(
                rev=args.against,
                env=self.env,
                pg_url=pg_url,
                database=self.res.against_database,
                sizes={"players": pool, **sizes},
                log_dir=self.dir / "logs",
                say=say,
            )
            if "rows" in other:
                evaluate_cpu(other, python_loop_ms=loop_ms)
            else:
                say(f"  against {other['label']}: not measured: {other['error'][-300:]}")
            self.result["cpu_against"] = other
        self.phases["cpu"] = time.monotonic() - t

    def finish_cpu_only(self) -> int:
        """``--cpu-only``: the table(s), the ledger checks, the report."""
        from bench.targets import TARGET_RATE, evaluate_targets

        say("integrity: audit_ledger and duplicate grants")
        self.result["integrity"] = integrity.check()
        self.close_db()
        self.result["targets"] = evaluate_targets(
            [],
            target_rate=TARGET_RATE,
            duplicate_grants=self.result["integrity"]["duplicate_grants"],
            audit_ok=self.result["integrity"]["audit_exit"] == 0,
            ingestion_p95_s=None,
            cpu=self.result["cpu"],
        )
        self.result["meta"]["machine"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        self.result["meta"]["duration_s"] = time.time() - self.started
        self.result["meta"]["phases_s"] = self.phases
        return self.finish()

    def start_stack(self, gport: int, dport: int) -> Process:
        self.gunicorn, asgi = server.start(
            self.procs,
            self.env,
            workers=self.args.workers,
            gport=gport,
            dport=dport,
            prom_dir=self.dir / "prometheus-multiproc",
            say=say,
            login_port=self.login_port,
            login_workers=self.args.login_workers,
            timing_dir=self.dir / timing.DIRECTORY,
        )
        return asgi

    def _bench_pgids(self) -> dict[int, str]:
        return {process.pid: process.name for process in self.procs.processes}

    # --- numbers ---

    def finish(self) -> int:
        (self.dir / "results.json").write_text(json.dumps(self.result, indent=1, default=str))
        report = markdown(self.result)
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
        if self.vacuumer is not None and self.vacuumer.is_alive():
            self.vacuumer.stop()
        errors += self.procs.stop_all()
        with contextlib.suppress(Exception):
            self.close_db()
        errors += self.res.release(services=self.services, env=self.env, keep=self.args.keep)
        for error in errors:
            say(f"cleanup: {error}")


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv)[:1] == ["sockets"]:  # bench/run.py sockets [...]: bench/sockets.py
        from bench import sockets

        return sockets.main((sys.argv[1:] if argv is None else argv)[1:])
    args = parse_args(argv, description=__doc__.split("\n\n")[0])
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
