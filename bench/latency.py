"""Latency of the player scenario: per stage and endpoint, and over time."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from bench.samples import PLAYER_ENDPOINTS, Samples, latency_row, pct
from bench.targets import TARGETS_MS


def player_stats(s: Samples, timeline: list[dict[str, Any]], pacing_s: float) -> list[dict[str, Any]]:
    stages = []
    for stage in timeline:
        # From the end of the ramp the stage begins with (bench/locustfile.py) to its end.
        t0, t1 = stage.get("measure_start", stage["start"]), stage.get("end", stage["start"])
        seconds = max(1e-9, t1 - t0)
        endpoints = {}
        for name in PLAYER_ENDPOINTS:
            m = s.mask([name], t0, t1)
            if m.any():
                endpoints[name] = latency_row(s, m, seconds)
        total = latency_row(s, s.mask(PLAYER_ENDPOINTS, t0, t1), seconds)
        families = {}  # every request of a family of the p95 targets (bench/targets.py), pooled
        for family in dict.fromkeys(family for family, _ in TARGETS_MS.values()):
            m = s.mask([name for name, (of, _) in TARGETS_MS.items() if of == family], t0, t1)
            if m.any():
                families[family] = latency_row(s, m, seconds)
        stages.append(
            {
                "name": stage["name"],
                "measured": bool(stage.get("measured", True)),
                "target_rps": float(stage["rate"]),
                # a share of the bare purchase's saturation (bench/stages.py), and that rate; None: req/s
                "share": stage.get("share"),
                "reference_rps": stage.get("reference_rps"),
                "users": max(1, round(float(stage["rate"]) * pacing_s)),
                "start": t0,
                "end": t1,
                "seconds": seconds,
                "achieved_rps": total["rps"],
                "total": total,
                "endpoints": endpoints,
                "families": families,
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
