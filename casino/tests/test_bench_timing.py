"""bench/timing.py: a request's time in the API pool, split into on a core, waiting for one,
waiting inside PostgreSQL's statements and the rest; and a stage's summary of those lines."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory

from bench import timing
from bench.report import _timing_lines


@pytest.mark.django_db
def test_a_request_s_line_splits_its_time_between_the_core_and_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(timing.ENV, str(tmp_path))

    def view(request: object) -> HttpResponse:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(0.03)")  # 30 ms inside PostgreSQL, none of it on our core
            cursor.execute("SELECT 1")
        deadline = time.thread_time() + 0.02
        while time.thread_time() < deadline:  # 20 ms on a core
            pass
        return HttpResponse("ok")

    middleware = timing.RequestTimingMiddleware(view)
    before = time.time()
    response = middleware(RequestFactory().get("/api/users/balance"))

    assert response.status_code == 200
    columns = timing.read(tmp_path)
    assert columns["view"].tolist() == ["unresolved"]  # the factory's request was not routed
    assert columns["statements"].tolist() == [2.0]
    assert columns["start"][0] >= before - 1
    assert columns["db_ms"][0] >= 25  # the sleep, less whatever the thread spent on a core meanwhile
    assert columns["cpu_ms"][0] >= 19
    parts = columns["cpu_ms"][0] + columns["runq_ms"][0] + columns["db_ms"][0] + columns["rest_ms"][0]
    assert parts == pytest.approx(columns["wall_ms"][0], abs=0.01)


def test_without_the_kernel_s_run_queue_figure_a_request_is_still_timed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(timing.ENV, str(tmp_path))
    monkeypatch.setattr(timing, "SCHEDSTAT", str(tmp_path / "no-such-file"))
    monkeypatch.setattr(timing, "_local", threading.local())  # this thread opens it anew

    def view(request: object) -> HttpResponse:
        deadline = time.thread_time() + 0.005
        while time.thread_time() < deadline:
            pass
        return HttpResponse("ok")

    assert timing.RequestTimingMiddleware(view)(RequestFactory().get("/")).status_code == 200

    columns = timing.read(tmp_path)
    assert columns["runq_ms"].tolist() == [0.0]
    assert columns["cpu_ms"][0] >= 4.5


def _write(directory: Path, pid: int, lines: list[str]) -> None:
    (directory / f"requests-{pid}.csv").write_text("".join(f"{line}\n" for line in lines))


def test_a_stage_counts_only_its_own_requests_and_the_shares_add_up(tmp_path: Path) -> None:
    #      start, view, wall, cpu, runq, db, statements
    _write(tmp_path, 1, ["99.0,dashboard,50,10,10,10,4", "100.5,dashboard,10,6,2,1,4"])
    _write(tmp_path, 4, ["101.0,games-slot-spin,40,10,10,15,8"])
    _write(tmp_path, 2, ["100.0,dashboard,8,5,1,1,4", "105.0,dashboard,90,10,70,5,4"])
    _write(tmp_path, 3, ["a torn line"])

    stage = timing.breakdown(timing.read(tmp_path), 100.0, 104.0, slow_ms=20)

    assert stage["all"]["requests"] == 3  # neither the one before the stage nor the one after
    assert set(stage["views"]) == {"dashboard", "games-slot-spin"}
    assert stage["views"]["dashboard"]["requests"] == 2
    assert stage["views"]["games-slot-spin"]["rest_ms"]["p50"] == 5.0  # 40 - 10 - 10 - 15
    shares = stage["all"]["share"]
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["db_ms"] == pytest.approx(17 / 58)
    assert stage["slow"]["requests"] == 1  # the spin alone took over 20 ms
    assert stage["slow"]["share"]["runq_ms"] == pytest.approx(10 / 40)

    text = "\n".join(_timing_lines(stage))
    assert "| games-slot-spin | 1 | 40.0 / 40.0 | 10.0 / 10.0 | 10.0 / 10.0 | 15.0 / 15.0 | 5.0 / 5.0 | 8.0 |" in text
    assert "of the 1 that took over 20 ms: on a core 25%, waiting for a core 25%" in text


def test_no_lines_no_breakdown(tmp_path: Path) -> None:
    assert timing.read(tmp_path) == {}
    assert timing.breakdown({}, 0, 1) == {}


def test_the_parts_add_up_to_the_wall_time_when_the_clocks_tick_apart(tmp_path: Path) -> None:
    # A statement's wait is measured with other clocks than the thread's: it may come out a little
    # below zero, or a little more than the request's wall time leaves it.
    (tmp_path / "requests-1.csv").write_text(
        "1.0,a,52.105,19.5,2.005,30.628,2\n"  # the statements' 30.628 ms leave 0.028 ms too many
        "2.0,b,10.0,4.0,1.0,-0.004,1\n"  # a statement that waited for nothing
    )

    columns = timing.read(tmp_path)

    parts = sum(columns[name] for name in timing.PARTS)
    assert parts == pytest.approx(columns["wall_ms"], abs=1e-9)
    assert columns["db_ms"].tolist() == pytest.approx([52.105 - 19.5 - 2.005, 0.0])
    assert columns["rest_ms"].tolist() == pytest.approx([0.0, 5.0])


class PreemptedReadings:
    """A thread's clocks on a busy machine: every reading of its counters first waits 5 ms for
    a core (the thread was preempted just before it read them)."""

    def __init__(self) -> None:
        self.wall_ns = self.cpu_ns = self.runq_ns = 0

    def perf_counter_ns(self) -> int:
        return self.wall_ns

    def time(self) -> float:
        return 1_700_000_000.0 + self.wall_ns / 1e9

    def schedstat(self) -> tuple[int, int]:
        self.wall_ns += 5_000_000
        self.runq_ns += 5_000_000
        return self.cpu_ns, self.runq_ns

    def work(self, ms: int) -> None:
        self.wall_ns += ms * 1_000_000
        self.cpu_ns += ms * 1_000_000


def test_a_wait_for_a_core_while_the_clocks_are_read_stays_inside_the_wall_time_it_splits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a machine busy enough that reading the thread's counters waits for a core
    clock = PreemptedReadings()
    monkeypatch.setenv(timing.ENV, str(tmp_path))
    monkeypatch.setattr(timing, "_schedstat", clock.schedstat)
    monkeypatch.setattr(timing, "time", clock)

    def view(request: object) -> HttpResponse:
        clock.work(2)
        return HttpResponse("ok")

    # When a request of 2 ms on a core is timed
    timing.RequestTimingMiddleware(view)(RequestFactory().get("/api/users/balance"))

    # Then its parts add up to its wall time: the waits the readings met are inside that wall
    # time, not charged to the run queue beyond it (a stage's shares would add up past 100 %)
    columns = timing.read(tmp_path)
    parts = columns["cpu_ms"][0] + columns["runq_ms"][0] + columns["db_ms"][0] + columns["rest_ms"][0]
    assert columns["cpu_ms"][0] == pytest.approx(2.0)
    assert columns["runq_ms"][0] <= columns["wall_ms"][0] - columns["cpu_ms"][0]
    assert parts == pytest.approx(columns["wall_ms"][0], abs=0.01)
