"""The per-request samples of a run and the latency figures of any slice of them.

Locust writes one line per request (``samples-*.csv``: start, name, ms, ok,
status; bench/recording.py); every table and figure of the report is cut from
these with ``Samples.mask`` and summarised by ``latency_row``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The sample names of the player scenario (bench/journey.py), in the report's order.
PLAYER_ENDPOINTS = [
    "login",
    "signup",
    "refresh",
    "dashboard",
    "slot_spin",
    "slot_spin_retry",
    "crash_bet",
    "streak_claim",
    "vip_claim",
    "events",
    "event_join",
    "missions",
    "mission_claim",
    "shop_catalog",
    "buy_gems",
    "buy_gems_retry",
    "buy_money",
    "webhook",
    "webhook_duplicate",
    "balance",
]


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
