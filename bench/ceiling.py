"""The raw PostgreSQL ceiling: pgbench running ``bench/pgbench/purchase.sql``
(one purchase's write set) at several client counts.

It runs on a throwaway copy of the seeded bench database (``CREATE DATABASE
... TEMPLATE``), before the application starts, so it measures the same
schema, indexes, triggers and data without touching the run's ledger.
Latency percentiles come from pgbench's per-transaction log (``--log``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from bench import stack
from bench.seed import GEMS_PRICE, SeedResult
from bench.stack import ROOT, BenchError

SCRIPT = ROOT / "bench" / "pgbench" / "purchase.sql"


def pgbench_binary() -> str:
    found = shutil.which("pgbench")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True):
        return str(candidate)
    raise BenchError("pgbench not found (Debian: apt-get install postgresql-client)")


def pgbench_version() -> str:
    try:
        out = subprocess.run(  # noqa: S603
            [pgbench_binary(), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, BenchError):
        return "unknown"
    return out.strip()


@dataclass
class CeilingLevel:
    clients: int
    seconds: float
    transactions: int
    failed: int
    tps: float
    latency_avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _latencies_ms(log_dir: Path, prefix: str) -> np.ndarray:
    values: list[float] = []
    for path in log_dir.glob(f"{prefix}*"):
        with path.open() as handle:
            for line in handle:
                parts = line.split()
                # client_id transaction_no time script_no time_epoch time_us [...]; time is microseconds
                if len(parts) >= 6 and parts[2].isdigit():
                    values.append(int(parts[2]) / 1000.0)
    return np.array(values, dtype=float)


def run_level(
    *,
    database_url: str,
    clients: int,
    seconds: int,
    variables: dict[str, int],
    log_dir: Path,
) -> CeilingLevel:
    url = urlparse(database_url)
    prefix = f"pgbench_c{clients}"
    argv = [
        pgbench_binary(),
        "-h",
        url.hostname or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        "-n",  # no vacuum of pgbench's own tables (there are none)
        "-M",
        "prepared",
        "-f",
        str(SCRIPT),
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-T",
        str(seconds),
        "--log",
        f"--log-prefix={log_dir / prefix}",
    ]
    for name, value in variables.items():
        argv += ["-D", f"{name}={value}"]
    argv.append(url.path.lstrip("/"))
    result = subprocess.run(  # noqa: S603
        argv, cwd=log_dir, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    (log_dir / f"{prefix}.out").write_text(result.stdout + "\n--- stderr ---\n" + result.stderr)
    if result.returncode != 0:
        raise BenchError(f"pgbench -c {clients} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    tps_match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", result.stdout)
    done_match = re.search(r"number of transactions actually processed: (\d+)", result.stdout)
    failed_match = re.search(r"number of failed transactions: (\d+)", result.stdout)
    avg_match = re.search(r"latency average = ([0-9.]+) ms", result.stdout)
    latencies = _latencies_ms(log_dir, prefix)
    for path in log_dir.glob(f"{prefix}.[0-9]*"):
        path.unlink()  # the raw per-transaction logs are large; the percentiles are kept
    if not tps_match or latencies.size == 0:
        raise BenchError(f"could not read pgbench output:\n{result.stdout[-2000:]}")
    return CeilingLevel(
        clients=clients,
        seconds=seconds,
        transactions=int(done_match.group(1)) if done_match else int(latencies.size),
        failed=int(failed_match.group(1)) if failed_match else 0,
        tps=float(tps_match.group(1)),
        latency_avg_ms=float(avg_match.group(1)) if avg_match else float(latencies.mean()),
        p50_ms=float(np.percentile(latencies, 50)),
        p95_ms=float(np.percentile(latencies, 95)),
        p99_ms=float(np.percentile(latencies, 99)),
        max_ms=float(latencies.max()),
    )


def sweep(
    *,
    database_url: str,
    client_counts: list[int],
    seconds: int,
    variables: dict[str, int],
    log_dir: Path,
    say: Callable[[str], None] = print,
) -> dict[str, object]:
    log_dir.mkdir(parents=True, exist_ok=True)
    levels = []
    for clients in client_counts:
        level = run_level(
            database_url=database_url, clients=clients, seconds=seconds, variables=variables, log_dir=log_dir
        )
        say(f"  pgbench -c {clients:>3}: {level.tps:8.0f} tps, p95 {level.p95_ms:6.2f} ms")
        levels.append(level)
    best = max(levels, key=lambda level: level.tps)
    return {
        "script": str(SCRIPT.relative_to(ROOT)),
        "pgbench": pgbench_version(),
        "seconds_per_level": seconds,
        "levels": [level.as_dict() for level in levels],
        "best": best.as_dict(),
    }


def measure(
    *,
    pg_url: str,
    database: str,
    client_counts: list[int],
    seconds: int,
    seeded: SeedResult,
    log_dir: Path,
    say: Callable[[str], None],
) -> dict[str, object]:
    """The sweep on ``database`` (the copy of the seeded one), which is dropped afterwards."""
    say(f"ceiling: pgbench {SCRIPT.name} at {client_counts} clients, {seconds} s each")
    try:
        return sweep(
            database_url=stack.with_database(pg_url, database),
            client_counts=client_counts,
            seconds=seconds,
            variables={
                "minuid": seeded.min_user_id,
                "maxuid": seeded.max_user_id,
                "productid": seeded.gems_product_id,
                "price": GEMS_PRICE,
            },
            log_dir=log_dir,
            say=say,
        )
    finally:
        stack.pg_drop_database(pg_url, database)
