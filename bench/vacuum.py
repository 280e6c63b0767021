"""Autovacuum's work, when the PostgreSQL server under the bench has it off.

The CI machines' PostgreSQL runs with ``autovacuum = off`` (a server setting;
the bench does not change the server). Production keeps it on. Without it, every row the
load updates leaves a dead version behind for the whole run: the relay's
outbox rows, the players' activity marks, the orders' states. Index scans
then step over more and more dead entries, and PostgreSQL's CPU per request
grows through the run: in one full run a gem purchase cost PostgreSQL 8-11 ms
of CPU in the closed-loop phase against 2.6 ms in the in-process table before
the load.

So when the server's autovacuum is off, :class:`Vacuumer` does what the
autovacuum launcher would, from a thread of ``bench/run.py`` while the load
runs: every ``interval_s`` it vacuums (and analyzes) each table of the bench
database past autovacuum's default threshold (50 dead rows plus 20 % of the
live ones). The work runs in a PostgreSQL backend, so its CPU counts as
PostgreSQL's, as an autovacuum worker's would, and at an autovacuum worker's
pace: a plain ``VACUUM`` runs flat out (``vacuum_cost_delay`` is 0), while
autovacuum sleeps ``autovacuum_vacuum_cost_delay`` (2 ms) each time its work
reaches the cost limit (200), so it never takes a core from the requests for
long (unthrottled, a pass came with a 1.5 s stall of every request at 100
requests/s: bench/README.md, "Eleventh round"); the vacuumer's session takes
the server's autovacuum cost settings. The report says how many tables
it vacuumed and how long the passes took.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import sql

THRESHOLD_ROWS = 50  # autovacuum_vacuum_threshold
SCALE_FACTOR = 0.2  # autovacuum_vacuum_scale_factor

DUE = """
SELECT relname FROM pg_stat_user_tables
WHERE n_dead_tup > %s + %s * n_live_tup
ORDER BY n_dead_tup DESC
"""


# The server's autovacuum pace (a cost limit of -1 means vacuum_cost_limit's).
PACE = """
SELECT current_setting('autovacuum_vacuum_cost_delay'),
       CASE current_setting('autovacuum_vacuum_cost_limit')
           WHEN '-1' THEN current_setting('vacuum_cost_limit')
           ELSE current_setting('autovacuum_vacuum_cost_limit') END
"""


def autovacuum_on(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as connection:
        row = connection.execute("SHOW autovacuum").fetchone()
    return bool(row and row[0] == "on")


def autovacuum_pace(connection: psycopg.Connection[Any]) -> tuple[str, int]:
    """Give the session autovacuum's cost-based delay and limit: its VACUUMs then pause as an
    autovacuum worker's do. Returns them (``vacuum_cost_delay``, ``vacuum_cost_limit``)."""
    delay, limit = connection.execute(PACE).fetchone() or ("2ms", "200")
    connection.execute(sql.SQL("SET vacuum_cost_delay = {}").format(sql.Literal(delay)))
    connection.execute(sql.SQL("SET vacuum_cost_limit = {}").format(sql.Literal(int(limit))))
    return str(delay), int(limit)


class Vacuumer(threading.Thread):
    """Vacuums the tables past autovacuum's threshold every ``interval_s`` (module docstring)."""

    def __init__(self, dsn: str, interval_s: float = 20.0) -> None:
        super().__init__(name="bench-vacuumer", daemon=True)
        self.dsn = dsn
        self.interval_s = interval_s
        self.vacuumed: list[str] = []
        self.pass_seconds: list[float] = []
        self.pace: tuple[str, int] | None = None
        self.errors: list[str] = []
        self._halt = threading.Event()

    def pass_once(self) -> list[str]:
        """One round of the launcher: the tables vacuumed."""
        done = []
        started = time.monotonic()
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            self.pace = autovacuum_pace(connection)
            for (table,) in connection.execute(DUE, (THRESHOLD_ROWS, SCALE_FACTOR)).fetchall():
                connection.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
                done.append(str(table))
        if done:
            self.pass_seconds.append(time.monotonic() - started)
        self.vacuumed += done
        return done

    def run(self) -> None:
        while not self._halt.wait(self.interval_s):
            try:
                self.pass_once()
            except Exception as exc:  # noqa: BLE001 - keep the load running; reported
                self.errors.append(str(exc)[:200])

    def stop(self) -> dict[str, Any]:
        self._halt.set()
        self.join(120)
        return {
            "interval_s": self.interval_s,
            "vacuums": len(self.vacuumed),
            "passes_s": [round(seconds, 2) for seconds in self.pass_seconds],
            "pace": None if self.pace is None else {"cost_delay": self.pace[0], "cost_limit": self.pace[1]},
            "errors": self.errors[:5],
        }


def report_note(summary: dict[str, Any]) -> str:
    """The report's note on what :meth:`Vacuumer.stop` summarised."""
    passes = (
        f"{summary['vacuums']} vacuums in {len(summary['passes_s'])} passes of "
        f"{', '.join(f'{seconds:.1f}' for seconds in summary['passes_s'])} s"
        if summary["passes_s"]
        else "no table was due"
    )
    pace = summary.get("pace")
    pace_text = f", pausing {pace['cost_delay']} each {pace['cost_limit']} of cost" if pace else ""
    return (
        "PostgreSQL's autovacuum is off on this server: during the load the bench vacuumed (and "
        f"analyzed) every table past autovacuum's default threshold each {summary['interval_s']:.0f} s, "
        f"as the launcher would, at autovacuum's pace{pace_text} ({passes}; bench/vacuum.py)"
        + (f"; errors: {summary['errors']}" if summary["errors"] else "")
    )
