"""The realtime app reaches players and accounts only through what apps
register at start-up; it imports no domain app."""

from __future__ import annotations

import ast
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from realtime import registry
from realtime.selectors import ONLINE_WINDOW, global_metrics

REALTIME_DIR = Path(registry.__file__).resolve().parent
DOMAIN_APPS = {"accounts", "economy", "games", "events", "shop"}


def test_the_accounts_app_registered_the_socket_authenticator_and_the_online_players_source() -> None:
    from accounts.authentication import socket_user_from_access_token
    from accounts.selectors import users_online_count

    assert registry.socket_authenticator() is socket_user_from_access_token
    assert registry.online_players_source() is users_online_count


def test_without_a_registered_authenticator_the_error_says_what_to_register(monkeypatch: Any) -> None:
    monkeypatch.setattr(registry._socket_authenticator, "plug_in", None)

    with pytest.raises(registry.NotRegistered, match=r"register_socket_authenticator\(\) in its AppConfig.ready"):
        registry.socket_authenticator()


@pytest.mark.django_db
def test_without_an_online_players_source_live_metrics_fail_loudly(monkeypatch: Any, settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    monkeypatch.setattr(registry._online_players_source, "plug_in", None)

    with pytest.raises(registry.NotRegistered, match="register_online_players_source"):
        global_metrics()


@pytest.mark.django_db
def test_live_metrics_count_online_players_through_the_registered_source(monkeypatch: Any, settings: Any) -> None:
    settings.CLICKHOUSE_URL = ""
    asked: list[datetime] = []

    def source(since: datetime) -> int:
        asked.append(since)
        return 42

    monkeypatch.setattr(registry._online_players_source, "plug_in", source)
    now = timezone.now()

    metrics = global_metrics(now=now)

    assert metrics.online_users == 42
    assert asked == [now - ONLINE_WINDOW]
    assert timedelta(minutes=5) == ONLINE_WINDOW


def test_a_second_different_authenticator_is_refused() -> None:
    def impostor(raw_token: str) -> Any:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="already registered"):
        registry.register_socket_authenticator(impostor)
    registry.register_socket_authenticator(registry.socket_authenticator())  # the same one again is fine


def test_realtime_imports_no_domain_app_and_no_user_model() -> None:
    offending: list[str] = []
    for path in REALTIME_DIR.rglob("*.py"):
        if "tests" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
                if node.module == "django.contrib.auth" and any(a.name == "get_user_model" for a in node.names):
                    offending.append(f"{path.name}:{node.lineno} get_user_model")
            for module in modules:
                if module.split(".")[0] in DOMAIN_APPS:
                    offending.append(f"{path.name}:{node.lineno} {module}")

    assert offending == []


def test_an_event_type_is_pushed_or_stored_or_both() -> None:
    from realtime.registry import is_pushed, is_stored, register_event_type

    with pytest.raises(ValueError, match="neither pushed nor stored"):
        register_event_type("test_nowhere", "Goes nowhere.", pushed=False, stored=False)
    assert (is_pushed("notification"), is_stored("notification")) == (True, False)  # the inbox row is the record
    assert (is_pushed("progress_update"), is_stored("progress_update")) == (False, True)
    assert (is_pushed("balance_update"), is_stored("balance_update")) == (True, True)
    with pytest.raises(ValueError, match="another description"):
        register_event_type("balance_update", registry.EVENT_TYPES["balance_update"], stored=False)
