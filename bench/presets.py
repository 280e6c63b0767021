"""The sizes of a run: ``full`` (``make bench``), ``quick`` (``make bench-quick``,
``--quick``) and ``smoke`` (``--smoke``, casino/tests/test_bench_smoke.py).
bench/run.py fills every option left unset on the command line from here. ``cpu_*``: the
in-process table (bench/cpu.py): warm-up, timed and counted requests per row, one player each."""

from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, Any]] = {
    "full": {
        "players": 2000,
        # Shares of the bare purchase's saturation rate, measured first (bench/stages.py): the top
        # stage is the throughput target itself (bench/targets.py, SUSTAINED_SHARE); the steps of
        # 5 % say how close to it the mix holds (the sustained share is the best passing stage).
        "rates": ["10%", "15%", "20%", "25%", "30%"],
        "stage_seconds": 60,
        "warmup_seconds": 20,
        "pacing": 2.0,
        "login_ratio": 0.1,  # visits that start with a password login (the rest: sign-up 10 %, else refresh)
        "visit_rounds": 6,  # a visit: the journey, then 5 more rounds of play (~57 requests, ~2 minutes)
        "start_midway": True,  # users a stage adds are players already in a visit (no burst of logins)
        "socket_ratio": 1.0,  # visits holding the app's realtime socket (bench/player_socket.py): the app opens it
        "workers": None,  # as production: a sync worker per core (deploy/gunicorn.conf.py)
        "pgbench_clients": [1, 4, 8, 16, 32],
        "pgbench_seconds": 15,
        "saturation_concurrency": [1, 2, 4, 8, 16, 32, 64],
        "saturation_step_seconds": 15,
        "saturation_settle_seconds": 3,
        "bucket_seconds": 5,
        "redis_db": 15,
        "cpu_warmup": 20,
        "cpu_requests": 200,
        "cpu_count_requests": 10,
    },
    "quick": {
        "players": 600,
        "rates": ["10%", "20%", "30%"],
        "stage_seconds": 12,
        "warmup_seconds": 5,
        "pacing": 2.0,
        "login_ratio": 0.1,
        "visit_rounds": 6,
        "start_midway": True,
        "socket_ratio": 1.0,
        "workers": None,  # as production: a sync worker per core (deploy/gunicorn.conf.py)
        "pgbench_clients": [1, 8, 32],
        "pgbench_seconds": 3,
        "saturation_concurrency": [2, 8, 32],
        "saturation_step_seconds": 5,
        "saturation_settle_seconds": 2,
        "bucket_seconds": 3,
        "redis_db": 15,
        "cpu_warmup": 10,
        "cpu_requests": 60,
        "cpu_count_requests": 3,
    },
    "smoke": {
        "players": 20,
        "rates": [5.0],  # req/s: a share of the smoke's 2-client closed loop would mean nothing
        # Long enough for a visit to reach its purchase with gems (step 9, 13 after a sign-up) on a slow,
        # busy machine: a login there costs ~0.8 s of password hashing and slots start late.
        "stage_seconds": 10,
        "warmup_seconds": 0,
        "pacing": 0.5,  # 3 players, each through a whole visit (login ... buy with gems) within the stage
        "login_ratio": 1.0,  # every visit signs in with the password (the smoke test looks for the login row)
        "visit_rounds": 1,
        "start_midway": False,
        "socket_ratio": 1.0,
        "workers": 2,
        "pgbench_clients": [2],
        "pgbench_seconds": 2,
        "saturation_concurrency": [2],
        "saturation_step_seconds": 2,
        "saturation_settle_seconds": 1,
        "bucket_seconds": 1,
        "redis_db": 14,
        # the table's rows exist, their figures mean nothing at this size
        "cpu_warmup": 0,
        "cpu_requests": 1,
        "cpu_count_requests": 1,
    },
}
