"""bench/load.py: the environment a Locust process runs in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.load import locust_env

PROBE = """
import gevent, socket
resolver = gevent.get_hub().resolver
print(type(resolver).__module__)
print(resolver.getaddrinfo("127.0.0.1", 8000, 0, socket.SOCK_STREAM)[0][4][0])
"""


def test_locust_resolves_the_host_in_its_own_thread_without_gevent_s_thread_pool(tmp_path: Path) -> None:
    config = tmp_path / "locust-player.json"
    env = locust_env({"PATH": "/usr/bin:/bin"}, config)

    assert env["BENCH_CONFIG"] == str(config)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    # gevent's default is gevent.resolver.thread (a native thread per lookup, and back)
    assert out == ["gevent.resolver.blocking", "127.0.0.1"]
