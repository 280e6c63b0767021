"""Where a request's time goes inside the API pool: on a core, waiting for one,
waiting for PostgreSQL, and the rest.

The API pool's latency histogram (``bench/pipeline.py``, "Server side" in the
report) says how long requests took in Django, not why. Each worker of a
benchmark's API pool (never production: only ``bench.settings`` installs the
middleware, and only when ``BENCH_TIMING_DIR`` is set) writes one line per
request to ``<dir>/requests-<pid>.csv``:

* ``cpu_ms``: the time the request's thread ran on a core (its CPU time),
* ``runq_ms``: the time it was ready to run and waited for a core (the
  kernel's run-queue delay, ``/proc/thread-self/schedstat``: on two cores
  shared by the workers, PostgreSQL, Redis, the load generator and the
  pipeline, every wake-up after a round trip may wait behind another process;
  0 where the kernel keeps no such figure per thread),
* ``db_ms``: inside the statements the Django connection executed, neither on
  a core nor waiting for one: PostgreSQL's own work, its own waits for a core,
  and the loopback,
* the rest of ``wall_ms``: ``COMMIT`` (not a statement of Django's wrappers),
  Redis, the interpreter lock held by the worker's push thread.

The four add up to the wall time. The counters cost two clock reads and two
reads of a kept file descriptor per statement (~2.5 us each), ~40 us a spin.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ENV = "BENCH_TIMING_DIR"
DIRECTORY = "server-requests"  # in a run's directory
FIELDS = ("start", "view", "wall_ms", "cpu_ms", "runq_ms", "db_ms", "statements")
PARTS = ("cpu_ms", "runq_ms", "db_ms", "rest_ms")
SCHEDSTAT = "/proc/thread-self/schedstat"

_local = threading.local()


def _schedstat() -> tuple[int, int]:
    """This thread's time on a core and waiting on a run queue so far, in ns. The first from
    ``CLOCK_THREAD_CPUTIME_ID``: schedstat's own figure for a running thread lags by up to a
    scheduler tick. The second is brought up to date each time the thread gets a core, so it is
    exact when the thread reads it."""
    fd = getattr(_local, "fd", None)
    if fd is None:
        try:
            fd = os.open(SCHEDSTAT, os.O_RDONLY)
        except OSError:  # not Linux, or a kernel without per-thread schedstat: no run-queue figure (0)
            fd = -1
        _local.fd = fd
    if fd < 0:
        return time.thread_time_ns(), 0
    return time.thread_time_ns(), int(os.pread(fd, 128, 0).split()[1])


class RequestTimingMiddleware:
    """One line per request in ``$BENCH_TIMING_DIR/requests-<pid>.csv`` (the first middleware)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        from django.db import connection

        self.get_response = get_response
        self.connection = connection
        self.directory = Path(os.environ[ENV])
        self.out: Any = None

    def __call__(self, request: Any) -> Any:
        db = [0, 0]  # ns neither on a core nor queued for one, inside statements; statements

        # Each wall clock encloses the thread clocks it is split by (read first, read last): a
        # preemption between two readings then lands inside the wall time it is charged to.
        def statement(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            t0 = time.perf_counter_ns()
            cpu0, runq0 = _schedstat()
            try:
                return execute(sql, params, many, context)
            finally:
                cpu1, runq1 = _schedstat()
                elapsed = time.perf_counter_ns() - t0
                db[0] += elapsed - (cpu1 - cpu0) - (runq1 - runq0)
                db[1] += 1

        start = time.time()
        t0 = time.perf_counter_ns()
        cpu0, runq0 = _schedstat()
        with self.connection.execute_wrapper(statement):
            response = self.get_response(request)
        cpu1, runq1 = _schedstat()
        wall = time.perf_counter_ns() - t0
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "unresolved"
        if self.out is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.out = (self.directory / f"requests-{os.getpid()}.csv").open("a", buffering=1)
        self.out.write(
            f"{start:.4f},{view},{wall / 1e6:.3f},{(cpu1 - cpu0) / 1e6:.3f},{(runq1 - runq0) / 1e6:.3f},"
            f"{db[0] / 1e6:.3f},{db[1]}\n"
        )
        return response


def read(directory: Path) -> dict[str, np.ndarray]:
    """Every worker's lines, as columns (``view`` a string array), ordered by start."""
    import numpy as np  # here, not at the top: the API pool's workers import the middleware

    rows: list[list[str]] = []
    for path in sorted(directory.glob("requests-*.csv")):
        rows += [line.split(",") for line in path.read_text().splitlines() if line.count(",") == len(FIELDS) - 1]
    if not rows:
        return {}
    columns = dict(zip(FIELDS, zip(*rows, strict=True), strict=True))
    out = {name: np.array(values, dtype=float) for name, values in columns.items() if name != "view"}
    out["view"] = np.array(columns["view"])
    # a statement's wait is its wall time less two other clocks' readings: a few us below zero
    # when it waited for nothing, or a few us more than the request's wall time leaves it (the
    # clocks tick apart); it is kept within what the core time and the run-queue wait leave
    on_thread = out["cpu_ms"] + out["runq_ms"]
    out["db_ms"] = np.clip(out["db_ms"], 0.0, np.maximum(out["wall_ms"] - on_thread, 0.0))
    # what neither the thread's core time, its run-queue wait nor the statements' waits explain
    out["rest_ms"] = np.maximum(out["wall_ms"] - on_thread - out["db_ms"], 0.0)
    order = np.argsort(out["start"], kind="stable")
    return {name: values[order] for name, values in out.items()}


def _row(columns: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, Any]:
    import numpy as np

    row: dict[str, Any] = {"requests": int(mask.sum())}
    for name in ("wall_ms", *PARTS):
        values = columns[name][mask]
        row[name] = {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95))}
    row["statements"] = float(columns["statements"][mask].mean())
    wall = float(columns["wall_ms"][mask].sum())
    row["share"] = {name: float(columns[name][mask].sum()) / wall if wall else 0.0 for name in PARTS}
    return row


def breakdown(columns: dict[str, np.ndarray], t0: float, t1: float, *, slow_ms: float = 20.0) -> dict[str, Any]:
    """The requests that started in [t0, t1): per view and for all, wall time and each part (p50, p95,
    and each part's share of the summed wall time), and the same shares over the requests that
    took more than ``slow_ms``."""
    import numpy as np

    if not columns:
        return {}
    mask = (columns["start"] >= t0) & (columns["start"] < t1)
    if not mask.any():
        return {}
    views = {str(view): _row(columns, mask & (columns["view"] == view)) for view in np.unique(columns["view"][mask])}
    out: dict[str, Any] = {"all": _row(columns, mask), "views": views, "slow_ms": slow_ms}
    slow = mask & (columns["wall_ms"] > slow_ms)
    out["slow"] = _row(columns, slow) if slow.any() else {"requests": 0}
    return out
