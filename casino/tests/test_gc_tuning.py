"""The server processes freeze what start-up created (casino.gc_tuning), so a full
garbage collection walks only the objects created since. Each check runs in a
process of its own, as the server does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

WEB_WORKER = """
import gc, json, runpy
import casino.wsgi  # what gunicorn's worker loads before post_worker_init
before = len(gc.get_objects())
config = runpy.run_path("deploy/gunicorn.conf.py")
config["post_worker_init"](None)
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "left": len(gc.get_objects())}))
"""

REALTIME = """
import gc, json
import casino.asgi
print(json.dumps({"frozen": gc.get_freeze_count(), "left": len(gc.get_objects())}))
"""


def _run(code: str, *args: str) -> dict[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "WEB_WORKER_NICE"}
    env["DJANGO_SETTINGS_MODULE"] = "casino.settings"
    env["METRICS_PORT"] = "0"  # no /metrics server in the check (the relay and the sink start one)
    result = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return counts


def test_a_web_worker_freezes_the_application_it_loaded() -> None:
    counts = _run(WEB_WORKER)

    assert counts["frozen"] >= counts["before"] * 0.9
    assert counts["left"] < counts["before"] * 0.05  # what a full collection still walks


def test_the_realtime_server_freezes_its_application() -> None:
    counts = _run(REALTIME)

    assert counts["frozen"] > 50_000
    assert counts["left"] < counts["frozen"] * 0.05


LOOP = """
import gc, json, sys
import django
django.setup()
from django.core.management import call_command
from realtime import relay, sink

def stop(*args, **kwargs):  # the loop would run for ever: record what it starts with, and stop
    print(json.dumps({"frozen": gc.get_freeze_count(), "left": len(gc.get_objects())}))
    sys.exit(0)

relay.outbox_relay_forever = stop
sink.sink_run = stop
call_command(sys.argv[1])
"""

CELERY_POOL_PROCESS = """
import gc, json
import django
django.setup()
from celery.signals import worker_process_init
import casino.celery
worker_process_init.send(sender=None)
print(json.dumps({"frozen": gc.get_freeze_count(), "left": len(gc.get_objects())}))
"""


@pytest.mark.parametrize("command", ["relay_outbox", "sink_clickhouse"])
def test_the_pipeline_processes_freeze_what_they_loaded_before_their_loop(command: str) -> None:
    counts = _run(LOOP, command)

    assert counts["frozen"] > 50_000
    assert counts["left"] < counts["frozen"] * 0.05


def test_a_celery_pool_process_freezes_what_it_loaded() -> None:
    counts = _run(CELERY_POOL_PROCESS)

    assert counts["frozen"] > 50_000
    assert counts["left"] < counts["frozen"] * 0.05
