from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings

from casino import health
from conftest import require_service

pytestmark = pytest.mark.django_db


def test_health_reports_build_info_without_io(api_client: Any, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        response = api_client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == settings.APP_VERSION
    assert body["git_sha"]
    assert body["build_id"]


def test_git_sha_comes_from_the_environment_else_from_git_once(settings: Any, monkeypatch: Any) -> None:
    # Given no GIT_SHA in the environment, and a git that answers (counting its runs)
    runs: list[list[str]] = []

    def fake_run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        runs.append(args)
        return subprocess.CompletedProcess(args, 0, stdout="abcdef012345\n", stderr="")

    settings.GIT_SHA = ""
    monkeypatch.setattr(health.subprocess, "run", fake_run)
    health._git_sha_of_checkout.cache_clear()
    try:
        # When /health is asked twice
        first = health.build_git_sha()
        second = health.build_git_sha()
        # Then git answered once, lazily, and the answer is kept
        assert (first, second) == ("abcdef012345", "abcdef012345")
        assert runs == [["git", "rev-parse", "--short=12", "HEAD"]]

        # When the environment names the commit, git is not asked
        settings.GIT_SHA = "from-env-sha"
        assert health.build_git_sha() == "from-env-sha"
        assert len(runs) == 1
    finally:
        health._git_sha_of_checkout.cache_clear()


def test_ready_checks_every_configured_service(api_client: Any) -> None:
    require_service("Kafka", bool(settings.KAFKA_BOOTSTRAP_SERVERS))
    require_service("ClickHouse", bool(settings.CLICKHOUSE_URL))

    response = api_client.get("/ready")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "redis", "kafka", "clickhouse"}
    assert all(check["status"] == "up" for check in body["checks"].values())
    assert body["git_sha"] == health.build_git_sha()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def throwaway_redis() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A real Redis server of our own, so the test can stop it."""
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield process, f"redis://127.0.0.1:{port}/0"
    process.kill()
    process.wait()


def test_ready_names_the_dependency_that_stopped(api_client: Any, settings: Any, throwaway_redis: Any) -> None:
    process, url = throwaway_redis
    settings.REDIS_URL = url
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    settings.CLICKHOUSE_URL = ""
    assert api_client.get("/ready").status_code == 200

    process.kill()
    process.wait()
    response = api_client.get("/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == ["redis"]
    assert body["checks"]["database"]["status"] == "up"
    assert "ConnectionError" in body["checks"]["redis"]["error"]


def test_ready_reports_a_dead_kafka_and_clickhouse(api_client: Any, settings: Any) -> None:
    settings.KAFKA_BOOTSTRAP_SERVERS = f"127.0.0.1:{_free_port()}"
    settings.CLICKHOUSE_URL = f"clickhouse://default:@127.0.0.1:{_free_port()}/casino"

    response = api_client.get("/ready")

    assert response.status_code == 503
    assert response.json()["failed"] == ["kafka", "clickhouse"]
