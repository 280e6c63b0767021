from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from casino.errors import ApplicationError

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/nope", "/api/auth/me/extra", "/api/"])
def test_unknown_api_paths_answer_404_in_the_error_envelope(api_client: Any, path: str) -> None:
    response = api_client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == "not_found"
    assert path in response.json()["message"]


def test_unknown_non_api_path_is_json_404_too(api_client: Any) -> None:
    response = api_client.get("/definitely-not-here")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_wrong_method_is_405_in_the_envelope(api_client: Any) -> None:
    response = api_client.get("/api/auth/login")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_unsupported_media_type_is_415(api_client: Any) -> None:
    response = api_client.post("/api/auth/login", data="site_id=a", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_json_array_body_is_a_validation_error_not_a_500(api_client: Any) -> None:
    response = api_client.post("/api/auth/login", data="[1, 2]", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_every_response_carries_a_request_id(api_client: Any) -> None:
    given = api_client.get("/health", HTTP_X_REQUEST_ID="abc-12345678")
    generated = api_client.get("/health")

    assert given["X-Request-ID"] == "abc-12345678"
    assert len(generated["X-Request-ID"]) == 32


# --- One exception class per error code --------------------------------------------------

APPS = ("casino", "accounts", "economy", "games", "events", "shop", "realtime")
# The one code with two statuses: refused at login (403) and carried by a token (401).
SAME_CODE_TWO_STATUSES = {"account_disabled": {"AccountDisabled", "TokenAccountDisabled"}}


def _application_errors() -> list[type[ApplicationError]]:
    import importlib.util

    for module in ["casino.idempotency", *(f"{app}.exceptions" for app in APPS)]:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)  # each defines its refusals
    found: list[type[ApplicationError]] = []
    pending = [ApplicationError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__.split(".")[0] in APPS]


def test_each_error_code_in_the_project_has_one_class() -> None:
    by_code: dict[str, set[str]] = {}
    for cls in _application_errors():
        if "code" in vars(cls):  # not an abstract base that only groups others (AlreadyTaken)
            by_code.setdefault(cls.code, set()).add(cls.__name__)

    shared = {code: names for code, names in by_code.items() if len(names) > 1}

    assert {"idempotency_key_reused", "insufficient_funds", "sold_out"} <= by_code.keys()  # the scan sees every app
    assert shared == SAME_CODE_TWO_STATUSES


def test_no_raise_overrides_the_code_of_its_class() -> None:
    error_names = {cls.__name__ for cls in _application_errors()}
    overrides: list[str] = []
    for package in APPS:
        for path in (ROOT / package).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in error_names and any(keyword.arg in {"code", "status"} for keyword in node.keywords):
                    overrides.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")

    assert overrides == []


def test_nested_validation_errors_are_flattened_to_dotted_fields_of_string_lists() -> None:
    # Given a validation error from a nested serializer and a list of objects
    from rest_framework import serializers as drf_serializers

    from casino.errors import api_exception_handler

    error = drf_serializers.ValidationError(
        {"keys": {"p256dh": ["This field is required."]}, "items": [{}, {"name": ["Too long."]}], "code": ["Bad."]}
    )

    # When the API's handler answers it
    response = api_exception_handler(error, {})

    # Then every field maps to a list of strings, as the schema documents
    assert response is not None and response.status_code == 400
    assert response.data["fields"] == {
        "keys.p256dh": ["This field is required."],
        "items.1.name": ["Too long."],
        "code": ["Bad."],
    }
