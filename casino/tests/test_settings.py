"""Production mode refuses unsafe settings; check --deploy is clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k" * 20 + "-Qm9vYmFyYmF6cXV4-" + "z" * 20 + "0123456789"
WEBHOOK_SECRETS = "whsec_cHJvZHVjdGlvbi10ZXN0LXNlY3JldA=="


def _run(args: list[str], *, unset: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess[str]:
    unsafe = {
        *unset,
        "SECRET_KEY",
        "JWT_SIGNING_KEY",
        "DEBUG",
        "APP_ENV",
        "ALLOWED_HOSTS",
        "SHOP_WEBHOOK_SECRETS",
        "SHOP_ALLOW_SANDBOX_IN_PRODUCTION",
        "DJANGO_ALLOW_ASYNC_UNSAFE",  # the browser tests set it for Playwright's event loop
    }
    clean = {key: value for key, value in os.environ.items() if key not in unsafe}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"ALLOWED_HOSTS": "casino.example"}, "SECRET_KEY"),
        ({"SECRET_KEY": STRONG_KEY, "DEBUG": "true", "ALLOWED_HOSTS": "casino.example"}, "DEBUG"),
        ({"SECRET_KEY": STRONG_KEY}, "ALLOWED_HOSTS"),
        ({"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "casino.example"}, "SHOP_WEBHOOK_SECRETS"),
        (
            {"SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "casino.example", "SHOP_WEBHOOK_SECRETS": WEBHOOK_SECRETS},
            "sandbox",
        ),
    ],
)
def test_production_refuses_to_start_with_unsafe_settings(env: dict[str, str], complaint: str) -> None:
    result = _run(["check"], APP_ENV="production", **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


# A production environment that starts: every required value set, strong keys,
# PostgreSQL and Redis (the suite's own, which pytest runs with).
PRODUCTION_ENV = {
    "APP_ENV": "production",
    "SECRET_KEY": STRONG_KEY,
    "ALLOWED_HOSTS": "casino.example",
    "SHOP_WEBHOOK_SECRETS": WEBHOOK_SECRETS,
    "SHOP_ALLOW_SANDBOX_IN_PRODUCTION": "true",
}
DEVELOPMENT_KEY = "dev-only-insecure-key-do-not-use-in-production"


def test_production_starts_with_a_strong_jwt_signing_key_or_none() -> None:
    # Given production settings with a 32-byte JWT key, and with none (SECRET_KEY signs)
    with_key = _run(["check"], **PRODUCTION_ENV, JWT_SIGNING_KEY="j" * 32)
    without_key = _run(["check"], **PRODUCTION_ENV)

    # Then both start
    assert with_key.returncode == 0, with_key.stderr
    assert without_key.returncode == 0, without_key.stderr


@pytest.mark.parametrize(
    "jwt_key",
    [DEVELOPMENT_KEY, "j" * 31, "short"],
    ids=["development-key", "31-bytes", "short"],
)
def test_production_refuses_a_weak_jwt_signing_key(jwt_key: str) -> None:
    # When production starts with the development key or one shorter than 32 bytes
    result = _run(["check"], **PRODUCTION_ENV, JWT_SIGNING_KEY=jwt_key)

    # Then it refuses, naming the variable
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "production needs JWT_SIGNING_KEY" in result.stderr


@pytest.mark.parametrize(
    ("missing", "complaint"),
    [
        ("DATABASE_URL", "production needs DATABASE_URL"),
        ("REDIS_URL", "production needs REDIS_URL"),
    ],
)
def test_production_refuses_to_start_without_its_database_or_redis(missing: str, complaint: str) -> None:
    # Given an otherwise complete production environment without DATABASE_URL (or REDIS_URL),
    # which would have meant SQLite (or a local-memory cache and eager Celery)
    # When it starts
    result = _run(["check"], unset=(missing,), **PRODUCTION_ENV)

    # Then it refuses, naming what is missing
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr


def test_production_refuses_sqlite(tmp_path: Path) -> None:
    result = _run(["check"], **PRODUCTION_ENV, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")

    assert result.returncode != 0
    assert "production needs DATABASE_URL to name a PostgreSQL database" in result.stderr


def test_production_hides_docs_and_metrics_unless_told() -> None:
    # Given production settings, then the same with the two switches on
    code = "from django.conf import settings; print(settings.API_DOCS_PUBLIC, settings.METRICS_PUBLIC)"
    hidden = _run(["shell", "-c", code], **PRODUCTION_ENV)
    shown = _run(["shell", "-c", code], **PRODUCTION_ENV, API_DOCS_PUBLIC="true", METRICS_PUBLIC="true")
    development = _run(["shell", "-c", code])

    def printed(result: subprocess.CompletedProcess[str]) -> list[str]:
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1].split()  # after the shell's "objects imported" line

    assert printed(hidden) == ["False", "False"]
    assert printed(shown) == ["True", "True"]
    assert printed(development) == ["True", "True"]


def test_metrics_networks_must_be_networks() -> None:
    result = _run(["check"], METRICS_ALLOWED_NETWORKS="10.0.0.0/8,not-a-network")

    assert result.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS='10.0.0.0/8,not-a-network' is not a valid value" in result.stderr


def test_check_deploy_is_clean_in_production_mode() -> None:
    result = _run(
        ["check", "--deploy", "--fail-level", "WARNING"],
        APP_ENV="production",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="casino.example",
        SHOP_WEBHOOK_SECRETS=WEBHOOK_SECRETS,
        SHOP_ALLOW_SANDBOX_IN_PRODUCTION="true",
    )

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_development_defaults_need_no_environment() -> None:
    result = _run(["check"])

    assert result.returncode == 0, result.stderr


# Run in a fresh interpreter: every directory made and every process started while
# casino.settings is imported is recorded through Python's audit hooks.
_IMPORT_AND_AUDIT = """
import json, sys
events = []
WATCHED = ("os.mkdir", "subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.fork", "os.spawn")

