"""Logging never writes to a stream pytest has closed (the "--- Logging error ---
ValueError: I/O operation on closed file" blocks at the end of a test run)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from django.conf import settings

LATE_LOGGER_TEST = textwrap.dedent(
    """
    import atexit
    import logging
    import threading

    def test_a_thread_and_an_exit_hook_log_after_the_session() -> None:
        logger = logging.getLogger("casino.infra_probe")
        logger.info("inside the test")
        release = threading.Event()

        def late() -> None:
            release.wait(5)
            logger.warning("from a thread after the session")

        threading.Thread(target=late, daemon=False).start()
        atexit.register(release.set)
        atexit.register(logger.warning, "from an exit hook after the session")
    """
)


def run_inner_pytest(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_late_logging.py").write_text(LATE_LOGGER_TEST)
    env = dict(os.environ, PYTHONPATH=str(settings.BASE_DIR), LOG_LEVEL="INFO")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(Path(settings.BASE_DIR) / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_late_logging.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_records_logged_after_pytest_closed_its_capture_reach_stderr_without_a_logging_error(
    tmp_path: Path,
) -> None:
    # Given a test that leaves a thread and an exit hook which log once pytest has finished
    # When pytest runs it with the project's logging settings
    result = run_inner_pytest(tmp_path)

    # Then the run passes, the late records reach the real stderr, and no "Logging error" appears
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Logging error" not in output, output
    assert "I/O operation on closed file" not in output, output
    assert "from an exit hook after the session" in result.stderr, output
