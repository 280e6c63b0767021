"""The benchmark tooling (bench/, ``make bench``) runs end to end, so it cannot rot.

``bench/run.py --smoke`` brings up the whole production-shaped stack on its
own throwaway database, Redis keys, Kafka topic, ClickHouse database and free
ports (gunicorn, daphne, relay, sink), seeds 20 players, runs one tiny
pgbench level, the player scenario at 5 req/s for 6 s, one closed-loop step
per series, then the pipeline and integrity checks, and writes its report
and plots. It never touches the test database.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings

from conftest import IN_CI, require_service

ROOT = Path(settings.BASE_DIR)

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]


def _require_bench_tools() -> None:
    missing = [name for name in ("locust", "matplotlib") if importlib.util.find_spec(name) is None]
    if missing:
        message = f"{', '.join(missing)} not installed: pip install -r requirements-bench.txt"
        if IN_CI:
            pytest.fail(f"CI: {message}")
        pytest.skip(message)


def test_bench_smoke_runs_end_to_end(tmp_path: Path) -> None:
    require_service("Kafka", bool(settings.KAFKA_BOOTSTRAP_SERVERS))
    require_service("ClickHouse", bool(settings.CLICKHOUSE_URL))
    _require_bench_tools()

    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--results-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = f"stdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, output

    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    data = json.loads((run_dir / "results.json").read_text())

    # every phase produced numbers
    (stage,) = [stage for stage in data["player"]["stages"] if stage["measured"]]
    assert stage["total"]["requests"] >= 10, output
    assert stage["total"]["errors"] == 0, data["player"]["errors"]
    assert {"login", "dashboard", "streak_claim", "vip_claim", "buy_gems"} <= set(stage["endpoints"]), output
    assert data["ceiling"]["best"]["tps"] > 0
    assert {step["series"] for step in data["saturation"]["steps"]} == {"purchase", "claim"}
    assert all(step["ok_rps"] > 0 for step in data["saturation"]["steps"]), data["saturation"]
    assert {row["endpoint"] for row in data["queries"]} >= {"buy_gems", "webhook"}

    # the pipeline delivered every event of the run to ClickHouse
    run_events = data["pipeline"]["ingestion"]["run"]
    assert run_events["events"] == run_events["outbox_events"] > 0, data["pipeline"]

    # integrity: a clean ledger and not one duplicate grant
    integrity = data["integrity"]
    assert integrity["audit_exit"] == 0, integrity["audit_output"]
    assert integrity["duplicate_grants"] == 0, integrity["checks"]

    # the report, with the machine, versions and git sha, and the plots
    report = (run_dir / "report.md").read_text()
    for heading in ("## Targets", "## Player scenario", "## PostgreSQL ceiling", "## Saturation", "## Integrity"):
        assert heading in report
    assert data["meta"]["git_sha"] in report
    assert data["meta"]["versions"]["postgresql"] in report
    for plot in data["plots"]:
        assert (run_dir / plot).stat().st_size > 10_000, plot

    # it cleaned up after itself: its database and its ClickHouse database are gone
    import psycopg
    from clickhouse_driver import Client

    database = data["meta"]["stack"]["database"]
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", [database]).fetchone()[0] == 0
    ch = urlparse(settings.CLICKHOUSE_URL)
    client = Client(host=ch.hostname or "127.0.0.1", port=ch.port or 9000, user=ch.username or "default")
    try:
        names = {row[0] for row in client.execute("SHOW DATABASES")}
    finally:
        client.disconnect()
    assert data["meta"]["stack"]["clickhouse_database"] not in names
