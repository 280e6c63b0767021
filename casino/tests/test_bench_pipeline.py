"""bench/pipeline.py's reading of the machine's CPU: stolen time apart from the work done here."""

from __future__ import annotations

from bench.pipeline import cpu_ticks


def test_proc_stat_line_is_split_into_ticks_idle_and_stolen() -> None:
    #       user nice system idle iowait irq softirq steal guest guest_nice
    line = "cpu  400 10 90 1000 20 0 30 150 60 0"

    total, idle, stolen = cpu_ticks(line)

    assert idle == 1020  # idle and I/O wait: nothing ran
    assert stolen == 150  # the hypervisor ran another guest: not work of this machine
    assert total == 1700  # guest time is in user time already: not counted twice


def test_an_old_kernel_s_line_without_steal_reads_none() -> None:
    assert cpu_ticks("cpu  400 10 90 1000 20") == (1520, 1020, 0)
