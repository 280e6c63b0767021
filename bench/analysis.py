"""Numbers, plots and the report of a benchmark run.

Inputs: the per-request samples Locust wrote (``samples-*.csv``), the stage
timelines of its shape, the pipeline/CPU samples and the pgbench sweep.
Outputs: ``results.json``, ``report.md`` and PNG figures (matplotlib, Agg),
each carrying the machine, the versions and the git sha.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# Endpoint families and their p95 targets at 200 req/s (DESIGN.md, "Performance targets").
TARGETS_MS = {
    "dashboard": ("dashboard", 25.0),
    "streak_claim": ("claim", 40.0),
    "vip_claim": ("claim", 40.0),
    "buy_gems": ("purchase", 50.0),
    "buy_money": ("purchase", 50.0),
    "webhook": ("purchase", 50.0),
}
INGESTION_TARGET_S = 3.0
PLAYER_ENDPOINTS = [
    "login",
    "signup",
    "dashboard",
    "streak_claim",
    "vip_claim",
    "shop_catalog",
    "buy_gems",
    "buy_gems_retry",
    "buy_money",
    "webhook",
    "webhook_duplicate",
    "balance",
]
SATURATION_ENDPOINTS = {
    "purchase": ["sat_buy_gems"],
    "claim": ["sat_streak_claim", "sat_vip_claim"],
}


@dataclass
class Samples:
    start: np.ndarray
    ms: np.ndarray
    ok: np.ndarray
    status: np.ndarray
    name: np.ndarray

    @classmethod
    def read(cls, path: Path) -> Samples:
        start, ms, ok, status, name = [], [], [], [], []
        if path.exists():
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    start.append(float(row["start"]))
                    ms.append(float(row["ms"]))
                    ok.append(row["ok"] == "1")
                    status.append(int(row["status"] or 0))
                    name.append(row["name"])
        return cls(
            np.array(start, dtype=float),
            np.array(ms, dtype=float),
            np.array(ok, dtype=bool),
            np.array(status, dtype=int),
            np.array(name, dtype=object),
        )

    def mask(self, names: list[str] | None = None, t0: float | None = None, t1: float | None = None) -> np.ndarray:
        m = np.ones(self.start.shape, dtype=bool)
        if names is not None:
            m &= np.isin(self.name, names)
        if t0 is not None:
            m &= self.start >= t0
        if t1 is not None:
            m &= self.start < t1
        return m


def pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if values.size else float("nan")


def latency_row(s: Samples, m: np.ndarray, seconds: float) -> dict[str, Any]:
    ms = s.ms[m]
    errors = int((~s.ok[m]).sum())
    return {
        "requests": int(m.sum()),
        "errors": errors,
        "error_rate": errors / int(m.sum()) if m.sum() else 0.0,
        "rps": float(m.sum()) / seconds if seconds > 0 else float("nan"),
        "ok_rps": float((m & s.ok).sum()) / seconds if seconds > 0 else float("nan"),
        "p50_ms": pct(ms, 50),
        "p95_ms": pct(ms, 95),
        "p99_ms": pct(ms, 99),
        "max_ms": float(ms.max()) if ms.size else float("nan"),
    }


# --- player load ---------------------------------------------------------------------------------


def player_stats(s: Samples, timeline: list[dict[str, Any]], pacing_s: float) -> list[dict[str, Any]]:
    stages = []
    for stage in timeline:
        t0, t1 = stage["start"], stage.get("end", stage["start"])
        seconds = max(1e-9, t1 - t0)
        endpoints = {}
        for name in PLAYER_ENDPOINTS:
            m = s.mask([name], t0, t1)
            if m.any():
                endpoints[name] = latency_row(s, m, seconds)
        total = latency_row(s, s.mask(PLAYER_ENDPOINTS, t0, t1), seconds)
        stages.append(
            {
                "name": stage["name"],
                "measured": bool(stage.get("measured", True)),
                "target_rps": float(stage["rate"]),
                "users": max(1, round(float(stage["rate"]) * pacing_s)),
                "start": t0,
                "end": t1,
                "seconds": seconds,
                "achieved_rps": total["rps"],
                "total": total,
                "endpoints": endpoints,
            }
        )
    return stages


def time_series(
    s: Samples, names: list[str], t0: float, t1: float, bucket_s: float
) -> dict[str, dict[str, list[float]]]:
    series: dict[str, dict[str, list[float]]] = {}
    edges = np.arange(t0, t1 + bucket_s, bucket_s)
    for name in names:
        m = s.mask([name], t0, t1)
        if not m.any():
            continue
        start, ms = s.start[m], s.ms[m]
        out: dict[str, list[float]] = {"t": [], "p50": [], "p95": [], "p99": [], "rps": []}
        for a, b in itertools.pairwise(edges):
            sel = ms[(start >= a) & (start < b)]
            out["t"].append(float(a - t0 + bucket_s / 2))
            out["rps"].append(sel.size / bucket_s)
            for q in (50, 95, 99):
                out[f"p{q}"].append(pct(sel, q) if sel.size else float("nan"))
        series[name] = out
    return series


def rate_series(s: Samples, names: list[str], t0: float, t1: float, bucket_s: float) -> dict[str, list[float]]:
    m = s.mask(names, t0, t1)
    edges = np.arange(t0, t1 + bucket_s, bucket_s)
    counts, _ = np.histogram(s.start[m], bins=edges)
    errs, _ = np.histogram(s.start[m & ~s.ok], bins=edges)
    return {
        "t": [float(a - t0 + bucket_s / 2) for a in edges[:-1]],
        "rps": [float(c) / bucket_s for c in counts],
        "errors_per_s": [float(c) / bucket_s for c in errs],
    }


# --- saturation -------------------------------------------------------------------------------------


def saturation_stats(s: Samples, timeline: list[dict[str, Any]], ceiling_tps: float | None) -> dict[str, Any]:
    steps = []
    for step in timeline:
        t0, t1 = step.get("measure_start", step["start"]), step.get("end", step["start"])
        names = SATURATION_ENDPOINTS.get(step["series"], [f"sat_{step['series']}"])
        row = latency_row(s, s.mask(names, t0, t1), max(1e-9, t1 - t0))
        steps.append({"series": step["series"], "concurrency": step["concurrency"], "seconds": t1 - t0, **row})
    series: dict[str, Any] = {}
    for name in dict.fromkeys(step["series"] for step in steps):
        rows = [row for row in steps if row["series"] == name]
        peak = max(rows, key=lambda row: row["ok_rps"])
        # the shape's rule: growth stopped once two steps in a row add < 5 % to the best so far
        stopped, best, best_at, stalls = None, 0.0, None, 0
        for row in rows:
            if row["ok_rps"] > best * 1.05:
                best, best_at, stalls = row["ok_rps"], row["concurrency"], 0
            else:
                stalls += 1
                if stalls >= 2:
                    stopped = best_at
                    break
        series[name] = {
            "peak_rps": peak["ok_rps"],
            "peak_concurrency": peak["concurrency"],
            "peak_p95_ms": peak["p95_ms"],
            "growth_stopped_after": stopped,
            "ratio_to_ceiling": peak["ok_rps"] / ceiling_tps if ceiling_tps else None,
        }
    return {"steps": steps, "series": series}


# --- targets ---------------------------------------------------------------------------------------


def evaluate_targets(
    stages: list[dict[str, Any]],
    *,
    target_rate: float,
    duplicate_grants: int | None,
    audit_ok: bool | None,
    ingestion_p95_s: float | None,
) -> dict[str, Any]:
    measured = [stage for stage in stages if stage["measured"]]
    at_rate = [stage for stage in measured if math.isclose(stage["target_rps"], target_rate)]
    stage = at_rate[-1] if at_rate else (max(measured, key=lambda st: st["target_rps"]) if measured else None)
    rows = []
    if stage is not None:
        for name, (family, limit) in TARGETS_MS.items():
            row = stage["endpoints"].get(name)
            value = row["p95_ms"] if row else float("nan")
            rows.append(
                {
                    "target": f"p95 {name} ({family})",
                    "limit": f"<= {limit:g} ms",
                    # an overloaded short stage may end before any journey reaches this step
                    "measured": f"{value:.1f} ms" if row else "no request in this stage",
                    "ok": bool(value <= limit),
                }
            )
        errors = stage["total"]["errors"]
        rows.append({"target": "errors", "limit": "0", "measured": str(errors), "ok": errors == 0})
        achieved = stage["achieved_rps"]
        rows.append(
            {
                "target": "arrival rate held",
                "limit": f">= {0.95 * stage['target_rps']:.0f} req/s",
                "measured": f"{achieved:.1f} req/s",
                "ok": achieved >= 0.95 * stage["target_rps"],
            }
        )
    all_errors = sum(st["total"]["errors"] for st in stages)
    rows.append(
        {"target": "errors, whole player load", "limit": "0", "measured": str(all_errors), "ok": all_errors == 0}
    )
    if duplicate_grants is not None:
        rows.append(
            {"target": "duplicate grants", "limit": "0", "measured": str(duplicate_grants), "ok": duplicate_grants == 0}
        )
    if audit_ok is not None:
        rows.append(
            {
                "target": "ledger audit",
                "limit": "clean",
                "measured": "clean" if audit_ok else "VIOLATIONS",
                "ok": audit_ok,
            }
        )
    if ingestion_p95_s is not None:
        rows.append(
            {
                "target": "ingestion delay p95",
                "limit": f"< {INGESTION_TARGET_S:g} s",
                "measured": f"{ingestion_p95_s:.2f} s",
                "ok": ingestion_p95_s < INGESTION_TARGET_S,
            }
        )
    return {
        "stage": stage["name"] if stage else None,
        "stage_rate": stage["target_rps"] if stage else None,
        "at_target_rate": bool(at_rate),
        "rows": rows,
        "all_ok": all(row["ok"] for row in rows),
    }


# --- plots ---------------------------------------------------------------------------------------------


def _footer(fig: Any, meta: dict[str, Any]) -> None:
    fig.text(0.005, 0.005, footer_text(meta), fontsize=7, color="#555555", ha="left", va="bottom")


def footer_text(meta: dict[str, Any]) -> str:
    m, v = meta["machine"], meta["versions"]
    return (
        f"{m['cpu_model']} x{m['cores']} cores, {m['memory_gb']:.1f} GB, reference loop "
        f"{m.get('python_loop_ms', 0):.0f} ms | Python {v['python']}, Django {v['django']}, "
        f"PostgreSQL {v['postgresql']} | git {meta['git_sha']} | run {meta['run_id']} ({meta['mode']}) | "
        f"load avg at start {m['loadavg_start']}"
    )


def plot_latency(
    path: Path, series: dict[str, Any], stages: list[dict[str, Any]], t0: float, meta: dict[str, Any]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in PLAYER_ENDPOINTS if name in series]
    cols = 3
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(15, 3.2 * rows + 0.8), squeeze=False, sharex=True)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        data = series[name]
        ax.plot(data["t"], data["p50"], ".-", label="p50", lw=1, ms=3)
        ax.plot(data["t"], data["p95"], ".-", label="p95", lw=1.8, ms=3)
        ax.plot(data["t"], data["p99"], ".--", label="p99", lw=1, ms=3)
        if name in TARGETS_MS:
            ax.axhline(TARGETS_MS[name][1], color="red", lw=1, ls=":", label=f"p95 target {TARGETS_MS[name][1]:g} ms")
        for i, stage in enumerate(stages):
            a, b = stage["start"] - t0, stage["end"] - t0
            ax.axvspan(a, b, color="#000000", alpha=0.04 if i % 2 else 0.0)
            label = f"{stage['target_rps']:g}/s" if stage["measured"] else "warm"
            ax.text(a + 1, 1.0, label, transform=ax.get_xaxis_transform(), fontsize=7, va="top")
        ax.set_title(name, fontsize=10)
        ax.set_yscale("log")
        ax.set_ylabel("ms")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, 0.92))
    for ax in axes[-1]:
        ax.set_xlabel("seconds since the load started")
    fig.suptitle("Player scenario (open loop): latency percentiles per endpoint over time", fontsize=12)
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    _footer(fig, meta)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_throughput(
    path: Path, saturation: dict[str, Any] | None, ceiling: dict[str, Any] | None, meta: dict[str, Any]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    if ceiling:
        levels = ceiling["levels"]
        clients = [level["clients"] for level in levels]
        left.plot(clients, [level["tps"] for level in levels], "s-", color="black", label="pgbench purchase.sql (TPS)")
        right.plot(clients, [level["p95_ms"] for level in levels], "s-", color="black", label="pgbench p95")
        left.axhline(
            ceiling["best"]["tps"], color="black", ls=":", lw=1, label=f"ceiling {ceiling['best']['tps']:.0f} TPS"
        )
    if saturation:
        for name in dict.fromkeys(step["series"] for step in saturation["steps"]):
            rows = [step for step in saturation["steps"] if step["series"] == name]
            conc = [row["concurrency"] for row in rows]
            left.plot(conc, [row["ok_rps"] for row in rows], "o-", label=f"API {name} (req/s, closed loop)")
            right.plot(conc, [row["p95_ms"] for row in rows], "o-", label=f"API {name} p95")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients / pgbench clients")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    left.set_yscale("log")
    left.set_ylabel("successful requests (transactions) per second, log scale")
    left.set_title("Throughput vs concurrency, against the PostgreSQL ceiling")
    right.set_ylabel("p95 latency, ms")
    right.set_yscale("log")
    right.set_title("p95 latency vs concurrency")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    _footer(fig, meta)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_pipeline(
    path: Path,
    samples: list[dict[str, Any]],
    rates: dict[str, list[float]] | None,
    stages: list[dict[str, Any]],
    ingestion: dict[str, Any] | None,
    t0: float,
    meta: dict[str, Any],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 1, figsize=(13, 11), sharex=True)
    t = [row["t"] - t0 for row in samples]
    ax = axes[0]
    if rates:
        ax.plot(rates["t"], rates["rps"], label="requests/s sent (player scenario)")
        ax.plot(rates["t"], rates["errors_per_s"], label="errors/s", color="red")
    for stage in stages:
        ax.hlines(stage["target_rps"], stage["start"] - t0, stage["end"] - t0, colors="black", linestyles=":", lw=1)
    ax.set_ylabel("req/s")
    ax.set_title("Arrival rate (dotted: target)")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(t, [row["outbox_pending"] for row in samples], label="outbox pending rows")
    ax.set_ylabel("rows")
    twin = ax.twinx()
    twin.plot(t, [row["outbox_lag_s"] for row in samples], color="tab:orange", label="outbox lag (s)")
    twin.set_ylabel("seconds")
    ax.set_title("Outbox (realtime.selectors.outbox_health), sampled every second")
    ax.legend(loc="upper left", fontsize=8)
    twin.legend(loc="upper right", fontsize=8)
    ax = axes[2]
    if ingestion and ingestion.get("series"):
        ax.plot(ingestion["series"]["t"], ingestion["series"]["p95_s"], label="p95 ingested - occurred")
        ax.plot(ingestion["series"]["t"], ingestion["series"]["max_s"], label="max", lw=0.8)
    ax.axhline(INGESTION_TARGET_S, color="red", ls=":", label=f"target p95 < {INGESTION_TARGET_S:g} s")
    ax.set_ylabel("seconds")
    ax.set_title("ClickHouse ingestion delay by occurrence time (events_log)")
    ax.legend(fontsize=8)
    ax = axes[3]
    for key, label in (
        ("cpu_total", "whole machine"),
        ("cpu_gunicorn", "gunicorn (the API)"),
        ("cpu_locust", "Locust (the load generator)"),
        ("cpu_pipeline", "relay, sink, daphne"),
        ("cpu_postgres", "PostgreSQL (all databases)"),
        ("cpu_other", "everything else (other users' work)"),
    ):
        ax.plot(t, [row.get(key, float("nan")) for row in samples], label=label)
    ax.axhline(meta["machine"]["cores"], color="black", ls=":", lw=1)
    ax.set_ylabel("cores busy")
    ax.set_xlabel("seconds since the load started")
    ax.set_title("CPU (from /proc), to judge noise from other work on the machine")
    ax.legend(fontsize=8)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    _footer(fig, meta)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- Markdown -----------------------------------------------------------------------------------------


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_f(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    m, v = meta["machine"], meta["versions"]
    out = [f"# Casino Club benchmark, run {meta['run_id']} ({meta['mode']})", ""]
    out += [
        f"* machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']:.1f} GB RAM, kernel {m['kernel']}",
        f"* single-core speed: {m.get('python_loop_ms', 0):.0f} ms of CPU for bench/run.py's reference loop "
        "(one million iterations of pure Python, best of 5; compare machines by it)",
        f"* load average at start {m['loadavg_start']}, at end {m.get('loadavg_end', '-')} "
        f"(other work on the machine makes these figures noisy; see pipeline.png, CPU panel)",
        f"* versions: Python {v['python']}, Django {v['django']}, PostgreSQL {v['postgresql']}, gunicorn "
        f"{v['gunicorn']}, daphne {v['daphne']}, Locust {v['locust']}, {v['pgbench']}, ClickHouse {v['clickhouse']}",
        f"* git {meta['git_sha']}; started {meta['started']}; {meta['duration_s']:.0f} s in all",
        f"* stack: gunicorn {meta['config']['workers']} sync workers (WSGI, /api), daphne (ASGI), relay, sink; "
        f"{meta['config']['players']} players seeded in {meta.get('seed_seconds', 0):.1f} s",
        "",
    ]
    targets = result.get("targets")
    if targets and targets["stage"] is None:
        out += ["## Targets", "", "No player stage ran (--skip-player): only the checks below.", ""]
        out.append(
            _table(
                ["target", "limit", "measured", ""],
                [[r["target"], r["limit"], r["measured"], "ok" if r["ok"] else "MISSED"] for r in targets["rows"]],
            )
        )
        out.append("")
    elif targets:
        where = f"stage {targets['stage']} ({_f(targets['stage_rate'], 0)} req/s)"
        if not targets["at_target_rate"]:
            where += " -- NOT the 200 req/s of the targets (smoke/short run)"
        out += [f"## Targets ({where})", ""]
        out.append(
            _table(
                ["target", "limit", "measured", ""],
                [
                    [row["target"], row["limit"], row["measured"], "ok" if row["ok"] else "MISSED"]
                    for row in targets["rows"]
                ],
            )
        )
        out.append("")
    player = result.get("player")
    if player:
        out += ["## Player scenario, open loop (per stage)", ""]
        for stage in player["stages"]:
            label = "warm-up, not measured" if not stage["measured"] else "measured"
            out.append(
                f"### {stage['name']}: target {stage['target_rps']:g} req/s, achieved {stage['achieved_rps']:.1f} "
                f"req/s, {stage['users']} users, {stage['seconds']:.0f} s ({label})"
            )
            out.append("")
            rows = [
                [
                    name,
                    row["requests"],
                    row["rps"],
                    row["p50_ms"],
                    row["p95_ms"],
                    row["p99_ms"],
                    row["max_ms"],
                    row["errors"],
                ]
                for name, row in stage["endpoints"].items()
            ]
            t = stage["total"]
            rows.append(
                ["**all**", t["requests"], t["rps"], t["p50_ms"], t["p95_ms"], t["p99_ms"], t["max_ms"], t["errors"]]
            )
            out.append(
                _table(["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"], rows)
            )
            out.append("")
        counters = player.get("counters", {})
        if counters:
            out.append("Scenario counters: " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
            out.append("")
        if player.get("errors"):
            out += ["Errors (first 20 kinds):", ""]
            out += [f"* {count} x {text}" for text, count in list(player["errors"].items())[:20]]
            out.append("")
    queries = result.get("queries")
    if queries:
        out += [
            "## SQL per request (bench/queries.py: one journey in-process, no server, no network)",
            "",
            "Every statement is a round trip to PostgreSQL, every transaction adds BEGIN and COMMIT.",
            "",
        ]
        out.append(
            _table(
                [
                    "endpoint",
                    "HTTP",
                    "statements",
                    "SELECT",
                    "INSERT/UPDATE",
                    "SAVEPOINT",
                    "commits",
                    "ms in-process",
                    "ms CPU (app)",
                ],
                [
                    [
                        q["endpoint"],
                        q["status"],
                        q["statements"],
                        q["selects"],
                        q["writes"],
                        q["savepoints"],
                        q["commits"],
                        q["in_process_ms"],
                        q.get("cpu_ms", "-"),
                    ]
                    for q in queries
                ],
            )
        )
        out.append("")
    ceiling = result.get("ceiling")
    if ceiling:
        out += [
            f"## PostgreSQL ceiling: pgbench `{ceiling['script']}` ({ceiling['seconds_per_level']} s per level)",
            "",
        ]
        out.append(
            _table(
                ["clients", "TPS", "p50 ms", "p95 ms", "p99 ms", "failed"],
                [
                    [lv["clients"], lv["tps"], lv["p50_ms"], lv["p95_ms"], lv["p99_ms"], lv["failed"]]
                    for lv in ceiling["levels"]
                ],
            )
        )
        best = ceiling["best"]
        out += [
            "",
            f"Ceiling: **{best['tps']:.0f} TPS** at {best['clients']} clients (p95 {best['p95_ms']:.2f} ms).",
            "",
        ]
    saturation = result.get("saturation")
    if saturation:
        out += ["## Saturation, closed loop (purchase / claim endpoints alone)", ""]
        out.append(
            _table(
                ["series", "concurrency", "ok req/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
                [
                    [s["series"], s["concurrency"], s["ok_rps"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["errors"]]
                    for s in saturation["steps"]
                ],
            )
        )
        out.append("")
        for name, peak in saturation["series"].items():
            ratio = peak["ratio_to_ceiling"]
            out.append(
                f"* **{name}**: peak {peak['peak_rps']:.0f} req/s at {peak['peak_concurrency']} clients "
                f"(p95 {peak['peak_p95_ms']:.1f} ms); "
                + (
                    f"growth stopped after {peak['growth_stopped_after']} clients"
                    if peak["growth_stopped_after"]
                    else "no plateau within the steps run"
                )
                + (f"; {100 * ratio:.0f} % of the pgbench ceiling" if ratio else "")
            )
        out.append("")
    pipeline = result.get("pipeline")
    if pipeline:
        ing = pipeline.get("ingestion", {})
        out += ["## Pipeline (outbox -> Kafka -> ClickHouse)", ""]
        out.append(
            f"* outbox lag during the player load: max {_f(pipeline['outbox_lag_max_s'], 2)} s, p95 "
            f"{_f(pipeline['outbox_lag_p95_s'], 2)} s; pending rows max {pipeline['outbox_pending_max']}"
        )
        for label, block in (("player load", ing.get("player")), ("whole run", ing.get("run"))):
            if block:
                out.append(
                    f"* ingestion delay ({label}): {block['events']} events in ClickHouse of {block['outbox_events']} "
                    f"in the outbox; p50 {_f(block['p50_s'], 2)} s, p95 {_f(block['p95_s'], 2)} s, p99 "
                    f"{_f(block['p99_s'], 2)} s, max {_f(block['max_s'], 2)} s"
                )
        for stage in ing.get("stages", []):
            out.append(f"  * {stage['name']}: p95 {_f(stage['p95_s'], 2)} s over {stage['events']} events")
        out.append("")
    integrity = result.get("integrity")
    if integrity:
        out += ["## Integrity after the load", ""]
        out.append(f"* `manage.py audit_ledger`: exit {integrity['audit_exit']} -- {integrity['audit_summary']}")
        out.append(
            _table(
                ["check", "count"],
                [[name, value] for name, value in integrity["checks"].items()],
            )
        )
        out.append("")
        out.append("Informational: " + ", ".join(f"{k} {v}" for k, v in integrity["info"].items()))
        out.append("")
    profile = result.get("profile")
    if profile:
        load = profile.get("load", {})
        out += [
            f"## Profile: {profile['endpoint']} ({profile['samples']} in-request samples, py-spy --idle, "
            f"{profile.get('clients', '?')} clients back to back: {_f(load.get('ok_rps'))} req/s, "
            f"p50 {_f(load.get('p50_ms'))} ms, p95 {_f(load.get('p95_ms'))} ms)",
            "",
            "Where the leaf frame is (wall-clock: waits count):",
            "",
        ]
        out.append(_table(["share %", "leaf in"], [[r["pct"], r["frame"]] for r in profile["leaf_categories"]]))
        out += ["", "The project's own functions, inclusive:", ""]
        out.append(_table(["inclusive %", "function"], [[r["pct"], r["frame"]] for r in profile["app_inclusive"][:30]]))
        out += ["", "Leaf functions (self):", ""]
        out.append(_table(["self %", "function"], [[r["pct"], r["frame"]] for r in profile["self"][:15]]))
        out.append("")
    notes = result.get("notes", []) + result.get("analysis_notes", [])
    if notes:
        out += ["## Notes", ""] + [f"* {note}" for note in notes] + [""]
    return "\n".join(out)
