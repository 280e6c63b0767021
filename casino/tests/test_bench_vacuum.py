"""bench/vacuum.py: on a server whose autovacuum is off, the bench vacuums the tables
autovacuum would (past 50 dead rows plus 20 % of the live ones), and only those."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection
from psycopg.conninfo import make_conninfo

from bench.vacuum import Vacuumer, autovacuum_pace, report_note

pytestmark = pytest.mark.django_db(transaction=True)


def _dsn() -> str:
    params = connection.get_connection_params()
    return make_conninfo(**{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}})


def _dead_rows(dsn: str, table: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as db:
        row = db.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s", (table,)).fetchone()
    return int(row[0]) if row else 0


def test_the_tables_past_autovacuums_threshold_are_vacuumed_and_no_other() -> None:
    dsn = _dsn()
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("CREATE TABLE bench_vacuum_churned (id int PRIMARY KEY, n int)")
        db.execute("CREATE TABLE bench_vacuum_quiet (id int PRIMARY KEY, n int)")
        for table in ("bench_vacuum_churned", "bench_vacuum_quiet"):
            db.execute(f"INSERT INTO {table} SELECT g, 0 FROM generate_series(1, 1000) g")  # noqa: S608
        db.execute("UPDATE bench_vacuum_churned SET n = 1")  # 1,000 dead rows: past 50 + 20 % of 1,000
        db.execute("UPDATE bench_vacuum_quiet SET n = 1 WHERE id <= 100")  # 100 dead rows: under 250
    try:
        deadline = time.monotonic() + 10
        while _dead_rows(dsn, "bench_vacuum_churned") < 1000 and time.monotonic() < deadline:
            time.sleep(0.2)  # the closed session's statistics reach the shared counters
        assert _dead_rows(dsn, "bench_vacuum_quiet") == 100

        vacuumer = Vacuumer(dsn)
        vacuumed = vacuumer.pass_once()

        assert "bench_vacuum_churned" in vacuumed
        assert vacuumer.pace is not None and vacuumer.pace[1] > 0  # it vacuumed at autovacuum's pace
        assert "bench_vacuum_quiet" not in vacuumed
        with psycopg.connect(dsn, autocommit=True) as db:
            (last,) = db.execute(
                "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = 'bench_vacuum_churned'"
            ).fetchone() or (None,)
        assert last is not None
    finally:
        with psycopg.connect(dsn, autocommit=True) as db:
            db.execute("DROP TABLE IF EXISTS bench_vacuum_churned, bench_vacuum_quiet")


def test_the_vacuums_run_at_autovacuums_pace_not_flat_out() -> None:
    """A plain VACUUM never pauses (vacuum_cost_delay 0); autovacuum sleeps at each cost limit."""
    with psycopg.connect(_dsn(), autocommit=True) as db:
        plain = db.execute("SHOW vacuum_cost_delay").fetchone()
        auto_delay, auto_limit, limit = db.execute(
            "SELECT current_setting('autovacuum_vacuum_cost_delay'), "
            "current_setting('autovacuum_vacuum_cost_limit'), current_setting('vacuum_cost_limit')"
        ).fetchone() or (None, None, None)

        delay, cost_limit = autovacuum_pace(db)

        assert plain == ("0",)
        assert db.execute("SHOW vacuum_cost_delay").fetchone() == (auto_delay,) == (delay,)
        assert auto_delay != "0"
        expected_limit = int(limit if auto_limit == "-1" else auto_limit)
        assert db.execute("SHOW vacuum_cost_limit").fetchone() == (str(expected_limit),)
        assert cost_limit == expected_limit


def test_the_report_says_how_the_vacuumer_paced_itself_and_what_it_did() -> None:
    ran = {"interval_s": 20.0, "vacuums": 3, "passes_s": [0.2, 0.5], "pace": {"cost_delay": "2ms", "cost_limit": 200}}
    idle = {"interval_s": 20.0, "vacuums": 0, "passes_s": [], "pace": None}

    assert "pausing 2ms each 200 of cost (3 vacuums in 2 passes of 0.2, 0.5 s;" in report_note({**ran, "errors": []})
    assert "(no table was due;" in report_note({**idle, "errors": []})
    assert report_note({**idle, "errors": ["boom"]}).endswith("; errors: ['boom']")
