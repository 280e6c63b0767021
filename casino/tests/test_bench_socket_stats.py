"""bench/socket_stats.py: what the players' sockets saw in a stage (bench/player_socket.py
writes the rows), and how it fails a stage (bench/targets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("numpy")  # a bench tool (requirements-bench.txt)

from bench import socket_stats
from bench.targets import stage_verdict

ROWS = [
    (100.0, "connect", "ok", 30.0),
    (100.5, "connect", "http 403", 5.0),
    (101.0, "push", "balance_update", 10.0),
    (101.1, "push", "balance_update", 20.0),
    (101.2, "push", "event_progress", 400.0),
    (101.3, "gap", "event_progress", 2.0),  # two events never arrived
    (101.4, "dup", "game_event", 0.0),
    (101.5, "drop", "ConnectionResetError", 0.0),
    (101.6, "feed", "live_feed", 0.0),
    (200.0, "push", "balance_update", 5.0),  # another stage
]


def test_a_stage_s_summary_counts_only_its_own_window(tmp_path: Path) -> None:
    path = tmp_path / "sockets-run.csv"
    path.write_text("at,kind,name,ms\n" + "".join(f"{at},{kind},{name},{ms}\n" for at, kind, name, ms in ROWS))

    summary = socket_stats.summary(socket_stats.read(path), 100.0, 150.0)

    assert summary["connects"] == 1 and summary["connect_failures"] == {"http 403": 1}
    assert summary["connect_p95_ms"] == pytest.approx(30.0)
    assert summary["pushes"] == 3 and summary["by_type"] == {"balance_update": 2, "event_progress": 1}
    assert summary["delay_ms"]["p50"] == pytest.approx(20.0) and summary["delay_ms"]["max"] == pytest.approx(400.0)
    assert (summary["lost"], summary["duplicated"], summary["feed"]) == (2, 1, 1)
    assert summary["dropped"] == {"ConnectionResetError": 1}
    assert socket_stats.read(tmp_path / "missing.csv") == []


def test_late_lost_or_repeated_pushes_and_refused_sockets_fail_the_stage() -> None:
    bad = socket_stats.summary(ROWS, 100.0, 150.0)
    clean = socket_stats.summary([row for row in ROWS if row[1] in ("connect", "push") and row[3] < 100], 0, 150)
    clean["connect_failures"] = {}

    assert socket_stats.problems(bad) == [
        f"p95 push {bad['delay_ms']['p95']:.0f} ms >= 100",
        "2 pushes lost",
        "1 pushes repeated",
        "1 sockets refused",
        "1 sockets dropped",
    ]
    assert socket_stats.problems(clean) == []
    stage = {"endpoints": {}, "total": {"errors": 0}, "achieved_rps": 50.0, "target_rps": 50.0}
    assert stage_verdict({**stage, "sockets": clean}) == {"ok": True, "reasons": []}
    assert not stage_verdict({**stage, "sockets": bad})["ok"]
