"""The production surface: the API docs and /metrics are not public in production
unless a setting says so (metrics may be opened to the scraper's networks
instead), and every response carries a Content-Security-Policy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, override_settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db

PRODUCTION_SURFACE = {"API_DOCS_PUBLIC": False, "METRICS_PUBLIC": False, "METRICS_ALLOWED_NETWORKS": []}


def _is_json_404(response: Any) -> bool:
    return (
        response.status_code == 404
        and response["Content-Type"].startswith("application/json")
        and response.json()["error"] == "not_found"
    )


# --- API docs -------------------------------------------------------------------------------


@override_settings(**PRODUCTION_SURFACE)
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/docs/?script="])
def test_api_docs_are_not_public_in_production(path: str) -> None:
    # Given production's defaults, when anyone asks for the schema or Swagger UI
    response = Client().get(path)

    # Then there is nothing there
    assert _is_json_404(response)


@override_settings(**{**PRODUCTION_SURFACE, "API_DOCS_PUBLIC": True})
def test_api_docs_public_serves_them() -> None:
    schema = Client().get("/api/schema/")
    docs = Client().get("/api/docs/")
    docs_script = Client().get("/api/docs/?script=")

    assert schema.status_code == 200
    assert b"Casino Club API" in schema.content
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # Swagger UI starts from a script served here, not an inline one (CSP)
    assert b"<script>" not in docs.content
    assert docs_script.status_code == 200
    assert b"SwaggerUIBundle" in docs_script.content


# --- /metrics ---------------------------------------------------------------------------------


@override_settings(**PRODUCTION_SURFACE)
def test_metrics_are_not_public_in_production() -> None:
    assert _is_json_404(Client().get("/metrics", REMOTE_ADDR="203.0.113.9"))
    assert _is_json_404(Client().get("/metrics", REMOTE_ADDR="127.0.0.1"))


@override_settings(**{**PRODUCTION_SURFACE, "METRICS_PUBLIC": True})
def test_metrics_public_serves_them_to_anyone() -> None:
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 200
    assert b"django_http_requests_total" in response.content


@override_settings(**{**PRODUCTION_SURFACE, "METRICS_ALLOWED_NETWORKS": ["10.0.0.0/8", "fd00::/8"]})
@pytest.mark.parametrize(
    ("peer", "forwarded_for", "served"),
    [
        ("10.1.2.3", None, True),  # the scraper, on the internal network
        ("fd00::17", None, True),
        ("203.0.113.9", None, False),  # the internet
        ("10.1.2.3", "203.0.113.9", False),  # the internet through the balancer (on the internal network)
        ("10.1.2.3", "10.9.9.9", False),  # anything proxied
        ("not-an-address", None, False),
    ],
)
def test_metrics_are_served_to_direct_connections_from_the_allowed_networks(
    peer: str, forwarded_for: str | None, served: bool
) -> None:
    extra = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}

    response = Client().get("/metrics", REMOTE_ADDR=peer, **extra)

    if served:
        assert response.status_code == 200
        assert b"django_http_requests_total" in response.content
    else:
        assert _is_json_404(response)


def test_production_mode_hides_docs_and_metrics_end_to_end() -> None:
    # Given the project started in production mode (its own settings, its own URLconf),
    # with the scraper's network allowed
    script = """
from django.test import Client
client = Client()
for path, peer in [("/api/schema/", "203.0.113.9"), ("/api/docs/", "203.0.113.9"),
                   ("/metrics", "203.0.113.9"), ("/metrics", "10.0.0.5")]:
    response = client.get(path, REMOTE_ADDR=peer, secure=True, HTTP_HOST="casino.example")
    print("STATUS", path, peer, response.status_code)
