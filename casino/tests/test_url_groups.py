"""The API's routes grouped by their first segment (casino.urls.by_first_segment): every
path resolves to the view it resolved to before, and a request tries only its segment's routes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import Resolver404, path, re_path
from django.urls.resolvers import RoutePattern, URLResolver

from casino.urls import _flattened, api_patterns, by_first_segment, with_slash_aliases


def api_resolver(patterns: list[Any]) -> URLResolver:
    return URLResolver(RoutePattern("api/"), with_slash_aliases(patterns))


def sample_path(route: str) -> str:
    """A concrete path for a route: each converter replaced by a value it accepts."""
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: "7" if m.group(1) == "int" else "x7", route)


def what(resolver: URLResolver, path_: str) -> tuple[Any, ...]:
    match = resolver.resolve(path_)
    view = getattr(match.func, "__wrapped__", match.func)  # a slash alias wraps the view
    return view, match.kwargs, match.url_name


def test_every_api_path_and_its_other_slash_form_resolve_as_before() -> None:
    flat, grouped = api_resolver(api_patterns), api_resolver(by_first_segment(api_patterns))
    routes = [str(view.pattern) for view in _flattened(api_patterns) or []]
    assert len(routes) > 50

    for route in routes:
        for form in {route, route.rstrip("/") if route.endswith("/") else route + "/"}:
            wanted = f"api/{sample_path(form)}"
            assert what(grouped, wanted) == what(flat, wanted), wanted


def test_a_request_tries_only_the_routes_of_its_first_segment() -> None:
    flat, grouped = api_resolver(api_patterns), api_resolver(by_first_segment(api_patterns))

    def tried(resolver: URLResolver) -> int:
        with pytest.raises(Resolver404) as missing:
            resolver.resolve("api/games/no-such-game")
        return len(missing.value.args[0]["tried"])

    # The games' routes come last: flat, a miss there went through every API route.
    assert tried(grouped) * 2 < tried(flat)


def test_patterns_that_are_not_plain_routes_stay_as_they_are() -> None:
    def view(request: Any) -> None:
        return None

    patterns = [path("shop/buy", view, name="a"), re_path(r"^shop/(?P<x>\d+)$", view, name="b")]

    assert by_first_segment(patterns) == patterns
