"""bench/pipeline.py's reading of the machine's CPU: stolen time apart from the work done here, and
the seconds the login pool hashed passwords in (bench/render.py, the report's line)."""

from __future__ import annotations

import numpy as np

from bench.pipeline import cpu_ticks, stolen_view, stolen_windows
from bench.render import hashing_view
from bench.report import _hashing_line
from bench.samples import Samples


def test_proc_stat_line_is_split_into_ticks_idle_and_stolen() -> None:
    #       user nice system idle iowait irq softirq steal guest guest_nice
    line = "cpu  400 10 90 1000 20 0 30 150 60 0"

    total, idle, stolen = cpu_ticks(line)

    assert idle == 1020  # idle and I/O wait: nothing ran
    assert stolen == 150  # the hypervisor ran another guest: not work of this machine
    assert total == 1700  # guest time is in user time already: not counted twice


def test_an_old_kernel_s_line_without_steal_reads_none() -> None:
    assert cpu_ticks("cpu  400 10 90 1000 20") == (1520, 1020, 0)


def test_a_histogram_quantile_is_interpolated_within_its_bucket() -> None:
    from bench.pipeline import histogram_quantile

    inf = float("inf")
    buckets = [(0.01, 50.0), (0.025, 90.0), (0.05, 100.0), (inf, 100.0)]

    assert histogram_quantile(buckets, 0.5) == 0.01  # the 50th of 100 is the first bucket's last
    assert abs((histogram_quantile(buckets, 0.7) or 0) - 0.0175) < 1e-9  # 20 of the 40 in (10, 25] ms
    assert abs((histogram_quantile(buckets, 0.95) or 0) - 0.0375) < 1e-9
    assert histogram_quantile([(0.01, 0.0), (inf, 3.0)], 0.5) == 0.01  # in +Inf: the last finite bound
    assert histogram_quantile([(0.01, 0.0), (inf, 0.0)], 0.5) is None


def test_a_stage_counts_only_what_the_server_saw_between_its_start_and_its_end() -> None:
    from bench.pipeline import server_latency

    inf = float("inf")
    snapshots = [
        {"t": 100.0, "buckets": {"GET dashboard": [(0.01, 40.0), (0.05, 40.0), (inf, 40.0)]}},
        {
            "t": 110.0,
            "buckets": {
                "GET dashboard": [(0.01, 40.0), (0.05, 140.0), (inf, 140.0)],  # 100 more, all in (10, 50] ms
                "POST games-slot-spin": [(0.01, 0.0), (0.05, 10.0), (inf, 10.0)],
            },
        },
    ]

    stage = server_latency(snapshots, 105.0, 111.0)  # from the snapshot at 100 s to the one at 110 s

    assert stage["GET dashboard"]["requests"] == 100  # not the 40 counted before the stage
    assert stage["GET dashboard"]["p50_ms"] == 30.0
    assert stage["POST games-slot-spin"]["requests"] == 10
    assert stage["all"]["requests"] == 110


def test_stolen_windows_and_the_requests_outside_them() -> None:
    samples = [
        {"t": 100.0, "cpu_stolen": 0.0},
        {"t": 101.0, "cpu_stolen": 0.3},  # (100, 101] taken
        {"t": 102.0, "cpu_stolen": 0.5},  # (101, 102] taken: one window with the previous
        {"t": 103.0, "cpu_stolen": 0.05},  # below the threshold
        {"t": 104.0, "cpu_stolen": 0.2},  # (103, 104] taken
        {"t": 105.0, "cpu_stolen": 0.9},  # after the stage
    ]
    windows = stolen_windows(samples, 100.5, 104.0)
    starts = np.array([100.2, 100.7, 101.5, 102.5, 103.2, 103.9])
    view = stolen_view(starts, windows, 100.5, 104.0, samples)

    assert windows == [(100.5, 102.0), (103.0, 104.0)]
    assert view["seconds"] == 2.5 and view["stage_seconds"] == 3.5
    assert view["max_cores"] == 0.5  # the sample after the stage does not count
    assert view["outside"].tolist() == [True, False, False, True, False, False]


def test_the_seconds_the_login_pool_hashed_in_and_the_p95s_without_them() -> None:
    pipeline = [{"t": 100.0 + i, "cpu_login": 0.0} for i in range(11)]
    pipeline[3]["cpu_login"] = 0.9  # (102, 103]: a password hash on one core
    pipeline[4]["cpu_login"] = 0.4  # (103, 104]: its end, one window with it
    pipeline[8]["cpu_login"] = 0.05  # (107, 108]: a refresh, not a hash
    # 100 reads, one every 0.1 s from t=100: 10 ms each, 80 ms in the hashing's seconds;
    # a slot spin each second at 20 ms; a login (no p95 target) that took 400 ms
    starts = [100.0 + i / 10 for i in range(100)] + [100.05 + i for i in range(10)] + [102.5]
    names = ["balance"] * 100 + ["slot_spin"] * 10 + ["login"]
    ms = [80.0 if 102.0 <= t < 104.0 else 10.0 for t in starts[:100]] + [20.0] * 10 + [400.0]
    samples = Samples(
        np.array(starts),
        np.array(ms),
        np.ones(len(ms), dtype=bool),
        np.full(len(ms), 200),
        np.array(names, dtype=object),
    )

    view = hashing_view(samples, pipeline, {"start": 100.0, "end": 110.0})

    assert view is not None
    assert view["seconds"] == 2.0 and view["stage_seconds"] == 10.0
    assert view["share_of_requests"] == 22 / 110  # 20 reads and 2 spins of 110 (the login has no target)
    assert view["share_of_slowest"] == 1.0  # the slowest 5 %: reads of the hashing's seconds
    assert view["p95_ms_outside"] == {"read": 10.0, "game round": 20.0}
    line = _hashing_line(view)
    assert "in 2 of the stage's 10 s: 20 % of the requests" in line and "100 % of their slowest 5 %" in line
    assert "reads 10.0, game rounds 20.0" in line
    # a run without a login pool (--one-pool) has no such figure
    assert hashing_view(samples, [{"t": 100.0 + i} for i in range(11)], {"start": 100.0, "end": 110.0}) is None
