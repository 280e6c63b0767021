"""Every request Locust makes, recorded: one line per request in the samples
CSV (start, name, ms, ok, status) that bench/samples.py reads, successes per
second for the shape's saturation rule, and the scenario's counters and error
kinds, written at exit. What the players' sockets saw (bench/player_socket.py)
goes to a CSV of its own (at, kind, name, ms), read by bench/socket_stats.py.
Importing this module registers the listeners."""

from __future__ import annotations

import collections
import json
import time
from pathlib import Path
from typing import Any

from locust import events

from bench.scenario import CONFIG

_samples = open(CONFIG["samples_path"], "w", buffering=1 << 16)  # noqa: SIM115 - closed at quit
_samples.write("start,name,ms,ok,status\n")
_sockets = open(CONFIG["sockets_path"], "w", buffering=1 << 16) if CONFIG.get("sockets_path") else None  # noqa: SIM115
if _sockets is not None:
    _sockets.write("at,kind,name,ms\n")
COUNTERS: collections.Counter[str] = collections.Counter()
ERRORS: collections.Counter[str] = collections.Counter()
OK_BY_SECOND: collections.Counter[int] = collections.Counter()


@events.request.add_listener
def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    exception: BaseException | None = None,
    start_time: float | None = None,
    response: Any = None,
    **_: Any,
) -> None:
    started = start_time if start_time is not None else time.time() - response_time / 1000
    status = getattr(response, "status_code", 0) or 0
    _samples.write(f"{started:.4f},{name},{response_time:.3f},{0 if exception else 1},{status}\n")
    if exception is not None:
        ERRORS[f"{name}: {str(exception)[:160]}"] += 1
    else:
        OK_BY_SECOND[int(started)] += 1


def record_socket(kind: str, name: str, ms: float, at: float | None = None) -> None:
    """One thing a player's socket saw (bench/player_socket.py: ``connect``, ``push``...)."""
    if _sockets is not None:
        _sockets.write(f"{time.time() if at is None else at:.4f},{kind},{name},{ms:.3f}\n")


@events.quitting.add_listener
def _flush(**_: Any) -> None:
    _samples.flush()
    _samples.close()
    if _sockets is not None:
        _sockets.close()
    Path(CONFIG["counters_path"]).write_text(
        json.dumps({"counters": dict(COUNTERS), "errors": dict(ERRORS.most_common(50))}, indent=2)
    )
