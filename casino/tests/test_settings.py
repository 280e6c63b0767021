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


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    unsafe = {
        "SECRET_KEY",
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
