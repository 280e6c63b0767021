"""The application under test, run the way production runs it
(docker-compose.yml): its environment, its migration, and its processes --
gunicorn (WSGI, /api), uvicorn (ASGI), the outbox relay and the ClickHouse sink.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

from bench import stack, timing
from bench.stack import ROOT, BenchError, Process, ProcessSet

# The realtime tier's ASGI server, as docker-compose.yml's ``realtime`` service runs it
# (``PRODUCTION_REALTIME_SERVER``), and the other one ``bench/sockets.py --server`` can
# measure next to it. Both refuse frames over 64 KiB before reading them.
PRODUCTION_REALTIME_SERVER = "uvicorn"
REALTIME_SERVERS = ("uvicorn", "daphne")


def realtime_command(server: str, host: str, port: int) -> list[str]:
    """The command line of the realtime tier's ASGI server ``server`` on ``host:port``."""
    if server == "daphne":
        return [
            stack.PYTHON, "-m", "daphne", "-b", host, "-p", str(port),
            "--websocket-max-message-size", "65536", "casino.asgi:application",
        ]  # fmt: skip
    if server == "uvicorn":
        return [
            stack.PYTHON, "-m", "uvicorn", "--host", host, "--port", str(port),
            "--ws-max-size", "65536", "--ws-per-message-deflate", "false", "--lifespan", "off",
            "--no-access-log", "casino.asgi:application",
        ]  # fmt: skip
    raise BenchError(f"unknown realtime server {server!r} (one of {', '.join(REALTIME_SERVERS)})")


def app_env(
    *,
    services: dict[str, str],
    redis_db: int,
    database: str,
    clickhouse_database: str,
    topic: str,
    tag: str,
    port: int,
    git_sha: str,
) -> dict[str, str]:
    s = services
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop(timing.ENV, None)  # the API pool's alone (start)
    redis_url = stack.with_database(s["REDIS_URL"], str(redis_db))
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            # production-shaped (docker-compose.yml x-app-environment), with this run's own resources
            "APP_ENV": "production",
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",  # no TLS terminator on loopback
            "DATABASE_URL": stack.with_database(s["DATABASE_URL"], database),
            "CONN_MAX_AGE": "60",
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CACHE_KEY_PREFIX": f"bench-{tag}",
            "CHANNEL_PREFIX": f"bench-asgi-{tag}",
            "KAFKA_BOOTSTRAP_SERVERS": s["KAFKA_BOOTSTRAP_SERVERS"],
            "KAFKA_TOPIC": topic,
            "CLICKHOUSE_URL": stack.with_database(s["CLICKHOUSE_URL"], clickhouse_database),
            "SINK_CONSUMER_GROUP": f"casino-bench-sink-{tag}",
            "SHOP_WEBHOOK_SECRETS": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
            "PUBLIC_BASE_URL": f"http://{stack.HOST}:{port}",
            "SHOP_ALLOW_SANDBOX_IN_PRODUCTION": "true",
            "OUTBOX_RELAY_VIA_BEAT": "false",
            "LOG_LEVEL": "INFO",
            "GIT_SHA": git_sha,
            "BUILD_ID": f"bench-{tag}",
            "METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def migrate(env: dict[str, str], log_path: Path) -> None:
    migrate = subprocess.run(  # noqa: S603
        [stack.PYTHON, str(ROOT / "manage.py"), "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    log_path.write_text(migrate.stdout + migrate.stderr)
    if migrate.returncode != 0:
        raise BenchError(f"migrate failed:\n{migrate.stderr[-2000:]}")


def start(
    procs: ProcessSet,
    env: dict[str, str],
    *,
    workers: int,
    gport: int,
    dport: int,
    prom_dir: Path,
    say: Callable[[str], None],
    login_port: int | None = None,
    login_workers: int = 1,
    timing_dir: Path | None = None,
) -> tuple[Process, Process]:
    """gunicorn, the ASGI server, relay and sink as production runs them
    (docker-compose.yml); returns gunicorn and the ASGI server, the two to wait for. ``login_port``: the login
    pool too (compose's ``web-login``: password logins and sign-ups, at a lower
    CPU priority), with ``login_workers`` workers. ``timing_dir``: the API pool's workers write a line per
    request there (bench/timing.py)."""
    pools = f", login pool ({login_workers}) :{login_port}" if login_port else ""
    realtime = f"{PRODUCTION_REALTIME_SERVER} :{dport}"
    say(f"starting gunicorn ({workers} sync workers) :{gport}{pools}, {realtime}, relay, sink")
    prom_dir.mkdir(exist_ok=True)

    def gunicorn_args(port: int, workers: int = workers) -> list[str]:
        return [
            stack.PYTHON,
            "-m",
            "gunicorn",
            "--config",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "casino.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"{stack.HOST}:{port}",
        ]

    api_env = {**env, "PROMETHEUS_MULTIPROC_DIR": str(prom_dir)}
    if timing_dir is not None:
        api_env[timing.ENV] = str(timing_dir)
    gunicorn = procs.start("gunicorn", gunicorn_args(gport), api_env)
    if login_port:
        login_prom = prom_dir.parent / f"{prom_dir.name}-login"
        login_prom.mkdir(exist_ok=True)
        procs.start(
            "gunicorn-login",
            gunicorn_args(login_port, login_workers),
            {**env, "PROMETHEUS_MULTIPROC_DIR": str(login_prom), "WEB_WORKER_NICE": "5"},
        )
    asgi = procs.start(
        PRODUCTION_REALTIME_SERVER,
        realtime_command(PRODUCTION_REALTIME_SERVER, stack.HOST, dport),
        {**env, "CONN_MAX_AGE": "0"},
    )
    procs.start("relay", [stack.PYTHON, str(ROOT / "manage.py"), "relay_outbox"], env)
    procs.start("sink", [stack.PYTHON, str(ROOT / "manage.py"), "sink_clickhouse"], env)
    return gunicorn, asgi
