"""docker-compose.yml, the Dockerfile, deploy/nginx.conf and monitoring/prometheus.yml
describe the production stack, which cannot run here (no Docker daemon). These tests
keep them honest with what can be checked without one: the files parse, every
process runs a command that exists with options its program accepts, the
application environment names settings that casino/settings.py reads, no secret
is written down, and the ports, routes and scrape targets agree across files."""

from __future__ import annotations

import ast
import hashlib
import io
import ipaddress
import json
import os
import re
import runpy
import secrets
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from fnmatch import fnmatch
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
PROMETHEUS_CONF = ROOT / "monitoring" / "prometheus.yml"
SETTINGS_FILE = ROOT / "casino" / "settings.py"
REQUIREMENTS = ROOT / "requirements.txt"

REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "kafka",
    "clickhouse",
    "clickhouse-config",
    "clickhouse-schema",
    "migrate",
    "web",
    "web-login",
    "realtime",
    "worker",
    "beat",
    "relay",
    "sink",
    "flower",
    "prometheus",
    "grafana",
    "lb",
}

# The long-running pipeline commands docker-compose.yml must run.
PIPELINE_COMMANDS = {"relay_outbox", "sink_clickhouse"}

# Variables an application service may set besides the settings ones, because
# a library reads them from the process environment itself.
LIBRARY_ENVIRONMENT = {
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_client / django-prometheus (web's multiprocess metrics)",
    "FLOWER_BASIC_AUTH": "flower (its FLOWER_* options)",
    "WEB_WORKER_NICE": "deploy/gunicorn.conf.py (the login pool's CPU priority)",
    "WEB_CONCURRENCY": "deploy/gunicorn.conf.py (a pool's worker count: the login pool's)",
}

# Environment names that hold secrets, in any service.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|SIGNING_KEY|TOKEN|AUTH")
# `${NAME:?message}`: compose refuses to start without it; never a default.
REQUIRED_INTERPOLATION = re.compile(r"\$\{([A-Z][A-Z0-9_]*):\?[^}]*\}")
INTERPOLATION = re.compile(r"\$\{[^}]*\}")

# Where a service listens, for images that are configured by default.
IMAGE_DEFAULT_PORTS = {"prometheus": 9090}


# --- Loading -----------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # merge keys (<<) resolved
    assert isinstance(document, dict)
    return document


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def app_image() -> str:
    return compose()["x-app"]["image"]


def app_services() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services().items() if service.get("image") == app_image()}


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # the `- NAME=value` form
        raw = dict(item.split("=", 1) for item in raw)
    return {str(key): str(value) for key, value in raw.items()}


@cache
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile(keyword: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile_instructions() if instruction == keyword]


def image_cmd() -> list[str]:
    (cmd,) = dockerfile("CMD")
    return json.loads(cmd)


def image_healthcheck() -> list[str]:
    (healthcheck,) = dockerfile("HEALTHCHECK")
    return json.loads(healthcheck[healthcheck.index("CMD") + len("CMD") :])


def command(service: dict[str, Any]) -> list[str]:
    """The argv a service runs: its own command, else the image's CMD."""
    value = service.get("command")
    if value is None:
        return image_cmd()
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]


def option(argv: list[str], *names: str) -> str | None:
    """The value of `--name value`, `--name=value` or `-n value` in argv."""
    for index, token in enumerate(argv):
        for name in names:
            if token == name and index + 1 < len(argv):
                return argv[index + 1]
            if token.startswith(name + "="):
                return token.split("=", 1)[1]
    return None


def gunicorn_config_file(argv: list[str]) -> dict[str, Any]:
    """The settings of the gunicorn config file a command line names (``--config``/``-c``), as gunicorn reads it."""
    path = option(argv, "--config", "-c")
    return runpy.run_path(str(ROOT / path)) if path else {}


def uvicorn_options(argv: list[str]) -> dict[str, Any]:
    """A ``uvicorn ...`` command line parsed by uvicorn's own command."""
    from uvicorn.main import main

    assert PurePosixPath(argv[0]).name == "uvicorn", argv
    return dict(main.make_context("uvicorn", list(argv[1:])).params)


def listening_port(service_name: str) -> int:
    """The port a service's server listens on, read from its command line."""
    if service_name in IMAGE_DEFAULT_PORTS:
        return IMAGE_DEFAULT_PORTS[service_name]
    argv = command(services()[service_name])
    program = PurePosixPath(argv[0]).name
    if program == "gunicorn":
        bind = option(argv, "--bind", "-b") or gunicorn_config_file(argv).get("bind")
        assert bind, f"{service_name}: gunicorn without --bind"
        return int(bind.rsplit(":", 1)[1])
    if program == "uvicorn":
        return int(uvicorn_options(argv)["port"])
    if program == "celery" and "flower" in argv:
        return int(option(argv, "--port") or 5555)
    if program == "python" and "manage.py" in argv:
        return int(environment(services()[service_name])["METRICS_PORT"])
    raise AssertionError(f"{service_name}: no known listening port for {argv}")


