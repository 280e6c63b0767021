"""Running ``bench/run.py`` from a test: the tests of the benchmark's own tooling
(test_bench_smoke.py, test_bench_against.py) start it the way ``make bench`` does, in a
process of its own, and read the run's ``results.json``."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from conftest import IN_CI

ROOT = Path(settings.BASE_DIR)


def require_bench_tools() -> None:
    """Locust, matplotlib and websocket-client (requirements-bench.txt): skipped without them,
    except in CI, which installs them."""
    missing = [name for name in ("locust", "matplotlib", "websocket") if importlib.util.find_spec(name) is None]
    if missing:
        message = f"{', '.join(missing)} not installed: pip install -r requirements-bench.txt"
        if IN_CI:
            pytest.fail(f"CI: {message}")
        pytest.skip(message)


@dataclass(frozen=True)
class BenchRun:
    directory: Path  # the run's results directory
    data: dict[str, Any]  # its results.json
    output: str  # the tail of what it printed, for assertion messages


def bench_run(results_dir: Path, *args: str, timeout: int) -> BenchRun:
    """``bench/run.py *args`` into ``results_dir``; it must exit 0 and leave one run there."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), *args, "--results-dir", str(results_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = f"stdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, output
    (directory,) = [path for path in results_dir.iterdir() if path.is_dir()]
    return BenchRun(directory=directory, data=json.loads((directory / "results.json").read_text()), output=output)
