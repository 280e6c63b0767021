"""/metrics under gunicorn with several worker processes counts every request
(prometheus_client multiprocess mode, as docker-compose.yml runs web)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 40


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health_requests(metrics_text: str) -> float:
    """Sum of the 2xx /health responses django-prometheus counted, over every worker."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("django_http_responses_total_by_status_view_method_total{") and 'view="health"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.django_db(transaction=True)
def test_metrics_add_up_the_requests_of_every_gunicorn_worker(tmp_path: Path) -> None:
    from django.db import connection

    db = connection.settings_dict
    port = _free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "casino.settings",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "casino.wsgi:application", "--workers", "3", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                # A long timeout: a poll given up on while the workers boot would still be served,
                # and counted, after the "before" figure below.
                if httpx.get(f"{base}/health", timeout=15).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else "gunicorn died"
            time.sleep(0.2)
        before = _health_requests(httpx.get(f"{base}/metrics", timeout=5).text)

        # Fresh connections, so the requests spread over the workers.
        for _ in range(REQUESTS):
            assert httpx.get(f"{base}/health", headers={"Connection": "close"}, timeout=5).status_code == 200
        metrics = httpx.get(f"{base}/metrics", timeout=5).text

        assert _health_requests(metrics) - before == REQUESTS
        assert len({p.name for p in multiproc.glob("counter_*.db")}) >= 2, "only one worker served the requests"
    finally:
        server.terminate()
        server.wait(timeout=15)
