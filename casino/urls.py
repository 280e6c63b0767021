from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.urls.resolvers import RoutePattern
from django.views.decorators.csrf import csrf_exempt
from django_prometheus import exports as prometheus_exports
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from casino import errors, health
from casino.surface import docs_allowed, metrics_allowed, only_if

admin.site.site_header = "Casino Club back office"
admin.site.site_title = "Casino Club"
admin.site.index_title = "Back office"

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("accounts.api.urls")),
    path("", include("economy.api.urls")),
    path("", include("realtime.api.urls")),
    path("", include("shop.api.urls")),
    path("", include("games.api.urls")),
    path("", include("events.api.urls")),
    # Public in development; in production only with API_DOCS_PUBLIC (casino.surface).
    path("schema/", only_if(docs_allowed, SpectacularAPIView.as_view()), name="schema"),
    # The split view serves Swagger UI's start-up script from here: no inline script (casino.csp).
    # GET only: its HTML renderer had no answer for OPTIONS (a 500).
    path(
        "docs/",
        only_if(
            docs_allowed, SpectacularSwaggerSplitView.as_view(url_name="schema", http_method_names=["get", "head"])
        ),
        name="docs",
    ),
]


def _other_form(route: str) -> str | None:
    """``route`` with its trailing slash toggled (None for the empty route)."""
    if not route or route == "/":
        return None
    return route[:-1] if route.endswith("/") else route + "/"


def _alias_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """``view`` under its other path form: the same view, left out of the
    schema (DRF's schema generators skip a view whose ``initkwargs`` say
    ``schema=None``), so the schema lists each path once."""

    @wraps(view)
    def alias(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return view(request, *args, **kwargs)

    if hasattr(view, "initkwargs"):
        alias.initkwargs = {**view.initkwargs, "schema": None}  # type: ignore[attr-defined]
    return alias


def with_slash_aliases(patterns: Sequence[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """Every route of ``patterns`` (included URLconfs too) served at both
    ``/path`` and ``/path/``: the client's proxy strips trailing slashes and a
    redirect would lose a POST body. The declared form keeps the name (so
    ``reverse`` gives it) and the schema entry; the other form is an alias."""
    served: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            served.append(
                URLResolver(
                    pattern.pattern,
                    with_slash_aliases(pattern.url_patterns),
                    pattern.default_kwargs,
                    pattern.app_name,
                    pattern.namespace,
                )
            )
            continue
        served.append(pattern)
        other = _other_form(str(pattern.pattern))
        if other is None or not isinstance(pattern.pattern, RoutePattern):
            continue
        served.append(path(other, _alias_view(pattern.callback), pattern.default_args))
    return served


def _flattened(patterns: Sequence[URLPattern | URLResolver], prefix: str = "") -> list[URLPattern] | None:
    """Every view of ``patterns`` as a ``path()`` with its whole route (included
    URLconfs opened), in order; None if one is not a plain route (a regex, a
    converter in a prefix, a namespace or include kwargs): those stay as they are."""
    flat: list[URLPattern] = []
    for pattern in patterns:
        route = pattern.pattern
        if not isinstance(route, RoutePattern) or (route.converters and isinstance(pattern, URLResolver)):
            return None
        if isinstance(pattern, URLResolver):
            if pattern.namespace or pattern.app_name or pattern.default_kwargs:
                return None
            inner = _flattened(pattern.url_patterns, prefix + str(route))
            if inner is None:
                return None
            flat += inner
        else:
            flat.append(_view(prefix + str(route), pattern))
    return flat


def _view(route: str, view: URLPattern) -> URLPattern:
    """``view`` (its callback, kwargs and name) at ``route``: what ``path()`` makes."""
    return URLPattern(
        RoutePattern(route, name=view.name, is_endpoint=True), view.callback, view.default_args, view.name
    )


def by_first_segment(patterns: Sequence[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """``patterns`` regrouped under their first path segment (``shop/buy`` becomes
    ``buy`` inside ``shop/``), so a request tries the dozen routes of its segment
    instead of every route before it (150 API routes with their slash aliases: the
    games' were reached after some 130 failed matches). Routes of different
    literal first segments cannot match the same path, so the first match is the
    one it was before. Routes whose first segment holds a converter, or that end
    at the segment (``schema/``, ``dashboard``), stay at the top, in order; patterns
    that are not plain routes are returned unchanged."""
    flat = _flattened(patterns)
    if flat is None or any("<" in str(view.pattern).partition("/")[0] for view in flat):
        return list(patterns)
    top: list[URLPattern | URLResolver] = []
    groups: dict[str, list[URLPattern | URLResolver]] = {}
    for view in flat:
        segment, slash, rest = str(view.pattern).partition("/")
        if not slash or not rest:
            top.append(view)
            continue
        if segment not in groups:
            groups[segment] = []
            top.append(path(f"{segment}/", include(groups[segment])))
        groups[segment].append(_view(rest, view))
    return top


urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("admin/", admin.site.urls),
    # Players' server-rendered account pages (the one-time password-set link); not the JSON API.
    path("account/", include("accounts.urls")),
    # Every player route at /api/x and /api/x/ (with_slash_aliases).
    path("api/", include(with_slash_aliases(by_first_segment(api_patterns)))),
    # Public in development; in production only with METRICS_PUBLIC or from METRICS_ALLOWED_NETWORKS.
    path("metrics", only_if(metrics_allowed, prometheus_exports.ExportToDjangoView), name="prometheus-django-metrics"),
]

if settings.SHOP_PAYMENT_PROVIDER == "sandbox" or settings.DEBUG:
    # The sandbox provider's hosted checkout pages: not our API, not in the schema.
    urlpatterns.append(path("sandbox/", include("shop.sandbox_urls")))

# Last: every other path, whatever the method, is a JSON 404 in the error
# envelope, in every mode (DEBUG's HTML 404 page included). csrf_exempt: a
# view that is resolved goes through CsrfViewMiddleware.process_view, which
# answered an unknown POST with Django's HTML "CSRF verification failed" page.
# The admin keeps its own catch-all under /admin/.
urlpatterns.append(re_path(r"^", csrf_exempt(errors.not_found_view), name="not-found"))

handler400 = "casino.errors.bad_request_view"
handler403 = "casino.errors.permission_denied_view"
handler404 = "casino.errors.not_found_view"
handler500 = "casino.errors.server_error_view"
