"""casino/gunicorn_workers.py: a connection wakes one waiting sync worker, not every one.

The pool tests start a real gunicorn (production's config file, three
workers) serving a one-line WSGI app that answers with its worker's pid, send
requests one after the other (every worker waiting for the next), and read each
worker's voluntary context switches from ``/proc``: a worker sleeping in its
wait and woken counts one."""

from __future__ import annotations

import contextlib
import os
import runpy
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.pyspy import worker_pids

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
REQUESTS = 40
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"

pytestmark = pytest.mark.skipif(
    not hasattr(select, "EPOLLEXCLUSIVE") or not Path("/proc/self/status").exists(),
    reason="EPOLLEXCLUSIVE and /proc are Linux's",
)

APP = """
import os


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def voluntary_switches(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError(f"no context switches for {pid}")


def get(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        return int(response.read())


@contextlib.contextmanager
def pool(tmp_path: Path, worker_class: str | None = None) -> Iterator[tuple[int, list[int], subprocess.Popen[bytes]]]:
    """A gunicorn of ``WORKERS`` workers with production's config (deploy/gunicorn.conf.py), of
    ``worker_class`` if given; yields its port, its workers' pids and the master process."""
    (tmp_path / "pid_app.py").write_text(APP)
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), "--chdir", str(tmp_path)]
    command += ["--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}", "--timeout", "120", "pid_app:app"]
    if worker_class:
        command += ["--worker-class", worker_class]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        served: set[int] = set()
        while time.monotonic() < deadline and (len(worker_pids(server.pid)) < WORKERS or not served):
            with contextlib.suppress(OSError):
                served.add(get(port))
            time.sleep(0.1)
        workers = worker_pids(server.pid)
        assert len(workers) == WORKERS, server.stderr.read().decode() if server.poll() is not None else workers
        time.sleep(0.5)  # every worker booted and waiting
        yield port, workers, server
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)


def wake_ups(port: int, workers: list[int]) -> tuple[Counter[int], dict[int, int]]:
    """``REQUESTS`` requests one after the other: which worker served each, and how often each woke."""
    before = {pid: voluntary_switches(pid) for pid in workers}
    served: Counter[int] = Counter()
    for _ in range(REQUESTS):
        served[get(port)] += 1
        time.sleep(0.01)  # the worker that served is back in its wait
    return served, {pid: voluntary_switches(pid) - before[pid] for pid in workers}


def test_production_runs_the_worker_woken_alone() -> None:
    assert runpy.run_path(str(CONFIG))["worker_class"] == "casino.gunicorn_workers.ExclusiveWaitSyncWorker"


def test_a_connection_wakes_one_waiting_worker(tmp_path: Path) -> None:
    # Given three workers as production runs them, all waiting
    with pool(tmp_path) as (port, workers, _server):
        # When requests arrive one after the other
        served, woke = wake_ups(port, workers)
    # Then every request was answered, and a worker that served none slept through them all
    assert sum(served.values()) == REQUESTS and set(served) <= set(workers)
    idle = [pid for pid in workers if not served[pid]]
    assert idle, f"each worker served some: {served}"
    assert all(woke[pid] <= 2 for pid in idle), (served, woke)
    # ... and the pool woke about once a request in all (stock sync workers: once a request each)
    assert sum(woke.values()) <= REQUESTS * 1.5, (served, woke)


def test_stock_sync_workers_all_wake_for_every_connection(tmp_path: Path) -> None:
    # The herd the project's worker avoids, measured the same way (and so the measurement can fail)
    with pool(tmp_path, "sync") as (port, workers, _server):
        served, woke = wake_ups(port, workers)
    assert sum(served.values()) == REQUESTS
    assert all(woke[pid] >= REQUESTS * 0.9 for pid in workers), (served, woke)


def test_the_pool_stops_at_once_on_term(tmp_path: Path) -> None:
    # Given three workers as production runs them, waiting in their epoll sets
    with pool(tmp_path) as (_port, workers, server):
        # When the master is told to stop (a deploy)
        started = time.monotonic()
        server.terminate()
        code = server.wait(timeout=30)
        # Then the workers left their waits at once, not after gunicorn's 30 s graceful timeout
        assert code == 0 and time.monotonic() - started < 5
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
