"""gunicorn's settings for the ``web`` service: the image's default command and
docker-compose.yml's ``web`` both run ``gunicorn -c deploy/gunicorn.conf.py
casino.wsgi:application``.

Workers: one sync worker per core the process may run on, unless
``WEB_CONCURRENCY`` says otherwise. Measured with ``make bench`` (its
saturation search, ``--workers N``): the request path is CPU-bound (the
database and Redis answer in well under a millisecond on a local network), so
a worker per core already keeps every core busy; more workers only add
context switches and cache misses -- on 2 cores, 4 workers cost 25-30% more CPU
per request than 2 and tripled the p95 at the same load, and 3 held the player mix
at 100 requests/s no better than 2 (bench/README.md, "Fourteenth round"). A deployment whose
database is far away (a few ms a round trip) gains from more: set
``WEB_CONCURRENCY``. The core count is the CPU affinity mask (a cpuset limit
of a container counts; a CFS quota does not: set ``WEB_CONCURRENCY`` there).

Worker class: gunicorn's sync worker, except that a new connection wakes one
waiting worker instead of all of them (``casino.gunicorn_workers``, on Linux;
elsewhere the stock sync worker). Under the player mix at 150 requests/s the
machine spent ~3 % less CPU and the p95s outside the password hashes' seconds
were 2-5 ms lower (bench/README.md, "Twenty-fifth round").
"""

from __future__ import annotations

import os
import select
from typing import Any


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY") or cores())
# EPOLLEXCLUSIVE: Linux 4.5 and later (every kernel the images run on); the stock worker elsewhere.
worker_class = "casino.gunicorn_workers.ExclusiveWaitSyncWorker" if hasattr(select, "EPOLLEXCLUSIVE") else "sync"
# No access log: the load balancer writes one line per request with the request id and the
# upstream's time (deploy/nginx.conf, log format "casino"); a second log here cost ~3 % of a
# worker's CPU under the player mix (bench/README.md, "Eleventh round"). To have one anyway
# (gunicorn without nginx in front): GUNICORN_CMD_ARGS="--access-logfile -".
accesslog = None
# A request stuck longer than this is killed (the worker restarts); every endpoint answers in well under a second.
timeout = 30
graceful_timeout = 30


def post_worker_init(worker: Any) -> None:
    """The worker has loaded the application: freeze what start-up created, so the
    garbage collector's full collections skip it (``casino.gc_tuning``: ~100 ms a
    collection otherwise, every request of the worker waiting).

    ``WEB_WORKER_NICE`` (0 to 19): run the workers at a lower CPU priority.
    The pool that hashes passwords (docker-compose.yml, ``web-login``) sets it:
    a burst of logins then takes the CPU the API leaves, instead of the API's."""
    from casino.gc_tuning import gc_freeze_startup

    gc_freeze_startup()
    nice = int(os.environ.get("WEB_WORKER_NICE") or 0)
    if nice > 0:
        lower_priority(min(nice, 19))


AUTOGROUP = "/proc/self/autogroup"


def lower_priority(nice: int) -> None:
    """Lower this worker's CPU priority by ``nice``, against every other process of the machine.

    A process's nice value alone weighs it only against the processes of its
    own session where Linux groups the scheduling by session (``autogroup``,
    on by default on desktop and many server kernels): the API pool, started
    in a session of its own, kept an equal share of the cores against the
    hashing pool whatever its workers' nice value (measured: three busy
    processes at nice 19, each in a session of its own, still slowed a
    fourth process by 60-190 %, and by 0-10 % once their sessions were at
    nice 19; bench/README.md, "Eleventh round"). So when the pool's master
    leads a session of its own, the session's group gets the same nice value
    (it holds the pool alone). In a container, the container's CPU weight
    decides instead (docker-compose.yml's ``cpu_shares`` for ``web-login``)."""
    os.nice(nice)
    if os.getsid(0) != os.getppid():
        return  # the session holds more than this pool: its weight is not this pool's to lower
    try:
        with open(AUTOGROUP, "w", encoding="ascii") as group:
            group.write(str(nice))
    except OSError:
        return  # a kernel without autogroup (or one that refuses): the worker's own nice value stands


def child_exit(_server: Any, worker: Any) -> None:
    """A worker died or was restarted: drop its live gauges from the metrics that
    /metrics sums over the workers (prometheus_client's multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
