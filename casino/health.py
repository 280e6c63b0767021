"""Liveness (``/health``, no I/O but a one-time ``git rev-parse`` when the
environment gives no ``GIT_SHA``) and readiness (``/ready``, checks every
configured dependency and names the one that failed)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

CHECK_TIMEOUT_SECONDS = 2.0


def build_git_sha() -> str:
    """``GIT_SHA`` from the environment (images are built with it), else the
    checkout's commit, asked of git once per process."""
    return settings.GIT_SHA or _git_sha_of_checkout()


@lru_cache(maxsize=1)
def _git_sha_of_checkout() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 - whichever git is on PATH, if any
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _build_info() -> dict[str, str]:
    return {"version": settings.APP_VERSION, "build_id": settings.BUILD_ID, "git_sha": build_git_sha()}


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", **_build_info()})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    import redis

    client: Any = redis.Redis.from_url(  # Any: redis-py types sync and async clients as one union
        settings.REDIS_URL, socket_connect_timeout=CHECK_TIMEOUT_SECONDS, socket_timeout=CHECK_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_kafka() -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(
        {"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, "socket.timeout.ms": int(CHECK_TIMEOUT_SECONDS * 1000)}
    )
    # Raises KafkaException when no broker answers in time.
    admin.list_topics(timeout=CHECK_TIMEOUT_SECONDS)


def _check_clickhouse() -> None:
    parsed = urlparse(settings.CLICKHOUSE_URL)
    with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 9000), CHECK_TIMEOUT_SECONDS):
        pass
    from clickhouse_driver import Client

    client = Client.from_url(settings.CLICKHOUSE_URL)
    client.connection.connect_timeout = CHECK_TIMEOUT_SECONDS
    client.connection.send_receive_timeout = CHECK_TIMEOUT_SECONDS
    try:
        client.execute("SELECT 1")
    finally:
        client.disconnect()


def configured_checks() -> dict[str, Callable[[], None]]:
    checks: dict[str, Callable[[], None]] = {"database": _check_database}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        checks["kafka"] = _check_kafka
    if settings.CLICKHOUSE_URL:
        checks["clickhouse"] = _check_clickhouse
    return checks


def ready(request: HttpRequest) -> JsonResponse:
    results: dict[str, Any] = {}
    failed: list[str] = []
    for name, check in configured_checks().items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            failed.append(name)
            results[name] = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    body = {"status": "ok" if not failed else "unavailable", "failed": failed, "checks": results, **_build_info()}
    return JsonResponse(body, status=503 if failed else 200)
