"""Throughput: the player scenario's arrival rate over time and the closed-loop
saturation series (peak, where growth stopped, ratio to the pgbench ceiling).
The ``bare_purchase`` series (bench/bare.py) is the yardstick of the player
scenario's sustained rate (bench/targets.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.samples import Samples, latency_row

SATURATION_ENDPOINTS = {
    "bare_purchase": ["sat_bare_purchase"],
    "purchase": ["sat_buy_gems"],
    "claim": ["sat_streak_claim", "sat_vip_claim"],
}


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
        steps.append(
            {
                "series": step["series"],
                "concurrency": step["concurrency"],
                "seconds": t1 - t0,
                **row,
                "t0": t0,
                "t1": t1,
            }
        )
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
