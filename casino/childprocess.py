"""Child processes for the end-to-end tests and the benchmark (never used by
the served application): servers, the relay, the sink, a private broker.

Each child runs in its own session, so a Ctrl-C of the parent does not reach
it and its process group holds its own workers (gunicorn's, say); on Linux it
gets SIGKILL from the kernel if the parent dies first (``PR_SET_PDEATHSIG``),
so even a crash leaves nothing behind. stdout and stderr go to a log file
whose tail is quoted when something fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

# Resolved here, not in the forked child (no dlopen between fork and exec).
_prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout: float = 2.0) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.1,
    message: str | Callable[[], str] = "",
    error: type[Exception] = AssertionError,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; raise ``error``
    after ``timeout`` seconds (AssertionError in tests; the bench passes its own)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise error(f"timed out after {timeout:.0f}s: {text}")
        time.sleep(interval)


class Process:
    """One child in its own session; signals go to its whole process group."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(  # noqa: S603 - argv built by the caller, no shell
            argv,
            env=dict(env),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # only ctypes prctl between fork and exec
        )
        self.pid = self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def describe(self) -> str:
        state = "running" if self.alive else f"exited with {self.popen.returncode}"
        return f"{self.name} (pid {self.pid}, {state}), log {self.log_path}:\n{self.log_tail()}"

    def signal_group(self, signum: int) -> None:
        # Only the group this process leads (start_new_session): itself and its own workers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def terminate(self) -> None:
        """SIGTERM: servers, the relay and the sink finish what they hold and exit."""
        if self.alive:
            self.signal_group(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, no chance to clean up (a crash)."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; a dead master's
        leftover workers get SIGKILL."""
        try:
            if self.alive:
                self.terminate()
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
            else:
                self.signal_group(signal.SIGKILL)
        finally:
            self._log.close()


class ProcessGroup:
    """The processes one test or one bench run started; :meth:`stop_all` ends them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[Process] = []

    def start(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        log_path = self.log_dir / f"{name}.log"
        if log_path.exists() or any(p.log_path == log_path for p in self.processes):
            log_path = self.log_dir / f"{name}-{len(self.processes)}.log"
        process = Process(name, argv, env if env is not None else dict(os.environ), log_path)
        self.processes.append(process)
        return process

    def stop(self, process: Process, timeout: float = 10.0) -> None:
        process.stop(timeout)
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self, timeout: float = 10.0) -> list[str]:
        """SIGTERM to every process at once, then wait (SIGKILL stragglers).
        Returns what could not be stopped cleanly."""
        errors = []
        for process in self.processes:
            process.terminate()
        deadline = time.monotonic() + timeout
        for process in reversed(self.processes):
            try:
                process.stop(timeout=max(0.1, deadline - time.monotonic()))
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                errors.append(f"{process.name}: {exc}")
        self.processes.clear()
        return errors
