"""What the players' sockets saw in a slice of the run (bench/player_socket.py
writes ``sockets-*.csv``: at, kind, name, ms): connects, the events pushed to
the players and their delay from the event to the player, and what went
missing. Read by bench/render.py per stage; the stage verdict and the targets
(bench/targets.py) hold pushes to ``PUSH_P95_MS`` and to zero lost."""

from __future__ import annotations

import collections
import csv
from pathlib import Path
from typing import Any

import numpy as np

# The realtime target (docs/architecture.md, "Performance targets"): every committed event reaches its
# player's socket, p95 under 100 ms.
PUSH_P95_MS = 100.0


def read(path: Path) -> list[tuple[float, str, str, float]]:
    """The rows of a sockets CSV (none when the run wrote none)."""
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [(float(r["at"]), r["kind"], r["name"], float(r["ms"])) for r in csv.DictReader(handle)]


def summary(rows: list[tuple[float, str, str, float]], t0: float, t1: float) -> dict[str, Any]:
    """The sockets' figures over ``[t0, t1)``: a connect counts where it started, a push where it arrived."""
    window = [row for row in rows if t0 <= row[0] < t1]
    connects = [row for row in window if row[1] == "connect"]
    connect_ms = np.array([row[3] for row in connects if row[2] == "ok"])
    pushes = [row for row in window if row[1] == "push"]
    delay = np.array([row[3] for row in pushes])
    by_type = collections.Counter(row[2] for row in pushes)
    failed = collections.Counter(row[2] for row in connects if row[2] != "ok")
    return {
        "connects": len(connect_ms),
        "connect_failures": dict(failed),
        "connect_p95_ms": float(np.percentile(connect_ms, 95)) if len(connect_ms) else None,
        "pushes": len(pushes),
        "pushes_per_s": len(pushes) / max(t1 - t0, 1e-9),
        "by_type": dict(by_type.most_common()),
        "delay_ms": {f"p{q}": float(np.percentile(delay, q)) if len(delay) else None for q in (50, 95, 99)}
        | {"max": float(delay.max()) if len(delay) else None},
        "lost": int(sum(row[3] for row in window if row[1] == "gap")),
        "duplicated": sum(1 for row in window if row[1] == "dup"),
        # what the sockets' resyncs brought back of the lost (bench/player_socket.py, ``SequenceBook``)
        "resyncs": sum(1 for row in window if row[1] == "resync"),
        "recovered": sum(1 for row in window if row[1] == "recovered"),
        "covered_by_state": int(sum(row[3] for row in window if row[1] == "resync" and row[2] == "state")),
        "dropped": dict(collections.Counter(row[2] for row in window if row[1] == "drop")),
        "feed": sum(1 for row in window if row[1] == "feed"),
    }


def problems(sockets: dict[str, Any]) -> list[str]:
    """Why a stage's sockets fail it: pushes over the p95 target, lost or repeated events,
    sockets refused or dropped."""
    reasons = []
    p95 = sockets["delay_ms"]["p95"]
    if p95 is not None and p95 >= PUSH_P95_MS:  # the target: under 100 ms
        reasons.append(f"p95 push {p95:.0f} ms >= {PUSH_P95_MS:g}")
    if sockets["lost"]:
        reasons.append(f"{sockets['lost']} pushes lost")
    if sockets["duplicated"]:
        reasons.append(f"{sockets['duplicated']} pushes repeated")
    failed = sum(sockets["connect_failures"].values())
    if failed:
        reasons.append(f"{failed} sockets refused")
    dropped = sum(sockets["dropped"].values())
    if dropped:
        reasons.append(f"{dropped} sockets dropped")
    return reasons
