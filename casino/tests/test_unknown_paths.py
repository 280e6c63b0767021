"""Unknown paths and trailing slashes, as the web client meets them: every
unknown path, whatever the method, is a JSON 404 in the error envelope (never
Django's HTML CSRF failure page), and every player route answers at both
``/path`` and ``/path/`` (the client's proxy strips trailing slashes; a
redirect would lose a POST body)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.tokens import tokens_issue
from economy.tests.factories import player_with_wallet
from shop.models import Order
from shop.tests.factories import GemPriceProductFactory

UNKNOWN_PATHS = ["/api/nope", "/api/nope/", "/api/shop/buy/extra", "/api/games/slot/nope", "/nope", "/nope/deeper/"]
METHODS = ["get", "post", "put", "patch", "delete", "options", "head"]
SAMPLE = {"int": "1", "str": "sample", "slug": "sample", "uuid": str(uuid.uuid4()), "path": "sample"}


def _api_routes(patterns: Sequence[URLPattern | URLResolver] | None = None, prefix: str = "") -> Iterator[str]:
    """Every concrete route under /api/ as declared (its converters filled)."""
    if patterns is None:
        api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
        assert isinstance(api, URLResolver)
        yield from _api_routes(api.url_patterns, "/api/")
        return
    for pattern in patterns:
        assert isinstance(pattern.pattern, RoutePattern), f"{pattern!r}: use path() under /api/"
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _api_routes(pattern.url_patterns, route)
        elif pattern.name:  # declared routes are named; their aliases are not
            yield re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE[m.group(1) or "str"], route)


def _other_form(path: str) -> str:
    return path[:-1] if path.endswith("/") else path + "/"


def _target(path: str) -> Any:
    match = resolve(path)
    func = match.func
    while hasattr(func, "__wrapped__") and not hasattr(func, "view_class"):
        func = func.__wrapped__
    return getattr(func, "view_class", func), match.kwargs


def _assert_json_404(response: Any, method: str) -> None:
    assert response.status_code == 404, (method, response.status_code, response.content[:200])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    if method != "head":
        body = response.json()
        assert body["error"] == "not_found"
        assert body["message"]


API_ROUTES = sorted(set(_api_routes()))


def test_the_walk_finds_the_player_routes() -> None:
    # Given the URLconf; Then the walk sees the routes the client uses, in both styles
    assert {"/api/shop/buy", "/api/auth/login", "/api/streak/claim", "/api/docs/"} <= set(API_ROUTES)
    assert "/api/shop/transactions/sample/settle" in API_ROUTES


@pytest.mark.parametrize("path", API_ROUTES)
def test_every_api_route_resolves_at_both_forms_to_the_same_view(path: str) -> None:
    # Given a declared player route; When both forms are resolved
    declared, other = _target(path), _target(_other_form(path))

    # Then they reach the same view with the same arguments (not the catch-all)
    assert other == declared
    assert resolve(_other_form(path)).url_name != "not-found"


@pytest.mark.django_db
@pytest.mark.parametrize("path", API_ROUTES)
def test_every_api_route_answers_a_non_get_at_the_other_form_without_a_redirect(path: str) -> None:
    # Given the route's other form; When a client OPTIONS it (a non-GET every view handles)
    response = APIClient().options(_other_form(path))

    # Then the view answers it: no redirect, no 404 from the catch-all
    assert response.status_code not in (301, 302, 307, 308), response.status_code
    assert response.status_code != 404 or response.json().get("error") != "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/shop/buy", "/api/shop/buy/"])
def test_a_buy_posted_to_either_form_is_made(path: str) -> None:
    # Given a player and a product
    player = player_with_wallet(gems=1000)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    product = GemPriceProductFactory()

    # When the buy is posted at this form
    response = client.post(path, {"product_id": product.sku}, format="json", HTTP_X_IDEMPOTENCY_KEY="k1")

    # Then the body arrived and the order is made
    assert response.status_code == 201, response.content
    assert Order.objects.get().product_id == product.pk


@pytest.mark.django_db
def test_a_retry_at_the_other_slash_form_replays_the_first_answer() -> None:
    # Given a buy made at /api/shop/buy with a key
    player = player_with_wallet(gems=1000)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=player).access}")
    product = GemPriceProductFactory()
    first = client.post("/api/shop/buy", {"product_id": product.sku}, format="json", HTTP_X_IDEMPOTENCY_KEY="k2")

    # When the client retries it through a proxy that adds (or strips) the slash
    retry = client.post("/api/shop/buy/", {"product_id": product.sku}, format="json", HTTP_X_IDEMPOTENCY_KEY="k2")

    # Then it is the same request: the first answer is replayed and one order exists
    assert first.status_code == 201, first.content
    assert retry.status_code == 201, retry.content
    assert retry.content == first.content
    assert Order.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", UNKNOWN_PATHS)
def test_an_unknown_path_is_a_json_404_whatever_the_method_even_with_csrf_checks(method: str, path: str) -> None:
    # Given a browser-like client that enforces CSRF and sends no token
    client = Client(enforce_csrf_checks=True)

    # When it calls an unknown path with a form body
    if method in ("get", "head"):
        response = getattr(client, method)(path)
    else:
        response = getattr(client, method)(path, data="a=1", content_type="application/x-www-form-urlencoded")

    # Then the answer is the JSON 404 of the envelope, not the HTML CSRF failure page
    _assert_json_404(response, method)


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_path_is_json_with_debug_on(method: str) -> None:
    # Given DEBUG on (Django's own 404 page is HTML)
    with override_settings(DEBUG=True):
        # When an unknown path is called
        response = getattr(Client(enforce_csrf_checks=True), method)("/api/no/such/thing")

    # Then it is still the JSON 404
    _assert_json_404(response, method)


@pytest.mark.django_db
def test_the_admin_keeps_its_own_unknown_page_behaviour() -> None:
    # When an anonymous visitor asks for an unknown back-office page
    response = Client().get("/admin/no-such-page/")

    # Then the admin answers it (to its login page), not the API's catch-all
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_schema_lists_each_path_once() -> None:
    # When the schema is generated
    paths = list(SchemaGenerator().get_schema(request=None, public=True)["paths"])

    # Then no path appears at both forms
    assert len({p.rstrip("/") for p in paths}) == len(paths)
    assert "/api/shop/buy" in paths and "/api/shop/buy/" not in paths


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs"])
def test_the_api_docs_page_refuses_options_instead_of_failing(path: str) -> None:
    # When a client sends OPTIONS to the Swagger UI page (HTML only)
    response = Client(raise_request_exception=False).options(path)

    # Then it is a 405, not a 500
    assert response.status_code == 405
