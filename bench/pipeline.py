"""Watching the event pipeline and the machine while the load runs.

* :class:`Sampler` -- every second: ``realtime.selectors.outbox_health()``
  (pending rows, lag of the oldest) and CPU use from ``/proc``: the whole
  machine, the bench's own processes, PostgreSQL, the rest (other
  people's work on a shared machine) and the time the hypervisor gave the
  VM's CPUs to another guest (stolen): the noise in the figures.
* :func:`server_latency` -- the API pool's own request-latency histogram
  (django-prometheus, from the first middleware in to the last out), read
  from its workers' multiprocess files each second by the sampler: per
  stage, what the server took, to set beside what the client measured (the
  difference is time outside Django: waiting for a free worker, gunicorn,
  the network, the client).
* :func:`ingestion` -- after the load: per event, ClickHouse's first
  ``ingested_ms`` minus ``occurred_ms``; percentiles per window.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_total() -> tuple[int, int, int]:
    """Ticks so far, all CPUs: in all, idle (with I/O wait), and stolen -- the time the
    hypervisor gave this VM's virtual CPUs to another guest while they had work."""
    with open("/proc/stat") as handle:
        return cpu_ticks(handle.readline())


def cpu_ticks(line: str) -> tuple[int, int, int]:
    """``/proc/stat``'s ``cpu`` line: user nice system idle iowait irq softirq steal guest guest_nice.
    guest time is counted in user time already, so it is not added again."""
    parts = [int(x) for x in line.split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    steal = parts[7] if len(parts) > 7 else 0
    return sum(parts[:8]), idle, steal


def _group_of(name: str) -> str:
    if name.startswith("locust"):
        return "locust"
    if name.startswith("gunicorn-login"):  # the login pool (its CPU counts as gunicorn's too)
        return "login"
    if name.startswith("gunicorn"):  # the API's pool
        return "gunicorn"
    return "pipeline"  # relay, sink, the ASGI server


def _process_times(pgids: dict[int, str]) -> dict[str, int]:
    """Jiffies so far per group: the bench's processes by process group
    (gunicorn, login, locust, pipeline), PostgreSQL by command name."""
    out = {"gunicorn": 0, "login": 0, "locust": 0, "pipeline": 0, "postgres": 0}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                raw = handle.read()
        except OSError:
            continue
        comm_end = raw.rfind(")")
        comm = raw[raw.find("(") + 1 : comm_end]
        fields = raw[comm_end + 2 :].split()
        # fields[0] is the state (stat field 3): pgrp is field 5 -> [2]; utime, stime fields 14, 15 -> [11], [12]
        jiffies = int(fields[11]) + int(fields[12])
        group = pgids.get(int(fields[2]))
        if group is not None:
            out[group] += jiffies
        elif comm.startswith("postgres"):
            out["postgres"] += jiffies
    return out


SERVER_LATENCY = "django_http_requests_latency_seconds_by_view_method"
Buckets = dict[str, list[tuple[float, float]]]  # "METHOD view" -> (upper bound in s, cumulative count), ascending


def server_latency_snapshot(directory: Path) -> Buckets:
    """The request-latency histogram of a gunicorn pool's workers so far, from
    prometheus_client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``)."""
    from prometheus_client.multiprocess import MultiProcessCollector

    files = [str(path) for path in directory.glob("histogram_*.db")]
    out: Buckets = {}
    for metric in MultiProcessCollector.merge(files, accumulate=True) if files else []:
        if metric.name != SERVER_LATENCY:
            continue
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                key = f"{sample.labels['method']} {sample.labels['view']}"
                out.setdefault(key, []).append((float(sample.labels["le"]), float(sample.value)))
    for buckets in out.values():
        buckets.sort()
    return out


def histogram_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The ``q`` quantile of a histogram's cumulative buckets, linear within a
    bucket as Prometheus' ``histogram_quantile`` (seconds); the last finite bound
    when it falls in the +Inf bucket; None when it counted nothing."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            inside = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / inside if inside else 1.0)
        lower_bound, lower_count = bound, count
    return lower_bound


def _snapshot_at(snapshots: list[dict[str, Any]], t: float) -> Buckets:
    before = [snapshot for snapshot in snapshots if snapshot["t"] <= t]
    return before[-1]["buckets"] if before else {}


def server_latency(snapshots: list[dict[str, Any]], t0: float, t1: float) -> dict[str, dict[str, Any]]:
    """What the server's histogram counted between the snapshots taken at ``t0`` and
    ``t1`` (each the last one before): per "METHOD view" and ``all``, the requests
    and their p50/p95/p99 in ms."""
    start, end = _snapshot_at(snapshots, t0), _snapshot_at(snapshots, t1)
    deltas: Buckets = {}
    for key, buckets in end.items():
        before = dict(start.get(key, []))
        deltas[key] = [(bound, count - before.get(bound, 0.0)) for bound, count in buckets]
    if deltas:
        bounds = sorted({bound for buckets in deltas.values() for bound, _ in buckets})
        counts = [dict(buckets) for buckets in deltas.values()]
        deltas["all"] = [(bound, sum(c.get(bound, 0.0) for c in counts)) for bound in bounds]
    out: dict[str, dict[str, Any]] = {}
    for key, buckets in deltas.items():
        requests = int(buckets[-1][1]) if buckets else 0
        if requests <= 0:
            continue
        row: dict[str, Any] = {"requests": requests}
        for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
            value = histogram_quantile(buckets, q)
            row[name] = None if value is None else 1000 * value
        out[key] = row
    return out


class Sampler(threading.Thread):
    def __init__(
        self, processes: Callable[[], dict[int, str]], interval: float = 1.0, latency_dir: Path | None = None
    ) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.processes = processes
        self.interval = interval
        self.latency_dir = latency_dir  # the API pool's PROMETHEUS_MULTIPROC_DIR: its latency histogram
        self.samples: list[dict[str, Any]] = []
        self.latency: list[dict[str, Any]] = []  # {"t", "buckets"}: server_latency_snapshot each interval
        self.errors: list[str] = []
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def _groups(self) -> dict[int, str]:
        return {pgid: _group_of(name) for pgid, name in self.processes().items()}

    def run(self) -> None:
        from django.db import connection

        from realtime.selectors import outbox_health

        previous_total = _cpu_total()
        previous = _process_times(self._groups())
        previous_t = time.monotonic()
        while not self._halt.wait(self.interval):
            row: dict[str, Any] = {"t": time.time()}
            try:
                health = outbox_health()
                row.update(outbox_pending=health.pending, outbox_dead=health.dead, outbox_lag_s=health.lag_seconds)
            except Exception as exc:  # noqa: BLE001 - keep sampling; reported
                self.errors.append(str(exc)[:200])
                connection.close()
            total = _cpu_total()
            now_times = _process_times(self._groups())
            now = time.monotonic()
            elapsed = max(1e-6, now - previous_t)
            busy = (total[0] - previous_total[0]) - (total[1] - previous_total[1])
            # /proc counts in USER_HZ ticks; as "cores busy" over the interval
            cores = {k: max(0.0, (now_times[k] - previous[k]) / CLOCK_TICKS / elapsed) for k in now_times}
            cores_total = busy / CLOCK_TICKS / elapsed
            stolen = (total[2] - previous_total[2]) / CLOCK_TICKS / elapsed
            web = cores["gunicorn"] + cores["login"]  # both pools: the web tier
            bench = web + cores["locust"] + cores["pipeline"]
            row.update(
                cpu_total=cores_total,
                cpu_gunicorn=web,
                cpu_login=cores["login"],
                cpu_locust=cores["locust"],
                cpu_pipeline=cores["pipeline"],
                cpu_bench=bench,
                cpu_postgres=cores["postgres"],
                cpu_stolen=stolen,
                cpu_other=max(0.0, cores_total - stolen - bench - cores["postgres"]),
                loadavg=os.getloadavg()[0],
            )
            previous_total, previous, previous_t = total, now_times, now
            self.samples.append(row)
            if self.latency_dir is not None:
                try:
                    self.latency.append({"t": row["t"], "buckets": server_latency_snapshot(self.latency_dir)})
                except Exception as exc:  # noqa: BLE001 - a file being written; reported, the next second reads it
                    self.errors.append(f"latency histogram: {exc}"[:200])
        connection.close()


def summarize_samples(samples: list[dict[str, Any]], t0: float, t1: float) -> dict[str, Any]:
    rows = [row for row in samples if t0 <= row["t"] < t1 and "outbox_lag_s" in row]
    lags = np.array([row["outbox_lag_s"] for row in rows]) if rows else np.array([0.0])
    pending = [row["outbox_pending"] for row in rows] or [0]
    cpu = {
        key: float(np.mean([row[key] for row in samples if t0 <= row["t"] < t1] or [float("nan")]))
        for key in (
            "cpu_total",
            "cpu_gunicorn",
            "cpu_login",
            "cpu_locust",
            "cpu_pipeline",
            "cpu_bench",
            "cpu_postgres",
            "cpu_other",
            "cpu_stolen",
        )
    }
    return {
        "outbox_lag_max_s": float(lags.max()),
        "outbox_lag_p95_s": float(np.percentile(lags, 95)),
        "outbox_pending_max": int(max(pending)),
        "cpu_mean_cores": cpu,
    }


# cpu_gunicorn: both gunicorn pools (the API's and the login pool); cpu_login: the login pool alone.
CPU_GROUPS = (
    "cpu_total",
    "cpu_gunicorn",
    "cpu_login",
    "cpu_locust",
    "cpu_pipeline",
    "cpu_postgres",
    "cpu_other",
    "cpu_stolen",
)


def cpu_per_request(samples: list[dict[str, Any]], t0: float, t1: float, rps: float | None) -> dict[str, Any]:
    """Mean cores busy per process group over [t0, t1) and, at ``rps`` requests a
    second, gunicorn's (both pools), the API pool's alone and PostgreSQL's CPU
    milliseconds per request of the stage."""
    rows = [row for row in samples if t0 <= row["t"] < t1]
    out: dict[str, Any] = {}
    for key in CPU_GROUPS:
        values = [row[key] for row in rows if key in row]
        out[key] = float(np.mean(values)) if values else None
    for key, name in (("cpu_gunicorn", "gunicorn_ms_per_request"), ("cpu_postgres", "postgres_ms_per_request")):
        out[name] = 1000 * out[key] / rps if rps and out[key] is not None else None
    login = out.get("cpu_login")
    api = out["cpu_gunicorn"] - login if out["cpu_gunicorn"] is not None and login is not None else None
    out["api_ms_per_request"] = 1000 * api / rps if rps and api is not None else None
    out["samples"] = len(rows)
    return out


# A second in which the hypervisor ran another guest on more than this share of the VM's cores.
STOLEN_CORES = 0.1


# The login pool counts as hashing in a sample where it used more than this: a password hash is a
# quarter of a second or more of one core, a request that hashes nothing a few milliseconds.
HASHING_CORES = 0.1


def stolen_windows(
    samples: list[dict[str, Any]], t0: float, t1: float, threshold: float = STOLEN_CORES
) -> list[tuple[float, float]]:
    """The spans of [t0, t1) in which the hypervisor took more than ``threshold`` cores (a sample
    at ``t`` covers the time since the previous one)."""
    return busy_windows(samples, t0, t1, "cpu_stolen", threshold)


def busy_windows(
    samples: list[dict[str, Any]], t0: float, t1: float, key: str, threshold: float
) -> list[tuple[float, float]]:
    """The spans of [t0, t1) in which the samples' ``key`` (cores) was above ``threshold``."""
    windows: list[tuple[float, float]] = []
    previous: float | None = None
    for row in sorted(samples, key=lambda row: row["t"]):
        if previous is not None and row["t"] > t0 and previous < t1 and row.get(key, 0.0) > threshold:
            start, end = max(previous, t0), min(row["t"], t1)
            if windows and windows[-1][1] >= start:
                start = windows[-1][0]
                windows.pop()
            windows.append((start, end))
        previous = row["t"]
    return windows


def stolen_view(
    starts: np.ndarray, windows: list[tuple[float, float]], t0: float, t1: float, samples: list[dict[str, Any]]
) -> dict[str, Any]:
    """How much of a stage the hypervisor took: the seconds above ``STOLEN_CORES``, the most it
    took in one sample, and which requests (by their start, of ``starts``) began outside those
    seconds (``outside``, a mask), for the p95 of the rest beside the stage's own."""
    outside = ~inside(starts, windows)
    stolen = [row.get("cpu_stolen", 0.0) for row in samples if t0 < row["t"] <= t1]
    return {
        "threshold_cores": STOLEN_CORES,
        "seconds": sum(end - start for start, end in windows),
        "stage_seconds": t1 - t0,
        "max_cores": max(stolen) if stolen else 0.0,
        "outside": outside,
    }


def inside(starts: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    """Which of ``starts`` fell in one of ``windows`` (a mask)."""
    mask = np.zeros(starts.shape, dtype=bool)
    for start, end in windows:
        mask |= (starts >= start) & (starts < end)
    return mask


def outbox_count(t0: float, t1: float) -> int:
    from datetime import UTC, datetime

    from realtime.models import OutboxEvent

    return OutboxEvent.objects.filter(
        occurred_at__gte=datetime.fromtimestamp(t0, UTC), occurred_at__lt=datetime.fromtimestamp(t1, UTC)
    ).count()


def clickhouse_delays(t0: float, t1: float) -> np.ndarray:
    """(occurred_ms, delay_ms) per distinct event that occurred in [t0, t1)."""
    from realtime import clickhouse

    client = clickhouse.client()
    try:
        rows = client.execute(
            "SELECT min(occurred_ms), min(ingested_ms) FROM events_log "
            "WHERE occurred_ms >= %(a)s AND occurred_ms < %(b)s GROUP BY event_id",
            {"a": int(t0 * 1000), "b": int(t1 * 1000)},
        )
    finally:
        client.disconnect()
    if not rows:
        return np.zeros((0, 2))
    arr = np.array(rows, dtype=float)
    return np.column_stack([arr[:, 0], arr[:, 1] - arr[:, 0]])


def wait_drained(*, timeout: float, t0: float, t1: float, say: Callable[[str], None]) -> dict[str, Any]:
    """Wait until the outbox has nothing pending and ClickHouse holds every
    event of [t0, t1) (or time runs out); return the counts."""
    from realtime.selectors import outbox_health

    deadline = time.monotonic() + timeout
    expected = outbox_count(t0, t1)
    while True:
        health = outbox_health()
        stored = clickhouse_delays(t0, t1).shape[0] if health.pending == 0 else 0
        if health.pending == 0 and stored >= expected:
            return {"pending": 0, "outbox_events": expected, "clickhouse_events": stored, "drained": True}
        if time.monotonic() >= deadline:
            say(
                f"  pipeline not drained after {timeout:.0f}s: {health.pending} pending, "
                f"{stored}/{expected} in ClickHouse"
            )
            return {"pending": health.pending, "outbox_events": expected, "clickhouse_events": stored, "drained": False}
        time.sleep(1.0)


def ingestion(windows: dict[str, tuple[float, float]], stages: list[dict[str, Any]], bucket_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, (t0, t1) in windows.items():
        data = clickhouse_delays(t0, t1)
        delays = data[:, 1] / 1000.0 if data.size else np.array([])
        out[label] = {
            "events": int(delays.size),
            "outbox_events": outbox_count(t0, t1),
            "p50_s": float(np.percentile(delays, 50)) if delays.size else None,
            "p95_s": float(np.percentile(delays, 95)) if delays.size else None,
            "p99_s": float(np.percentile(delays, 99)) if delays.size else None,
            "max_s": float(delays.max()) if delays.size else None,
        }
        if label == "player" and data.size:
            t_start = t0
            edges = np.arange(t0, t1 + bucket_s, bucket_s)
            occurred = data[:, 0] / 1000.0
            series: dict[str, list[float]] = {"t": [], "p95_s": [], "max_s": []}
            for a, b in itertools.pairwise(edges):
                sel = delays[(occurred >= a) & (occurred < b)]
                series["t"].append(float(a - t_start + bucket_s / 2))
                series["p95_s"].append(float(np.percentile(sel, 95)) if sel.size else float("nan"))
                series["max_s"].append(float(sel.max()) if sel.size else float("nan"))
            out["series"] = series
            per_stage = []
            for stage in stages:
                sel = delays[(occurred >= stage["start"]) & (occurred < stage["end"])]
                per_stage.append(
                    {
                        "name": stage["name"],
                        "events": int(sel.size),
                        "p95_s": float(np.percentile(sel, 95)) if sel.size else None,
                    }
                )
            out["stages"] = per_stage
    return out


def write_samples_csv(path: Path, samples: list[dict[str, Any]]) -> None:
    if not samples:
        return
    keys = list(samples[0].keys())
    with path.open("w") as handle:
        handle.write(",".join(keys) + "\n")
        for row in samples:
            handle.write(",".join(f"{row.get(k, '')}" for k in keys) + "\n")


def after_load(
    sampler: Sampler,
    *,
    drained: dict[str, Any],
    windows: dict[str, tuple[float, float]],
    stages: list[dict[str, Any]],
    bucket_s: float,
    csv_path: Path,
) -> dict[str, Any]:
    """The pipeline's figures of a run (``windows``: ``player`` and ``run``); the
    sampler's rows are kept in ``csv_path`` for ``--render``."""
    summary = summarize_samples(sampler.samples, *windows["player"])
    result = {
        **summary,
        "drain": drained,
        "ingestion": ingestion(windows, stages, bucket_s),
        "sampler_errors": sampler.errors[:5],
    }
    write_samples_csv(csv_path, sampler.samples)
    if sampler.latency:
        (csv_path.parent / SERVER_LATENCY_FILE).write_text(json.dumps(sampler.latency))
    return result


SERVER_LATENCY_FILE = "server-latency.json"  # the sampler's histogram snapshots, for --render
