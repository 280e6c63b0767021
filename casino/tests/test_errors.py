from __future__ import annotations

from typing import Any

import pytest

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
