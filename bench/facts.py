"""Facts about the machine and the code that every report and figure carries:
CPU, memory, a reference loop that measures one core's speed, the versions of
the stack and the git sha."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import ceiling, stack
from bench.stack import ROOT


def machine() -> dict[str, Any]:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cpu_model": model,
        "cores": os.cpu_count() or 0,
        "memory_gb": mem_kb / 1024 / 1024,
        "kernel": platform.release(),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python_loop_ms": python_loop_ms(),
    }


def python_loop_ms() -> float:
    """CPU milliseconds for a fixed pure-Python workload (best of 5): every
    figure of a run scales with it, so it is how two machines compare."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        total = 0
        for i in range(1_000_000):
            total += i % 7
        best = min(best, (time.process_time() - started) * 1000)
    return best


def git_sha() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607 - git from PATH, as casino/health.py does
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()

    sha = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return sha + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def clickhouse_version(url: str) -> str:
    try:
        client = stack.clickhouse_client(url)
        try:
            return str(client.execute("SELECT version()")[0][0])
        finally:
            client.disconnect()
    except Exception as exc:  # noqa: BLE001
        return f"unknown ({exc})"


def versions(*, pg_url: str, clickhouse_url: str) -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "django": package_version("Django"),
        "postgresql": stack.pg_version(pg_url),
        "gunicorn": package_version("gunicorn"),
        "uvicorn": package_version("uvicorn"),
        "daphne": package_version("daphne"),
        "locust": package_version("locust"),
        "pgbench": ceiling.pgbench_version(),
        "clickhouse": clickhouse_version(clickhouse_url),
    }


def hasher_note() -> str:
    """Needs Django set up (the run's settings)."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    t = time.perf_counter()
    hasher.encode("Bench-Player-Pass-7", hasher.salt())
    ms = (time.perf_counter() - t) * 1000
    return (
        f"Passwords use production's PBKDF2 ({hasher.iterations} iterations): one hash took {ms:.0f} ms "
        f"of CPU here, so a password login or a sign-up costs that much more than a request, and 2 cores "
        f"cap them at ~{2000 / ms:.0f}/s. The player scenario resumes most visits with a refresh token "
        f"(bench/journey.py) and reports login, sign-up and refresh as rows of their own."
    )