"""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "API_DOCS_PUBLIC", "METRICS_PUBLIC", "JWT_SIGNING_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        APP_ENV="production",
        SECRET_KEY="k" * 20 + "-Qm9vYmFyYmF6cXV4-" + "z" * 20 + "0123456789",
        ALLOWED_HOSTS="casino.example",
        SHOP_WEBHOOK_SECRETS="whsec_cHJvZHVjdGlvbi10ZXN0LXNlY3JldA==",
        SHOP_ALLOW_SANDBOX_IN_PRODUCTION="true",
        METRICS_ALLOWED_NETWORKS="10.0.0.0/8",
    )

    # When the public and the scraper ask
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then only the scraper gets an answer
    assert result.returncode == 0, result.stderr
    statuses = [line.split()[1:] for line in result.stdout.splitlines() if line.startswith("STATUS")]
    assert statuses == [
        ["/api/schema/", "203.0.113.9", "404"],
        ["/api/docs/", "203.0.113.9", "404"],
        ["/metrics", "203.0.113.9", "404"],
        ["/metrics", "10.0.0.5", "200"],
    ]


# --- Content-Security-Policy ------------------------------------------------------------------


def _policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("path", ["/admin/login/", "/api/auth/me", "/health", "/api/nope"])
def test_every_response_carries_a_strict_policy(path: str) -> None:
    response = Client().get(path)

    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no other origin
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


def test_the_settings_policy_is_the_one_django_csp_builds_and_follows_the_settings() -> None:
    """casino.csp builds the settings' policy once per settings value: the same header django-csp
    builds, a report-only header only when one is configured, and a new policy once the settings change."""
    from csp.utils import build_policy

    client = Client()
    first, second = client.get("/health"), client.get("/health")

    assert _policy(first) == _policy(second)
    assert _policy(first) == _policy({"Content-Security-Policy": build_policy()})
    assert "Content-Security-Policy-Report-Only" not in first

    changed = {"DIRECTIVES": {**settings.CONTENT_SECURITY_POLICY["DIRECTIVES"], "img-src": ["'self'", "https:"]}}
    report = {"DIRECTIVES": {"default-src": ["'none'"]}}
    with override_settings(CONTENT_SECURITY_POLICY=changed, CONTENT_SECURITY_POLICY_REPORT_ONLY=report):
        response = client.get("/health")
        assert _policy(response)["img-src"] == ["'self'", "https:"]
        assert response["Content-Security-Policy-Report-Only"] == "default-src 'none'"
        with override_settings(CONTENT_SECURITY_POLICY={**changed, "EXCLUDE_URL_PREFIXES": ["/health"]}):
            assert "Content-Security-Policy" not in client.get("/health")
    assert _policy(client.get("/health"))["img-src"] == ["'self'", "data:"]


@pytest.mark.django_db
def test_an_api_request_opens_no_message_storage(api_client: Any, user: Any) -> None:
    """casino.middleware.LazyMessageMiddleware: the storage is opened by the pages that use it
    (the admin's; economy/tests/test_admin.py follows a message across a redirect), not by the API."""
    from django.utils.functional import empty

    from accounts.tokens import tokens_issue

    response = api_client.get("/api/auth/me", HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")

    assert response.status_code == 200
    assert response.wsgi_request._messages._wrapped is empty
    assert "messages" not in response.cookies


def test_the_admin_pages_need_no_inline_script(staff_client: Any) -> None:
    # The admin pages load every script from a file: an inline one would be blocked
    for path in ["/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{staff_client.user.pk}/change/"]:
        response = staff_client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert "<script>" not in html, path
        assert "javascript:" not in html, path
        assert " onclick=" not in html and " onload=" not in html, path


def test_the_sandbox_checkout_page_allows_its_inline_style_and_no_script() -> None:
    response = Client().get("/sandbox/checkout/sbx_missing")

    policy = _policy(response)
    assert policy["script-src"] == ["'none'"]
    assert "'unsafe-inline'" in policy["style-src"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]


@override_settings(API_DOCS_PUBLIC=True)
def test_swagger_ui_is_served_from_this_site_under_the_strict_policy() -> None:
    # Given the docs are public, when a browser opens Swagger UI
    response = Client().get("/api/docs/")

    # Then the page loads nothing from another origin (it works offline) and gets the strict policy
    assert response.status_code == 200
    html = response.content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(url.endswith("swagger-ui-bundle.js") for url in urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        # ...and every file it references is served here
        fetched = Client().get(url)
        assert fetched.status_code == 200, url
        fetched.close()
    assert "<style" not in html and "<script>" not in html
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]


def test_the_schema_documents_the_nul_refusal_wherever_a_query_or_header_is_taken() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    taking_text = [
        (method, path, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if any(parameter["in"] in ("query", "header") for parameter in operation.get("parameters", []))
    ]
    assert {("get", "/api/dashboard"), ("get", "/api/shop/transactions")} <= {(m, p) for m, p, _ in taking_text}
    for method, path, operation in taking_text:
        assert "400" in operation["responses"], (method, path)