@cache
def settings_environment_names() -> frozenset[str]:
    """Every NAME in `get_from_env("NAME", ...)` in casino/settings.py, and APP_ENV
    (read by `app_env()`): settings read the environment through nothing else."""
    tree = ast.parse(SETTINGS_FILE.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if node.func.id == "app_env":
            names.add("APP_ENV")
        first = node.args[0] if node.args else None
        if node.func.id == "get_from_env" and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return frozenset(names)


@cache
def pinned_requirements() -> frozenset[str]:
    names = set()
    for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(normalize(re.split(r"[\[=<>~! ]", line, maxsplit=1)[0]))
    return frozenset(names)


def normalize(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def installed_in_image(distribution: str) -> bool:
    """Pinned in requirements.txt, or installed by name by the Dockerfile."""
    if normalize(distribution) in pinned_requirements():
        return True
    return any(re.search(rf"\b{re.escape(distribution)}==", run, re.IGNORECASE) for run in dockerfile("RUN"))


def nginx_text() -> str:
    return re.sub(r"#[^\n]*", "", NGINX_CONF.read_text(encoding="utf-8"))


def nginx_upstreams() -> dict[str, list[tuple[str, int]]]:
    upstreams = {}
    for name, body in re.findall(r"upstream\s+(\S+)\s*\{(.*?)\}", nginx_text(), re.DOTALL):
        upstreams[name] = [(host, int(port)) for host, port in re.findall(r"\bserver\s+([\w.-]+):(\d+)", body)]
    return upstreams


def nginx_route(path: str) -> str | None:
    """The upstream nginx proxies `path` to (exact match, else longest prefix;
    the config has no regex locations), or None if it answers by itself."""
    assert not re.search(r"location\s+~", nginx_text()), "regex locations: extend nginx_route"
    locations = re.findall(r"location\s+(?:(=|\^~)\s+)?(\S+)\s*\{(.*?)\}", nginx_text(), re.DOTALL)
    exact = [body for modifier, prefix, body in locations if modifier == "=" and prefix == path]
    if exact:
        body = exact[0]
    else:
        prefixes = [
            (prefix, body) for modifier, prefix, body in locations if modifier != "=" and path.startswith(prefix)
        ]
        assert prefixes, f"nginx has no location for {path}"
        body = max(prefixes, key=lambda item: len(item[0]))[1]
    match = re.search(r"proxy_pass\s+http://([\w.-]+)\s*;", body)
    return match.group(1) if match else None


@cache
def prometheus() -> dict[str, Any]:
    document = yaml.safe_load(PROMETHEUS_CONF.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def scrape_targets() -> Iterator[tuple[str, str, int]]:
    for job in prometheus()["scrape_configs"]:
        for group in job.get("static_configs", []):
            for target in group["targets"]:
                host, _, port = target.rpartition(":")
                yield job["job_name"], host, int(port)


def volume_mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host path (./relative), for bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[target] = source
    return mounts


# --- The compose file ------------------------------------------------------------


def test_compose_has_every_service_of_the_design() -> None:
    missing = REQUIRED_SERVICES - set(services())

    assert not missing, f"docker-compose.yml lacks {sorted(missing)}"


def test_application_processes_share_one_image_built_from_the_dockerfile() -> None:
    app = compose()["x-app"]

    assert app["build"]["context"] == "."
    expected = {"migrate", "web", "realtime", "worker", "beat", "relay", "sink", "flower"}
    assert expected <= set(app_services())


def test_kafka_is_a_real_broker_in_kraft_mode() -> None:
    kafka = services()["kafka"]
    kafka_environment = environment(kafka)

    assert kafka["image"].split(":")[0] in {"apache/kafka", "bitnami/kafka"}
    assert not kafka["image"].endswith(":latest")
    roles = kafka_environment.get("KAFKA_PROCESS_ROLES") or kafka_environment.get("KAFKA_CFG_PROCESS_ROLES")
    assert roles and set(roles.split(",")) == {"broker", "controller"}
    assert "zookeeper" not in services()


def test_every_manage_py_command_exists_or_is_pending() -> None:
    from django.core.management import get_commands, load_command_class

    registry = get_commands()
    seen = set()
    for name, service in app_services().items():
        argv = command(service)
        if argv[:2] != ["python", "manage.py"]:
            continue
        subcommand, arguments = argv[2], argv[3:]
        seen.add(subcommand)
        assert subcommand in registry, f"{name}: manage.py {subcommand} is not a command"
        parser = load_command_class(registry[subcommand], subcommand).create_parser("manage.py", subcommand)
        parser.parse_args(arguments)  # CommandError on an unknown option
    assert "migrate" in seen
    assert PIPELINE_COMMANDS.issubset(seen), "the relay or the sink is missing from docker-compose.yml"


def _celery_invocations() -> Iterator[tuple[str, list[str]]]:
    """Every `celery ...` argv: service commands and CMD-SHELL healthchecks."""
    for name, service in app_services().items():
        argv = command(service)
        if argv[0] == "celery":
            yield name, argv
        test = (service.get("healthcheck") or {}).get("test") or []
        if test[:1] == ["CMD-SHELL"] and test[1].lstrip().startswith("celery "):
            shell = shlex.split(test[1].replace("$$HOSTNAME", "host"))
            yield f"{name} (healthcheck)", shell[: shell.index(">")] if ">" in shell else shell


def test_every_celery_command_runs_the_casino_app_with_options_celery_accepts() -> None:
    import click
    from celery import Celery
    from celery.bin.base import CLIContext
    from celery.bin.celery import celery as celery_cli
    from django.conf import settings
    from flower.options import options as flower_options

    from casino.celery import app

    assert isinstance(app, Celery) and app.main == "casino"
    plugin_distributions = {point.name: point.dist.name for point in entry_points(group="celery.commands")}
    flower_option_names = {name.replace("-", "_") for name in flower_options.as_dict()}
    programs = set()
    for name, argv in _celery_invocations():
        assert argv[1:3] == ["-A", "casino"], f"{name}: expected `celery -A casino ...`, got {argv}"
        subcommand, arguments = argv[3], argv[4:]
        programs.add(subcommand)
        assert subcommand in celery_cli.commands, f"{name}: celery has no `{subcommand}` command"
        if subcommand in plugin_distributions:
            distribution = plugin_distributions[subcommand]
            assert installed_in_image(distribution), f"{name}: {distribution} is not installed in the image"
        if subcommand == "flower":
            # Flower hands its arguments to tornado's option parser.
            for argument in arguments:
                assert argument.startswith("--") and "=" in argument, f"{name}: use --name=value for flower"
                assert argument[2:].split("=")[0].replace("-", "_") in flower_option_names, f"{name}: {argument}"
            continue
        parent = click.Context(celery_cli, info_name="celery", obj=CLIContext(app=app, no_color=True, workdir=None))
        parsed = celery_cli.commands[subcommand].make_context(subcommand, list(arguments), parent=parent)
        if subcommand == "beat":
            assert parsed.params["scheduler"] == settings.CELERY_BEAT_SCHEDULER
            module, _, attribute = parsed.params["scheduler"].partition(":")
            assert getattr(import_module(module), attribute)
        if subcommand == "worker":
            assert parsed.params["task_events"], "Flower needs task events: run the worker with -E"
    assert {"worker", "beat", "flower"} <= programs


def test_servers_load_the_project_applications() -> None:
    from gunicorn.config import Config

    web, realtime = command(services()["web"]), command(services()["realtime"])

    gunicorn = Config().parser().parse_args(web[1:])
    (wsgi_target,) = gunicorn.args
    asgi_target = uvicorn_options(realtime)["app"]
    for target in (wsgi_target, asgi_target):
        module, _, attribute = target.partition(":")
        assert callable(getattr(import_module(module), attribute)), target
    assert wsgi_target == "casino.wsgi:application"
    assert asgi_target == "casino.asgi:application"


def test_every_program_the_stack_runs_is_pinned_in_requirements() -> None:
    scripts = {point.name: point.dist.name for point in entry_points(group="console_scripts")}
    programs = {command(service)[0] for service in app_services().values()}

    for program in programs - {"python"}:
        assert program in scripts, f"{program} is not installed"
        assert installed_in_image(scripts[program]), f"{program} ({scripts[program]}) is not in requirements.txt"


def test_app_environment_names_only_settings_that_settings_py_reads() -> None:
    shared = environment({"environment": compose()["x-app-environment"]})
    known = settings_environment_names()

    unknown = set(shared) - known
    assert not unknown, f"casino/settings.py never reads {sorted(unknown)}"
    for name in ("APP_ENV", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"):
        assert name in shared
    assert shared["APP_ENV"] == "production"
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "CLICKHOUSE_URL"):
        assert name in shared, f"the full stack switches {name} on"


def test_every_application_service_gets_the_shared_environment_and_nothing_unknown() -> None:
    shared = environment({"environment": compose()["x-app-environment"]})
    allowed = settings_environment_names() | set(LIBRARY_ENVIRONMENT)

    for name, service in app_services().items():
        own = environment(service)
        assert set(shared) <= set(own), f"{name} lacks {sorted(set(shared) - set(own))}"
        assert set(own) <= allowed, f"{name} sets {sorted(set(own) - allowed)}, read by nothing"


def test_no_secret_is_written_in_the_compose_file() -> None:
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_INTERPOLATION.fullmatch(value), f"{name}.{key} must be a ${{VAR:?}} interpolation"
            credentials = re.search(r"://[^/@\s]*:([^@\s]*)@", value)
            if credentials:
                password = credentials.group(1)
                assert REQUIRED_INTERPOLATION.fullmatch(password), f"{name}.{key}: URL password must be ${{VAR:?}}"


def required_variable(value: str) -> str:
    """The NAME of the one `${NAME:?...}` in value."""
    (match,) = REQUIRED_INTERPOLATION.finditer(value)
    return match.group(1)


def test_service_urls_point_at_the_compose_services_with_their_credentials() -> None:
    shared = environment({"environment": compose()["x-app-environment"]})

    def parts(url: str) -> Any:
        return urlsplit(INTERPOLATION.sub("placeholder", url))

    database, postgres = shared["DATABASE_URL"], environment(services()["postgres"])
    assert parts(database).hostname == "postgres"
    assert parts(database).username == postgres["POSTGRES_USER"]
    assert parts(database).path.lstrip("/") == postgres["POSTGRES_DB"]
    assert required_variable(database) == required_variable(postgres["POSTGRES_PASSWORD"])

    redis_url, redis = shared["REDIS_URL"], environment(services()["redis"])
    assert parts(redis_url).hostname == "redis"
    assert required_variable(redis_url) == required_variable(redis["REDISCLI_AUTH"])

    # The 18.x image ignores CLICKHOUSE_* variables: clickhouse-config writes the user.
    clickhouse_url, clickhouse_users = shared["CLICKHOUSE_URL"], environment(services()["clickhouse-config"])
    assert parts(clickhouse_url).hostname == "clickhouse"
    assert parts(clickhouse_url).port == 9000
    assert parts(clickhouse_url).username == clickhouse_users["CLICKHOUSE_USER"]
    assert parts(clickhouse_url).path.lstrip("/") == clickhouse_users["CLICKHOUSE_DB"]
    assert required_variable(clickhouse_url) == required_variable(clickhouse_users["CLICKHOUSE_PASSWORD"])

    kafka = environment(services()["kafka"])
    assert f"PLAINTEXT://{shared['KAFKA_BOOTSTRAP_SERVERS']}" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")


def test_allowed_hosts_admit_the_scraper_and_the_healthchecks() -> None:
    hosts = compose()["x-app-environment"]["ALLOWED_HOSTS"].split(",")

    assert REQUIRED_INTERPOLATION.fullmatch(hosts[0]), "the public host names come from the environment"
    assert {"web", "web-login", "realtime", "127.0.0.1"} <= set(hosts)


def test_realtime_closes_database_connections_after_use() -> None:
    # DESIGN.md, "Scale path": persistent connections under ASGI exhaust PostgreSQL.
    assert environment(services()["realtime"])["CONN_MAX_AGE"] == "0"


def test_dependencies_wait_for_health_or_completion() -> None:
    all_services = services()
    for name, service in all_services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, spec in depends_on.items():
            assert dependency in all_services, f"{name} depends on unknown {dependency}"
            condition = spec["condition"]
            target = all_services[dependency]
            if condition == "service_healthy":
                own = target.get("healthcheck")
                has_check = (own is not None and not own.get("disable")) or (
                    own is None and target.get("image") == app_image()
                )
                assert has_check, f"{name} waits for {dependency} to be healthy, which has no healthcheck"
            else:
                assert condition == "service_completed_successfully", f"{name}: {dependency} {condition}"
                assert target.get("restart") == "no", f"{dependency} is a one-shot and must not restart"
    # The two one-shot migrations (PostgreSQL's, ClickHouse's) come before every app process.
    for name in set(app_services()) - {"migrate", "clickhouse-schema", "flower"}:
        for migration in ("migrate", "clickhouse-schema"):
            condition = all_services[name]["depends_on"][migration]["condition"]
            assert condition == "service_completed_successfully", f"{name} must wait for {migration}"


def test_every_long_running_service_has_a_healthcheck_fit_for_it() -> None:
    for name in (
        "postgres",
        "redis",
        "kafka",
        "clickhouse",
        "web",
        "web-login",
        "realtime",
        "worker",
        "flower",
        "prometheus",
    ):
        check = services()[name].get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
    # The image's own check probes gunicorn on 8000; nothing else may inherit it.
    for name, service in app_services().items():
        if command(service) != image_cmd():
            assert "healthcheck" in service, f"{name} would inherit the web server's healthcheck"
    for name in ("web", "web-login", "realtime", "flower"):
        test = " ".join(services()[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{listening_port(name)}/" in test, f"{name}'s healthcheck probes another port"


# --- ClickHouse: the version the tests run, users from the environment -------------------

RENDER_USERS = ROOT / "deploy" / "clickhouse" / "render_users.py"
CLICKHOUSE_CONFIG_TEMPLATE = ROOT / "scripts" / "clickhouse" / "config.xml.in"
USERS_D = "/etc/clickhouse-server/users.d"
# /proc/net/route in a container on a compose bridge network: 172.18.0.0/16, gateway 172.18.0.1
# (hexadecimal, little-endian).
COMPOSE_ROUTE_TABLE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t010012AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
)
# What the image's own users.xml declares: `default`, no password, open to every address.
IMAGE_USERS_XML = """<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks incl="networks" replace="replace"><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default>
    </quotas>
</yandex>
"""
# ClickHouse error codes.
WRONG_PASSWORD, IP_ADDRESS_NOT_ALLOWED, DATABASE_ACCESS_DENIED = 193, 195, 291


def named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """container path -> volume name, for named volumes."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if not source.startswith((".", "/")):
            mounts[target] = source
    return mounts


def compose_clickhouse_tag() -> str:
    repository, _, tag = services()["clickhouse"]["image"].partition(":")
    assert repository == "yandex/clickhouse-server", "18.x images are published as yandex/clickhouse-server only"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"pin a full version, not {tag!r}"
    return tag


def major_minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def test_compose_runs_the_clickhouse_version_the_tests_run() -> None:
    # The suite's server (scripts/services.sh: Debian's clickhouse-server) answers over CLICKHOUSE_URL.
    from django.conf import settings

    from conftest import require_service

    require_service("ClickHouse", bool(settings.CLICKHOUSE_URL))
    from realtime import clickhouse

    client = clickhouse.client()
    try:
        ((server_version,),) = client.execute("SELECT version()")
    finally:
        client.disconnect()

    assert major_minor(compose_clickhouse_tag()) == major_minor(server_version), (
        f"docker-compose.yml runs ClickHouse {compose_clickhouse_tag()}, the tests run {server_version}"
    )


def test_clickhouse_starts_with_the_users_clickhouse_config_renders_and_the_schema_follows() -> None:
    config, server, schema = services()["clickhouse-config"], services()["clickhouse"], services()["clickhouse-schema"]

    # A one-shot on an image the stack pulls anyway (the application image's base).
    assert config["image"] in dockerfile("FROM")
    assert config["restart"] == "no"
    assert server["depends_on"]["clickhouse-config"]["condition"] == "service_completed_successfully"
    program, script, output = command(config)
    assert program == "python"
    script_path = PurePosixPath(script)
    assert ROOT / volume_mounts(config)[str(script_path.parent)] / script_path.name == RENDER_USERS
    volume = named_volumes(config)[str(PurePosixPath(output).parent)]
    assert volume in compose()["volumes"]
    assert named_volumes(server)[USERS_D] == volume, "the server must read what the renderer writes"
    assert PurePosixPath(output).suffix == ".xml", "the server merges only *.xml (and *.conf) from users.d"
    # The database and table come from the application, once the server answers.
    assert command(schema) == ["python", "manage.py", "clickhouse_schema"]
    assert schema["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert schema["restart"] == "no"


def render_users(
    directory: Path, *, route_table: str | None = None, file_name: str = "casino.xml", **variables: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the renderer as compose does, with only `variables` in its environment."""
    output = directory / "users.d" / file_name
    argv = [sys.executable, str(RENDER_USERS), str(output)]
    if route_table is not None:
        table = directory / "route"
        table.write_text(route_table, encoding="ascii")
        argv += ["--route-table", str(table)]
    environment = {"PATH": os.environ.get("PATH", ""), **variables}
    result = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=30, check=False)
    return result, output


def casino_user_variables(**overrides: str) -> dict[str, str]:
    return {"CLICKHOUSE_USER": "casino", "CLICKHOUSE_DB": "casino", **overrides}


def test_user_config_holds_the_sha256_of_the_password_and_never_the_password(tmp_path: Path) -> None:
    password = f"Pw{secrets.token_hex(16)}&<x>"

    result, output = render_users(
        tmp_path, **casino_user_variables(CLICKHOUSE_PASSWORD=password, CLICKHOUSE_ALLOWED_NETWORKS="10.1.0.0/16")
    )

    assert result.returncode == 0, result.stderr
    text = output.read_text(encoding="utf-8")
    assert password[2:34] not in text and password[2:34] not in result.stdout + result.stderr
    root = ElementTree.fromstring(text)  # noqa: S314 - well-formed XML; our own renderer's output
    assert root.tag == "yandex", "18.16 merges a users.d file only under users.xml's own root element"
    user = root.find("users/casino")
    assert user is not None
    assert user.findtext("password_sha256_hex") == hashlib.sha256(password.encode()).hexdigest()
    assert user.find("password") is None
    assert [ip.text for ip in user.findall("networks/ip")] == ["::ffff:10.1.0.0/112"]
    assert [database.text for database in user.findall("allow_databases/database")] == ["casino"]
    assert (user.findtext("profile"), user.findtext("quota")) == ("default", "default")
    default = root.find("users/default")
    assert default is not None and default.find("password") is None
    networks = default.find("networks")
    assert networks is not None and networks.get("replace") == "replace"
    assert [ip.text for ip in networks.findall("ip")] == ["::1", "127.0.0.1"]
    # Readable by the server's own user; no temporary file left for the server to trip over.
    assert stat.S_IMODE(output.stat().st_mode) == 0o644
    assert [path.name for path in output.parent.iterdir()] == ["casino.xml"]


def test_user_config_admits_the_application_from_the_compose_network_only(tmp_path: Path) -> None:
    result, output = render_users(
        tmp_path, route_table=COMPOSE_ROUTE_TABLE, **casino_user_variables(CLICKHOUSE_PASSWORD="secret")
    )

    assert result.returncode == 0, result.stderr
    user = ElementTree.fromstring(output.read_text(encoding="utf-8")).find("users/casino")  # noqa: S314
    assert user is not None
    assert [ip.text for ip in user.findall("networks/ip")] == ["::ffff:172.18.0.0/112"]


@pytest.mark.parametrize(
    ("variables", "complaint"),
    [
        (casino_user_variables(), "CLICKHOUSE_PASSWORD is not set"),
        (casino_user_variables(CLICKHOUSE_PASSWORD="secret", CLICKHOUSE_USER="default"), "default"),
        (casino_user_variables(CLICKHOUSE_PASSWORD="secret", CLICKHOUSE_ALLOWED_NETWORKS="0.0.0.0/0"), "every"),
        (casino_user_variables(CLICKHOUSE_PASSWORD="secret", CLICKHOUSE_ALLOWED_NETWORKS="10.1/x"), "NETWORKS"),
        (casino_user_variables(CLICKHOUSE_PASSWORD="secret", CLICKHOUSE_DB="casino; DROP"), "CLICKHOUSE_DB"),
    ],
)
def test_user_config_is_not_written_from_unusable_settings(
    tmp_path: Path, variables: dict[str, str], complaint: str
) -> None:
    result, output = render_users(tmp_path, route_table=COMPOSE_ROUTE_TABLE, **variables)

    assert result.returncode == 2
    assert complaint in result.stderr
    assert not output.exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        port: int = probe.getsockname()[1]
        return port


def outward_address() -> str | None:
    """This host's own non-loopback IPv4 address, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.fixture
def clickhouse_with_rendered_users(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A throwaway clickhouse-server (the binary the tests run) whose users.xml is the image's, with
    the renderer's users.d next to it: `casino` from loopback, `outsider` from 10.255.0.0/16 only."""
    from conftest import require_service

    binary = shutil.which("clickhouse-server") or next(
        (path for path in ("/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server") if Path(path).exists()), None
    )
    require_service("clickhouse-server (scripts/services.sh installs it)", binary is not None)
    assert binary is not None
    home = tmp_path / "clickhouse"
    for directory in ("data", "tmp", "log", "user_files", "format_schemas"):
        (home / directory).mkdir(parents=True)
    tcp_port, http_port = free_port(), free_port()
    # Every interface, as in the image (docker_related_config.xml): reachable on the host's own address too.
    placeholders = {"CH_HOME": str(home), "CH_HOST": "0.0.0.0", "CH_TCP_PORT": tcp_port, "CH_HTTP_PORT": http_port}  # noqa: S104
    config = CLICKHOUSE_CONFIG_TEMPLATE.read_text(encoding="utf-8")
    for placeholder, value in placeholders.items():
        config = config.replace(f"@{placeholder}@", str(value))
    (home / "config.xml").write_text(config, encoding="utf-8")
    (home / "users.xml").write_text(IMAGE_USERS_XML, encoding="utf-8")
    for user, networks in (("casino", "127.0.0.0/8"), ("outsider", "10.255.0.0/16")):
        result, _ = render_users(
            home,
            file_name=f"{user}.xml",
            **casino_user_variables(
                CLICKHOUSE_USER=user, CLICKHOUSE_PASSWORD=f"{user}-password", CLICKHOUSE_ALLOWED_NETWORKS=networks
            ),
        )
        assert result.returncode == 0, result.stderr

    log = (home / "server.out").open("w")
    server = subprocess.Popen([binary, f"--config-file={home / 'config.xml'}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, (home / "server.out").read_text() + (home / "log").joinpath(
                "clickhouse-server.err.log"
            ).read_text()
            try:
                socket.create_connection(("127.0.0.1", tcp_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "clickhouse-server did not listen within 30 s"
                time.sleep(0.1)
        yield "127.0.0.1", tcp_port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def clickhouse_error(host: str, port: int, user: str, password: str, query: str = "SELECT 1") -> int | None:
    """The server's error code for query as user, or None when it answers."""
    from clickhouse_driver import Client
    from clickhouse_driver.errors import ServerException

    client = Client(host=host, port=port, user=user, password=password, connect_timeout=5)
    try:
        client.execute(query)
    except ServerException as error:
        return int(error.code)
    finally:
        client.disconnect()
    return None


def test_clickhouse_admits_the_rendered_users_only_with_their_password_from_their_networks(
    clickhouse_with_rendered_users: tuple[str, int], settings: Any
) -> None:
    host, port = clickhouse_with_rendered_users
    from clickhouse_driver import Client
    from django.core.management import call_command

    # The binary is the version compose runs (what this test shows holds for it).
    client = Client(host=host, port=port, user="casino", password="casino-password")
    try:
        ((server_version,),) = client.execute("SELECT version()")
    finally:
        client.disconnect()
    assert major_minor(server_version) == major_minor(compose_clickhouse_tag())

    assert clickhouse_error(host, port, "casino", "wrong-password") == WRONG_PASSWORD
    # <ip>10.255.0.0/16</ip> would admit every IPv4 client on 18.16: the renderer maps it to IPv6.
    assert clickhouse_error(host, port, "outsider", "outsider-password") == IP_ADDRESS_NOT_ALLOWED
    assert clickhouse_error(host, port, "default", "") is None  # the healthcheck, from loopback
    # The application's own database only, which `manage.py clickhouse_schema` creates as this user.
    settings.CLICKHOUSE_URL = f"clickhouse://casino:casino-password@{host}:{port}/casino"
    call_command("clickhouse_schema", stdout=io.StringIO())
    assert clickhouse_error(host, port, "casino", "casino-password", "SELECT count() FROM casino.events_log") is None
    for query in ("CREATE DATABASE elsewhere", "SELECT * FROM default.anything"):
        assert clickhouse_error(host, port, "casino", "casino-password", query) == DATABASE_ACCESS_DENIED, query
    address = outward_address()
    if address is not None:  # loopback only for `default`; `casino` admitted from 127.0.0.0/8 only
        assert clickhouse_error(address, port, "default", "") == IP_ADDRESS_NOT_ALLOWED
        assert clickhouse_error(address, port, "casino", "casino-password") == IP_ADDRESS_NOT_ALLOWED


# --- Dockerfile ------------------------------------------------------------------


def test_image_is_python_311_slim_and_runs_as_a_non_root_user() -> None:
    assert dockerfile("FROM") == ["python:3.11-slim"]
    users = dockerfile("USER")
    assert users and users[-1] not in {"root", "0"}
    order = [instruction for instruction, _ in dockerfile_instructions()]
    assert order.index("USER") < order.index("CMD")


def test_image_bakes_in_no_secret() -> None:
    for instruction, arguments in dockerfile_instructions():
        if "SECRET_KEY" not in arguments:
            continue
        assert instruction == "RUN", f"SECRET_KEY in {instruction}: it would stay in the image"
        assert "APP_ENV=development" in arguments and "collectstatic" in arguments


def test_image_default_command_is_the_wsgi_server_compose_runs_for_web() -> None:
    cmd = image_cmd()

    assert cmd == ["gunicorn", "--config", "deploy/gunicorn.conf.py", "casino.wsgi:application"]
    assert command(services()["web"]) == cmd
    assert dockerfile("EXPOSE") == [str(listening_port("web"))]
    assert any("collectstatic" in run for run in dockerfile("RUN"))


def test_web_runs_a_sync_worker_per_core_and_clears_dead_workers_metrics(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gunicorn.config import Config

    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    conf = gunicorn_config_file(command(services()["web"]))
    gunicorn = Config()
    for name, value in conf.items():
        if name in gunicorn.settings:
            gunicorn.set(name, value)

    assert gunicorn.workers == len(os.sched_getaffinity(0)) == conf["cores"]()
    # gunicorn's sync worker, woken alone for a connection (casino/gunicorn_workers.py)
    assert gunicorn.worker_class_str == "casino.gunicorn_workers.ExclusiveWaitSyncWorker"
    assert gunicorn.bind == ["0.0.0.0:8000"]
    monkeypatch.setenv("WEB_CONCURRENCY", "7")
    assert gunicorn_config_file(command(services()["web"]))["workers"] == 7

    # A dead worker's live gauges leave the sum /metrics serves.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")
    (tmp_path / "counter_4242.db").write_bytes(b"")
    gunicorn.child_exit(None, type("Worker", (), {"pid": 4242})())
    assert sorted(path.name for path in tmp_path.iterdir()) == ["counter_4242.db"]


def test_image_healthcheck_hits_health_on_the_served_port() -> None:
    check = " ".join(image_healthcheck())

    assert f"http://127.0.0.1:{listening_port('web')}/health" in check


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    entries = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}

    for required in (".venv", "var", ".git", "bench/results"):
        assert required in entries
    assert entries & {"__pycache__", "**/__pycache__"}
    # The build reads these.
    for needed in ("requirements.txt", "requirements-dev.txt", "manage.py"):
        assert not any(fnmatch(needed, entry) for entry in entries if entry and not entry.startswith("#"))


# --- Load balancer -----------------------------------------------------------------


def test_load_balancer_mounts_the_nginx_config() -> None:
    mounts = volume_mounts(services()["lb"])

    assert mounts.get("/etc/nginx/conf.d/default.conf") == "./deploy/nginx.conf"


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/realtime/sync", "realtime"),
        ("/api/metrics/stream", "realtime"),
        ("/api/auth/login", "web-login"),
        ("/api/auth/signup", "web-login"),
        ("/admin/login/", "web-login"),
        ("/api/auth/refresh", "web"),
        ("/api/auth/me", "web"),
        ("/admin/logout/", "web"),
        ("/api/me", "web"),
        ("/admin/", "web"),
        ("/static/admin/css/base.css", "web"),
        ("/health", "web"),
    ],
)
def test_load_balancer_routes_by_path_to_the_right_port(path: str, service: str) -> None:
    upstream = nginx_route(path)

    assert upstream is not None, f"nginx answers {path} itself"
    servers = nginx_upstreams()[upstream]
    assert servers == [(service, listening_port(service))]


def test_load_balancer_does_not_publish_the_metrics() -> None:
    assert nginx_route("/metrics") is None


def test_every_request_is_logged_once_by_the_load_balancer_with_its_id_and_never_its_query() -> None:
    text = nginx_text()
    server = text[text.index("server {") :]
    logs = re.findall(r"\baccess_log\s+(\S+)\s+(\S+)\s*;", server)
    assert logs == [("/var/log/nginx/access.log", "casino")]  # the one log, in the format below
    match = re.search(r"log_format\s+casino\s+escape=json\s+(.*?);", text, re.DOTALL)
    assert match is not None
    fields = "".join(re.findall(r"'([^']*)'", match.group(1)))
    record = json.loads(re.sub(r"\$\w+", "0", fields))  # every variable replaced: valid JSON
    assert {"request_id", "status", "request_time", "upstream_time", "path"} <= set(record)
    assert "$upstream_request_id" in fields  # the id the application logs and answers with (X-Request-ID)
    # the WebSocket handshake may carry the access token in its query string
    assert "$uri" in fields
    assert not re.search(r"\$(request_uri|request|args|query_string|arg_\w+)\b", fields)

    for name in ("web", "web-login"):
        conf = gunicorn_config_file(command(services()[name]))
        assert conf["accesslog"] is None, f"{name}: a second access log of every request"


# --- Prometheus --------------------------------------------------------------------


def test_prometheus_scrapes_web_realtime_and_celery_at_their_ports() -> None:
    targets = list(scrape_targets())

    for job, host, port in targets:
        assert host in services(), f"job {job}: {host} is not a compose service"
        assert port == listening_port(host), f"job {job}: {host} listens on {listening_port(host)}, not {port}"
    assert {"web", "web-login", "realtime", "flower"} <= {host for _, host, _ in targets}
    for job in prometheus()["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"


def test_web_exports_metrics_in_multiprocess_mode() -> None:
    for pool in ("web", "web-login"):
        web = services()[pool]
        directory = environment(web)["PROMETHEUS_MULTIPROC_DIR"]
        assert directory in web.get("tmpfs", []), f"{pool}: the directory must start empty: a tmpfs"
    for name, service in app_services().items():
        if name not in ("web", "web-login"):
            assert "PROMETHEUS_MULTIPROC_DIR" not in environment(service), (
                f"{name} is one process: no multiprocess mode"
            )


def test_prometheus_container_sees_the_config_and_alert_rules() -> None:
    mounts = volume_mounts(services()["prometheus"])
    config_in_container = PurePosixPath("/etc/prometheus/prometheus.yml")

    assert mounts[str(config_in_container)] == "./monitoring/prometheus.yml"
    for pattern in prometheus().get("rule_files", []):
        assert not pattern.startswith("/"), "relative rule_files work both here and in the container"
        directory = str(config_in_container.parent / PurePosixPath(pattern).parent)
        assert mounts.get(directory) == "./" + str(
            (PROMETHEUS_CONF.parent / PurePosixPath(pattern).parent).relative_to(ROOT)
        )
    assert prometheus().get("rule_files"), "alert rules: rule_files points at monitoring/alerts/"


def test_grafana_is_provisioned_from_the_repository() -> None:
    mounts = volume_mounts(services()["grafana"])

    assert mounts.get("/etc/grafana/provisioning") == "./monitoring/grafana"


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")

    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONF)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr


# --- The header: what an operator must set --------------------------------------------


def compose_header_required() -> set[str]:
    """The names in the header's "Required in the environment" paragraph."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    comment = "\n".join(line[1:].strip() for line in text.splitlines() if line.startswith("#"))
    paragraph = comment.split("Required in the environment", 1)[1].split("\n\n", 1)[0]
    paragraph = paragraph.split("Optional:", 1)[0]
    return set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b", paragraph))


def settings_required_in_production() -> set[str]:
    """Every NAME in `get_from_env("NAME", ..., required_in_production=...)` in casino/settings.py."""
    names = set()
    for node in ast.walk(ast.parse(SETTINGS_FILE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_from_env":
            required = [k for k in node.keywords if k.arg == "required_in_production"]
            if required and isinstance(required[0].value, ast.Constant) and required[0].value.value:
                first = node.args[0]
                assert isinstance(first, ast.Constant)
                names.add(first.value)
    return names


def test_the_header_lists_every_variable_the_file_requires() -> None:
    # Every ${NAME:?...} anywhere in the file stops `docker compose up` when NAME is unset
    required = set(REQUIRED_INTERPOLATION.findall(COMPOSE_FILE.read_text(encoding="utf-8")))

    missing = required - compose_header_required()
    assert not missing, f"docker-compose.yml requires {sorted(missing)} but its header does not list them"


def test_the_header_covers_every_setting_production_requires() -> None:
    # A setting production refuses to start without is either listed in the header, or the
    # file builds it from required variables the header lists (DATABASE_URL from POSTGRES_PASSWORD)
    shared = environment({"environment": compose()["x-app-environment"]})
    header = compose_header_required()
    required = settings_required_in_production()

    assert {"SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "SHOP_WEBHOOK_SECRETS"} <= required
    for name in required:
        assert name in shared, f"production requires {name}; the application environment does not set it"
        if name in header:
            continue
        built_from = set(REQUIRED_INTERPOLATION.findall(shared[name]))
        assert built_from and built_from <= header, f"production requires {name}: list it in the header"


def test_realtime_refuses_big_websocket_frames_before_reading_them() -> None:
    from django.conf import settings

    options = uvicorn_options(command(services()["realtime"]))

    assert options["ws_max_size"] == 65536
    assert options["ws_max_size"] > settings.WS_MAX_MESSAGE_BYTES
    assert options["ws_per_message_deflate"] is False  # no compressor kept per socket


def test_realtime_shuts_down_before_compose_kills_it() -> None:
    realtime = services()["realtime"]
    options = uvicorn_options(command(realtime))

    # compose sends SIGKILL after stop_grace_period (10 s unless the service sets one)
    grace = realtime.get("stop_grace_period", "10s")
    assert grace.endswith("s") and not grace.endswith("ms"), grace
    assert options["timeout_graceful_shutdown"] is not None
    assert options["timeout_graceful_shutdown"] < int(grace.removesuffix("s"))


def test_the_password_pool_runs_the_web_server_at_a_lower_cpu_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    login, web = services()["web-login"], services()["web"]
    assert command(login) == command(web)  # the same server and settings: only the routes differ
    assert int(environment(login)["WEB_WORKER_NICE"]) > 0
    assert "WEB_WORKER_NICE" not in environment(web)
    # in a container the container's CPU weight decides, whatever the nice value inside it
    assert int(login["cpu_shares"]) < int(web.get("cpu_shares", 1024))

    conf = gunicorn_config_file(command(login))
    before = os.nice(0)
    monkeypatch.delenv("WEB_WORKER_NICE", raising=False)
    conf["post_worker_init"](None)  # unset: the worker keeps its priority
    assert os.nice(0) == before


def _autogroup_nice() -> int | None:
    """This process's scheduling group's nice value (Linux autogroup), or None without one."""
    try:
        text = Path("/proc/self/autogroup").read_text()
    except OSError:
        return None
    return int(text.split("nice")[1])


def _run_pool_worker(conf: dict[str, Any], *, master_leads_session: bool) -> tuple[int, int | None, int | None]:
    """Fork a gunicorn-like master in a session of its own (or under a session leader)
    and a worker under it that runs ``post_worker_init`` with ``WEB_WORKER_NICE=5``:
    the worker's nice value, its scheduling group's nice value before and after."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the forked processes report through the pipe
        status = 1
        try:  # never unwind into the test runner's stack in a forked copy of it
            os.close(read_end)
            os.setsid()  # a session of its own, so the test's own session is never touched
            if not master_leads_session and os.fork() != 0:
                status = os.waitstatus_to_exitcode(os.wait()[1])
            else:
                worker = os.fork()
                if worker == 0:
                    group_before = _autogroup_nice()
                    os.environ["WEB_WORKER_NICE"] = "5"
                    conf["post_worker_init"](None)
                    os.write(write_end, json.dumps([os.nice(0), group_before, _autogroup_nice()]).encode())
                    status = 0
                else:
                    status = os.waitstatus_to_exitcode(os.waitpid(worker, 0)[1])
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    nice, group_before, group_after = json.loads(report)
    return nice, group_before, group_after


def test_a_password_pool_leading_its_own_session_lowers_the_session_s_scheduling_group() -> None:
    """With Linux's autogroup a nice value only weighs a process against its own session:
    the pool that leads a session of its own gives the session's group the same nice value."""
    conf = gunicorn_config_file(command(services()["web-login"]))
    before = os.nice(0)

    nice, group_before, group_after = _run_pool_worker(conf, master_leads_session=True)

    assert nice == min(before + 5, 19)
    if group_before is None:
        pytest.skip("this kernel schedules without autogroup (no /proc/self/autogroup)")
    assert group_before == 0
    assert group_after == 5


def test_a_pool_in_a_shared_session_leaves_the_session_s_scheduling_group_alone() -> None:
    conf = gunicorn_config_file(command(services()["web-login"]))
    before = os.nice(0)

    nice, group_before, group_after = _run_pool_worker(conf, master_leads_session=False)

    assert nice == min(before + 5, 19)  # the worker itself still yields
    assert group_after == group_before  # the session holds more than the pool: its weight stays