def hook(event, args):
    if event.startswith(WATCHED):
        events.append([event, repr(args)[:200]])

sys.addaudithook(hook)
import casino.settings
print(json.dumps(events))
"""


def test_importing_settings_makes_no_directory_and_starts_no_process(tmp_path: Path) -> None:
    # Given an environment whose static root does not exist yet and whose PATH has
    # a "git" that leaves a mark when anything runs it
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git_ran = tmp_path / "git-ran"
    fake_git = bin_dir / "git"
    fake_git.write_text(f"#!/bin/sh\ntouch {git_ran}\necho 0123456789ab\n")
    fake_git.chmod(0o755)
    static_root = tmp_path / "static" / "root"
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ directories of our own making
        "STATIC_ROOT": str(static_root),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'db.sqlite3'}",
    }

    # When a fresh interpreter imports the settings module
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_AND_AUDIT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    # Then it imports cleanly, made no directory, started no process, ran no git
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert not static_root.exists()
    assert not (tmp_path / "var").exists()
    assert not git_ran.exists()


def test_the_sqlite_directory_is_made_at_start_up_not_at_import(tmp_path: Path) -> None:
    # Given a SQLite database in a directory that does not exist yet
    database_dir = tmp_path / "fresh" / "var"

    # When the project starts (manage.py runs django.setup())
    result = _run(["check"], DATABASE_URL=f"sqlite:///{database_dir / 'db.sqlite3'}")

    # Then start-up made the directory, so SQLite can create its file there
    assert result.returncode == 0, result.stderr
    assert database_dir.is_dir()


def test_production_names_the_missing_required_variable() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from casino.environment import as_list, get_from_env

    production = {"APP_ENV": "production"}
    development: dict[str, str] = {}
    only_commas = {**production, "ALLOWED_HOSTS": ","}

    with pytest.raises(ImproperlyConfigured, match="production needs ALLOWED_HOSTS: the host names"):
        get_from_env("ALLOWED_HOSTS", ["*"], cast=as_list, required_in_production="the host names", source=production)
    with pytest.raises(ImproperlyConfigured, match="production needs ALLOWED_HOSTS"):
        get_from_env("ALLOWED_HOSTS", [], cast=as_list, required_in_production="x", source=only_commas)
    assert get_from_env("ALLOWED_HOSTS", ["*"], cast=as_list, required_in_production="x", source=development) == ["*"]
    assert get_from_env("ALLOWED_HOSTS", ["*"], cast=as_list, source={"ALLOWED_HOSTS": "a,b,"}) == ["a", "b"]


def test_an_unreadable_value_is_refused_with_its_name() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from casino.environment import as_int, get_from_env

    with pytest.raises(ImproperlyConfigured, match="CONN_MAX_AGE='soon' is not a valid value"):
        get_from_env("CONN_MAX_AGE", 60, cast=as_int, source={"CONN_MAX_AGE": "soon"})


def test_check_deploy_warns_when_production_opens_metrics_or_docs() -> None:
    # Given production with /metrics and the API docs switched public
    result = _run(
        ["check", "--deploy", "--fail-level", "WARNING"], **PRODUCTION_ENV, METRICS_PUBLIC="true", API_DOCS_PUBLIC="1"
    )

    # Then the deploy check names both
    assert result.returncode != 0
    assert "casino.W001" in result.stderr + result.stdout
    assert "casino.W002" in result.stderr + result.stdout


def test_production_gives_up_connecting_to_postgres_after_a_timeout() -> None:
    code = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('connect_timeout'))"

    default = _run(["shell", "-c", code], **PRODUCTION_ENV)
    configured = _run(["shell", "-c", code], **PRODUCTION_ENV, DB_CONNECT_TIMEOUT_SECONDS="2")

    assert default.returncode == 0, default.stderr
    assert default.stdout.strip().splitlines()[-1] == "5"
    assert configured.stdout.strip().splitlines()[-1] == "2"
