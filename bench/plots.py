"""The PNG figures of a run (matplotlib, Agg), each carrying the machine, the
versions and the git sha in its footer."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.samples import PLAYER_ENDPOINTS
from bench.targets import INGESTION_TARGET_S, TARGETS_MS


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
        ("cpu_gunicorn", "gunicorn (the API and the login pool)"),
        ("cpu_login", "the login pool alone"),
        ("cpu_locust", "Locust (the load generator)"),
        ("cpu_pipeline", "relay, sink, ASGI"),
        ("cpu_postgres", "PostgreSQL (all databases)"),
        ("cpu_other", "everything else (other users' work)"),
        ("cpu_stolen", "stolen by the hypervisor (another guest ran)"),
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
