"""Production mode refuses unsafe settings; check --deploy is clean."""

from __future__ import annotations

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
