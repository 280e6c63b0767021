"""Profiling one endpoint under load with py-spy (``bench/run.py --profile NAME``).

py-spy samples every gunicorn worker (``--idle``: waits on PostgreSQL and
Redis count too, so this is a wall-clock profile of a request). Only samples
inside a request (a frame of gunicorn's ``handle_request``) are kept. The
collapsed stacks are saved (open them in speedscope or flamegraph.pl) and
summarised: inclusive and self share per function, and where the leaf frame
sits (PostgreSQL driver, Redis client, the rest).
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.stack import PYTHON, ROOT, BenchError

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")


def pyspy_binary() -> str:
    candidate = Path(PYTHON).parent / "py-spy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("py-spy")
    if not found:
        raise BenchError("py-spy is not installed (pip install -r requirements-bench.txt)")
    return found


def worker_pids(master_pid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2 :].split()
        if int(fields[1]) == master_pid:
            pids.append(int(entry.name))
    return sorted(pids)


def start_recording(pids: list[int], seconds: int, out_dir: Path) -> list[subprocess.Popen[bytes]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = pyspy_binary()
    procs = []
    for pid in pids:
        argv = [
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--idle",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out_dir / f"worker-{pid}.txt"),
        ]
        procs.append(
            subprocess.Popen(  # noqa: S603
                argv,
                stdout=subprocess.DEVNULL,
                stderr=open(out_dir / f"worker-{pid}.log", "wb"),  # noqa: SIM115
            )
        )
    return procs


def _short(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({path})"


APP_PACKAGES = tuple(f"{path.name}/" for path in ROOT.iterdir() if path.is_dir() and (path / "__init__.py").exists())


def _is_app(frame: str) -> bool:
    """A frame of the project's own code (py-spy prints paths relative to sys.path entries)."""
    match = FRAME.match(frame.strip())
    path = match.group("file") if match else frame
    if "site-packages" in path or ".venv" in path:
        return False
    path = path.split(str(ROOT) + "/", 1)[-1]
    return path.startswith(APP_PACKAGES)


def _category(frame: str) -> str:
    text = frame.lower()
    if "psycopg" in text:
        return "PostgreSQL (psycopg: queries and waits)"
    if "redis" in text:
        return "Redis client"
    if "socket" in text or "ssl" in text:
        return "sockets"
    if "json" in text:
        return "JSON"
    if "/django/" in text or "django/" in text:
        return "Django"
    if "rest_framework" in text:
        return "DRF"
    if "logging" in text or "structlog" in text:
        return "logging"
    return "other Python"


def summarize(out_dir: Path) -> dict[str, Any]:
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    categories: collections.Counter[str] = collections.Counter()
    app_frames: collections.Counter[str] = collections.Counter()
    total = 0
    for path in out_dir.glob("worker-*.txt"):
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit() or "handle_request" not in stack:
                continue
            count = int(count_text)
            frames = [f for f in stack.split(";") if f.strip()]
            total += count
            seen = set()
            for frame in frames:
                short = _short(frame)
                if short not in seen:
                    inclusive[short] += count
                    seen.add(short)
                    # the project's own code, for "which of our functions costs"
                    if _is_app(frame):
                        app_frames[short] += count
            leaf[_short(frames[-1])] += count
            # the first library frame below our code tells where the time goes
            categories[_category(frames[-1])] += count
    if total == 0:
        raise BenchError(f"py-spy recorded no in-request samples (see {out_dir}/*.log)")

    def rows(counter: collections.Counter[str], n: int) -> list[dict[str, Any]]:
        return [{"frame": frame, "pct": 100.0 * count / total} for frame, count in counter.most_common(n)]

    return {
        "samples": total,
        "inclusive": rows(inclusive, 60),
        "self": rows(leaf, 30),
        "app_inclusive": rows(app_frames, 40),
        "leaf_categories": rows(categories, 10),
        "files": sorted(p.name for p in out_dir.glob("worker-*.txt")),
    }
