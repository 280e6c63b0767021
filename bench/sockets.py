#!/usr/bin/env python3
"""Sockets at scale on one ASGI process, started as production starts its
realtime tier (``bench/server.py``: uvicorn with compose's options,
``APP_ENV=production``, ``CONN_MAX_AGE=0``, the bench's settings;
``--server daphne`` measures the other server the project runs on, ``make
run``'s), measured from outside:

1. **capacity**: idle authenticated sockets opened up to ``--sockets``
   (every one greeted and given its initial state); at each step the server's
   memory (RSS), its Redis and PostgreSQL connections (its own TCP sockets, read
   from ``/proc``) and, once all are open, its CPU while they idle;
2. **mass disconnect**: all of them closed at once; how long until Redis holds
   no membership and no presence, and the worst ``/health`` answer meanwhile;
3. **connect storm**: ``--storm`` handshakes at once, on a freshly started
   server (a reconnect after a deploy: nothing kept in the process; the players'
   rows the previous server shared in Redis, ``accounts.auth_cache``) and again on the warm
   one; successes, time, connects per second, time until every socket had its
   initial state;
4. **push latency and loss**: ``--push-sockets`` players connected, events
   committed at each of ``--rates`` per second for ``--stage-seconds``
   (``realtime.emit`` in a process of its own, ``bench/socket_emitter.py``, which
   pushes like a web process does):
   p50/p95/p99 from commit to the client, lost events, gaps in ``seq``;
5. in process, what the push costs for a player without a socket (the stock
   ``channels_redis`` ``group_send`` against the project's batched script) and
   what one initial state costs (queries, milliseconds).

    .venv/bin/python bench/sockets.py                   # 10,000 sockets, storm of 2,000, 50/100/200 events/s
    .venv/bin/python bench/sockets.py --quick           # 2,000 sockets, storm of 1,000, 10 s stages
    .venv/bin/python bench/sockets.py --quick --server daphne    # the same on daphne
    .venv/bin/python bench/run.py sockets --quick       # the same, through bench/run.py

The clients run in this process (asyncio, ``websockets``) and share the
machine's cores with the server: read the figures as a floor. Results:
``bench/results/<UTC timestamp>-sockets/`` (``sockets.json``, ``report.md``,
the server's log). The database ``casino_bench_sockets`` is created and
migrated for the run and dropped at the end; Redis database 12 is flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import seed, server, stack  # noqa: E402
from bench.procfs import cpu_seconds, server_figures  # noqa: E402
from bench.socket_clients import Clients, Socket  # noqa: E402
from bench.socket_report import percentile, render, rounded  # noqa: E402
from bench.stack import BenchError, Process, ProcessSet  # noqa: E402

DATABASE = "casino_bench_sockets"
REDIS_DB = 12
EMITTER = ROOT / "bench" / "socket_emitter.py"  # the push stage's events, committed in a process of its own
OPEN_CONCURRENCY = 200  # handshakes in flight while the capacity step opens sockets


def say(message: str) -> None:
    sys.stdout.write(f"[{datetime.now(UTC):%H:%M:%S}] {message}\n")
    sys.stdout.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/sockets.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2,000 sockets, a storm of 1,000, 10 s stages")
    parser.add_argument("--sockets", type=int, help="idle sockets to hold (10000; quick 2000)")
    parser.add_argument("--storm", type=int, help="handshakes at once (2000; quick 1000)")
    parser.add_argument("--players", type=int, help="players to seed; sockets beyond reuse them (2000)")
    parser.add_argument("--push-sockets", type=int, help="players connected while pushing (1000; quick 500)")
    parser.add_argument("--rates", default="50,100,200", help="events per second, comma-separated")
    parser.add_argument("--stage-seconds", type=int, help="seconds per rate (20; quick 10)")
    parser.add_argument(
        "--server",
        choices=server.REALTIME_SERVERS,
        default=server.PRODUCTION_REALTIME_SERVER,
        help=f"the ASGI server (production's: {server.PRODUCTION_REALTIME_SERVER})",
    )
    parser.add_argument(
        "--storms", type=int, default=1, help="warm storms one after the other (1; the report shows each)"
    )
    parser.add_argument("--redis-db", type=int, default=REDIS_DB)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "sockets": 2000 if quick else 10_000,
        "storm": 1000 if quick else 2000,
        "players": 2000,
        "push_sockets": 500 if quick else 1000,
        "stage_seconds": 10 if quick else 20,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    return args


# --- the run -----------------------------------------------------------------------------------


class SocketBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.dir = args.results_dir / f"{stamp}-sockets"
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.procs = ProcessSet(self.dir / "logs")
        self.result: dict[str, Any] = {"notes": []}
        self.services: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.port = stack.free_port()
        self.asgi: Process | None = None
        self.players: list[dict[str, Any]] = []

    # --- stack ---

    def setup(self) -> None:
        args = self.args
        say(f"sockets bench; results in {self.dir}")
        self.services = self._services()
        tag = f"sockets{os.getpid()}"
        self.env = server.app_env(
            services=self.services,
            redis_db=args.redis_db,
            database=args.database,
            clickhouse_database=f"casino_bench_{tag}",
            topic=f"casino.bench.{tag}",
            tag=tag,
            port=self.port,
            git_sha="",
        )
        self.env["CLICKHOUSE_URL"] = ""  # no relay, no sink: the outbox rows just stay
        self.env["KAFKA_BOOTSTRAP_SERVERS"] = ""
        stack.redis_flush(self.env["REDIS_URL"])
        stack.pg_create_database(self.services["DATABASE_URL"], args.database)
        say(f"database {args.database}: migrate")
        server.migrate(self.env, self.dir / "logs" / "migrate.log")
        os.environ.update(self.env)
        import django

        django.setup()
        say(f"seeding {args.players} players")
        self.players = seed.seed_players(args.players, prefix="bs")
        from bench.cpu import issue_tokens

        issue_tokens(self.players)
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        needed = args.sockets + 500
        if hard < needed:
            raise BenchError(f"open files limit {hard} < {needed}: raise `ulimit -n` or lower --sockets")
        self.result["meta"] = {
            "server": args.server,
            "started": datetime.now(UTC).isoformat(timespec="seconds"),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "cores": os.cpu_count(),
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        }

    def _services(self) -> dict[str, str]:
        """``scripts/services.sh up``'s URLs; only PostgreSQL and Redis are used, so when it
        cannot bring the others up, ``DATABASE_URL`` and ``REDIS_URL`` from the environment do."""
        try:
            return stack.services_up()
        except BenchError as error:
            if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
                raise
            say(f"services: {str(error)[:200]}; using DATABASE_URL and REDIS_URL from the environment")
            return {
                "DATABASE_URL": os.environ["DATABASE_URL"],
                "REDIS_URL": os.environ["REDIS_URL"],
                "KAFKA_BOOTSTRAP_SERVERS": "",
                "CLICKHOUSE_URL": "",
            }

    def start_server(self) -> Process:
        if self.asgi is not None:
            self.procs.stop(self.asgi)
        env = {**self.env, "CONN_MAX_AGE": "0"}
        self.asgi = self.procs.start(
            self.args.server, server.realtime_command(self.args.server, stack.HOST, self.port), env
        )
        stack.wait_http(self.asgi, f"http://{stack.HOST}:{self.port}/health", timeout=90)
        return self.asgi

    def player(self, index: int) -> dict[str, Any]:
        return self.players[index % len(self.players)]

    def figures(self) -> dict[str, float]:
        assert self.asgi is not None
        redis_port = int(self.env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
        pg_port = int(self.services["DATABASE_URL"].rsplit(":", 1)[1].split("/")[0])
        return server_figures(self.asgi, redis_port, pg_port)

    def redis_residue(self) -> dict[str, int]:
        """Memberships and presence left in Redis (the channel layer's keys)."""
        import redis
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        members = 0
        for key in client.scan_iter(match=f"{layer.prefix}:group:*", count=1000):
            members += int(client.zcard(key))
        return {"memberships": members, "present": int(client.zcard(layer.presence_key()))}

    # --- 1 and 2: capacity, mass disconnect ---

    async def capacity(self) -> None:
        args = self.args
        clients = Clients(f"ws://{stack.HOST}:{self.port}/api/realtime/sync")
        asgi = self.start_server()
        await asyncio.sleep(1)
        base = {"sockets": 0, **self.figures()}
        steps = [base]
        sockets: list[Socket] = []
        marks = sorted({m for m in (1000, 2000, 5000, args.sockets) if m <= args.sockets})
        started = time.perf_counter()
        say(f"capacity: opening {args.sockets} sockets ({OPEN_CONCURRENCY} handshakes at a time)")
        for mark in marks:
            batch = [self.player(i) for i in range(len(sockets), mark)]
            sockets += await clients.open_many(batch, concurrency=OPEN_CONCURRENCY)
            await clients.wait_states(sockets, timeout=120)
            steps.append({"sockets": len([s for s in sockets if not s.error]), **self.figures()})
            say(f"  {steps[-1]}")
        open_seconds = time.perf_counter() - started
        cpu_before, idle_started = cpu_seconds(asgi.pid), time.perf_counter()
        await asyncio.sleep(10)
        idle_cpu = (cpu_seconds(asgi.pid) - cpu_before) / (time.perf_counter() - idle_started)
        held = [s for s in sockets if not s.error]
        with_state = [s for s in held if s.state_at is not None]
        top = steps[-1]
        self.result["capacity"] = {
            "requested": args.sockets,
            "held": len(held),
            "failed": len(sockets) - len(held),
            "errors": sorted({s.error for s in sockets if s.error})[:5],
            "with_initial_state": len(with_state),
            "open_seconds": round(open_seconds, 1),
            "steps": steps,
            "kb_per_socket": round((top["rss_mb"] - base["rss_mb"]) * 1024 / max(1, len(held)), 1),
            "idle_cpu_percent_of_a_core": round(idle_cpu * 100, 1),
        }
        say(f"  capacity: {self.result['capacity']}")

        say(f"mass disconnect: closing {len(held)} sockets at once")
        health = {"worst_ms": 0.0, "failures": 0}
        stop = threading.Event()
        health_thread = threading.Thread(target=self._watch_health, args=(health, stop), daemon=True)
        health_thread.start()
        started = time.perf_counter()
        await clients.close_many(sockets)
        closed_seconds = time.perf_counter() - started
        residue = self.redis_residue()
        while (residue["memberships"] or residue["present"]) and time.perf_counter() - started < 60:
            await asyncio.sleep(0.2)
            residue = self.redis_residue()
        stop.set()
        health_thread.join(5)
        self.result["mass_disconnect"] = {
            "sockets": len(held),
            "client_close_seconds": round(closed_seconds, 2),
            "clean_seconds": round(time.perf_counter() - started, 2),
            "left_in_redis": residue,
            "health_worst_ms": round(health["worst_ms"], 1),
            "health_failures": health["failures"],
            "server_errors_logged": self._server_errors(),
            "after": self.figures(),
        }
        say(f"  mass disconnect: {self.result['mass_disconnect']}")

    def _watch_health(self, health: dict[str, float], stop: threading.Event) -> None:
        url = f"http://{stack.HOST}:{self.port}/health"
        while not stop.is_set():
            started = time.perf_counter()
            ok = stack.http_ok(url, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            health["worst_ms"] = max(health["worst_ms"], elapsed)
            if not ok:
                health["failures"] += 1
            stop.wait(0.1)

    def _server_errors(self) -> int:
        assert self.asgi is not None
        text = self.asgi.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if "Traceback" in line or " ERROR " in line or "maxclients" in line)

    # --- 3: connect storm ---

    async def storm(self, *, fresh: bool) -> dict[str, Any]:
        count = self.args.storm
        clients = Clients(f"ws://{stack.HOST}:{self.port}/api/realtime/sync")
        if fresh:
            self.start_server()
            await asyncio.sleep(1)
        say(f"connect storm: {count} handshakes at once ({'fresh' if fresh else 'warm'} server)")
        assert self.asgi is not None
        cpu_start, client_cpu_start = cpu_seconds(self.asgi.pid), time.process_time()
        started = time.perf_counter()
        sockets = await clients.open_many([self.player(i) for i in range(count)])
        accepted = time.perf_counter() - started
        cpu_accepted, client_cpu = cpu_seconds(self.asgi.pid), time.process_time() - client_cpu_start
        ok = [s for s in sockets if not s.error]
        states = await clients.wait_states(ok, timeout=120)
        cpu_states = cpu_seconds(self.asgi.pid)
        opened = [s.opened for s in ok]
        figures = self.figures()
        await clients.close_many(sockets)
        result = {
            "handshakes": count,
            "succeeded": len(ok),
            "failed": count - len(ok),
            "errors": sorted({s.error for s in sockets if s.error})[:5],
            "seconds_to_all_accepted": round(accepted, 2),
            "connects_per_second": round(len(ok) / accepted, 1) if accepted else None,
            "handshake_ms_p50": round((percentile(opened, 50) or 0) * 1000, 1),
            "handshake_ms_p95": round((percentile(opened, 95) or 0) * 1000, 1),
            "handshake_ms_max": round(max(opened, default=0) * 1000, 1),
            "seconds_to_all_initial_states": round(accepted + states, 2),
            "initial_states": sum(1 for s in ok if s.state_at is not None),
            # The server's CPU: until every handshake was accepted (initial states partly
            # included), and in all (every initial state sent).
            "server_cpu_ms_per_connect_until_accepted": round((cpu_accepted - cpu_start) * 1000 / max(1, len(ok)), 2),
            "server_cpu_ms_per_connect_in_all": round((cpu_states - cpu_start) * 1000 / max(1, len(ok)), 2),
            # The clients' own CPU (this process) until every handshake was greeted: on the same cores.
            "client_cpu_seconds": round(client_cpu, 2),
            "server": figures,
        }
        say(f"  storm: {result}")
        return result

    # --- 4: push latency and loss ---

    async def pushes(self) -> list[dict[str, Any]]:
        args = self.args
        clients = Clients(f"ws://{stack.HOST}:{self.port}/api/realtime/sync")
        targets = [self.player(i) for i in range(args.push_sockets)]
        sockets = await clients.open_many(targets, concurrency=OPEN_CONCURRENCY)
        await clients.wait_states(sockets, timeout=120)
        by_player = {s.player_id: s for s in sockets if not s.error}
        stages = []
        for rate in args.rates:
            for sock in by_player.values():
                sock.events.clear()
                sock.recovered.clear()
            say(f"pushes: {rate:.0f} events/s for {args.stage_seconds} s to {len(by_player)} connected players")
            committed = await self._emit_in_child(rate, args.stage_seconds, list(by_player))
            await asyncio.sleep(3)  # the last ones arrive
            stages.append(self._push_stage(rate, committed, by_player))
            say(f"  {stages[-1]}")
        await clients.close_many(sockets)
        return stages

    async def _emit_in_child(self, rate: float, seconds: int, player_ids: list[int]) -> dict[str, tuple[int, float]]:
        """Commit the events from a process of their own (bench/socket_emitter.py, as a web process
        would): in this one they would take the interpreter from the clients and delay what they read."""
        work = self.dir / f"emit-{rate:g}.json"
        work.write_text(json.dumps({"rate": rate, "seconds": seconds, "players": player_ids}))
        child = await asyncio.create_subprocess_exec(
            stack.PYTHON, str(EMITTER), str(work), env={**os.environ, **self.env}
        )
        if await child.wait() != 0:
            raise BenchError(f"the event emitter failed (exit {child.returncode})")
        committed: dict[str, list[Any]] = json.loads(work.with_suffix(".out.json").read_text())
        return {event_id: (int(player), float(at)) for event_id, (player, at) in committed.items()}

    def _push_stage(
        self, rate: float, committed: dict[str, tuple[int, float]], by_player: dict[int, Socket]
    ) -> dict[str, Any]:
        latencies: list[float] = []
        received: set[str] = set()
        recovered: set[str] = set()
        gaps = 0
        for sock in by_player.values():
            seqs = [seq for _, seq, _ in sock.events if seq is not None]
            gaps += sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
            for event_id, _, at in sock.events:
                if event_id in committed:
                    received.add(event_id)
                    latencies.append((at - committed[event_id][1]) * 1000)
            recovered.update(event_id for event_id in sock.recovered if event_id in committed)
        elapsed_rate = len(committed) / max(1e-9, self.args.stage_seconds)
        return {
            "target_rate": rate,
            "committed": len(committed),
            "achieved_rate": round(elapsed_rate, 1),
            "received": len(received),
            "lost": len(set(committed) - received),  # not pushed the first time, whatever a resync brought back
            "recovered_by_resync": len(recovered),
            "seq_gaps": gaps,
            "latency_ms_p50": rounded(percentile(latencies, 50)),
            "latency_ms_p95": rounded(percentile(latencies, 95)),
            "latency_ms_p99": rounded(percentile(latencies, 99)),
            "latency_ms_max": rounded(max(latencies, default=None)),
        }

    # --- 5: in process ---

    def push_cost_absent(self, events: int = 2000) -> dict[str, Any]:
        """Redis time per event pushed to a player without a socket."""
        from channels_redis.core import RedisChannelLayer as Stock

        from realtime.channel_layer import RedisChannelLayer
        from realtime.channel_messages import Push

        url = self.env["REDIS_URL"]
        ours = RedisChannelLayer(hosts=[url], prefix="bench-absent-ours")
        stock = Stock(hosts=[url], prefix="bench-absent-stock")
        base = 900_000_000

        async def measure() -> dict[str, Any]:
            started = time.perf_counter()
            for n in range(events):
                await stock.group_send(f"user.{base + n}", {"type": "domain.event", "n": n})
            stock_us = (time.perf_counter() - started) / events * 1e6
            out = {"events": events, "stock_group_send_us_per_event": round(stock_us, 1)}
            for batch in (1, 10, 100):
                started = time.perf_counter()
                for start in range(0, events, batch):
                    await ours.push_many(
                        [
                            Push(f"user.{base + n}", {"type": "domain.event", "n": n}, base + n, numbered=True)
                            for n in range(start, min(events, start + batch))
                        ]
                    )
                out[f"project_push_us_per_event_batch_{batch}"] = round(
                    (time.perf_counter() - started) / events * 1e6, 1
                )
            await stock.close_pools()
            await ours.close_pools()
            return out

        return asyncio.run(measure())

    def initial_state_cost(self, count: int = 200) -> dict[str, Any]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from accounts.models import User
        from realtime.registry import initial_state_for

        users = list(User.objects.filter(pk__in=[p["id"] for p in self.players[:count]]))
        initial_state_for(users[0])  # warm
        times, cpu, queries = [], [], []
        for user in users:
            started, cpu_started = time.perf_counter(), time.thread_time()
            initial_state_for(user)
            cpu.append((time.thread_time() - cpu_started) * 1000)
            times.append((time.perf_counter() - started) * 1000)
        for user in users[:20]:
            with CaptureQueriesContext(connection) as captured:
                initial_state_for(user)
            queries.append(len(captured))
        return {
            "players": len(users),
            "queries_median": statistics.median(queries),
            "ms_median": round(statistics.median(times), 2),
            "ms_p95": rounded(percentile(times, 95)),
            "cpu_ms_median": round(statistics.median(cpu), 2),
        }

    # --- all ---

    async def measure(self) -> None:
        await self.capacity()
        self.result["storm_fresh"] = await self.storm(fresh=True)
        for number in range(1, self.args.storms + 1):  # a server warms up over more than one storm
            self.result["storm_warm" if number == 1 else f"storm_warm_{number}"] = await self.storm(fresh=False)
        self.result["pushes"] = await self.pushes()

    def run(self) -> int:
        self.setup()
        asyncio.run(self.measure())
        say("in process: push cost for absent players, initial state cost")
        self.result["push_cost_absent"] = self.push_cost_absent()
        self.result["initial_state"] = self.initial_state_cost()
        self.result["meta"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        (self.dir / "sockets.json").write_text(json.dumps(self.result, indent=1, default=str))
        report = render(self.result)
        (self.dir / "report.md").write_text(report)
        sys.stdout.write("\n" + report + "\n")
        return 0

    def cleanup(self) -> None:
        for error in self.procs.stop_all():
            say(f"cleanup: {error}")
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001, S110 - Django never set up
            pass
        if self.services.get("DATABASE_URL"):
            try:
                stack.pg_drop_database(self.services["DATABASE_URL"], self.args.database)
            except Exception as error:  # noqa: BLE001
                say(f"cleanup: {error}")
        if self.env.get("REDIS_URL"):
            try:
                stack.redis_flush(self.env["REDIS_URL"])
            except Exception as error:  # noqa: BLE001
                say(f"cleanup: {error}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = SocketBench(args)
    try:
        return bench.run()
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except BenchError as error:
        say(f"FAILED: {error}")
        return 2
    finally:
        bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
