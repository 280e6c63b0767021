"""What the public may see besides the API: the OpenAPI schema and Swagger UI,
and the Prometheus metrics.

In development both are open. In production (``APP_ENV=production``) they are
not there (a JSON 404, as for any unknown path) unless a setting opens them:

* ``API_DOCS_PUBLIC=true`` serves ``/api/schema/`` and ``/api/docs/``;
* ``METRICS_PUBLIC=true`` serves ``/metrics`` to anyone; otherwise
  ``METRICS_ALLOWED_NETWORKS`` (CIDRs) serves it to direct connections from
  those networks: the peer address (``REMOTE_ADDR``) must be in one, and a
  request that came through a proxy (it carries ``X-Forwarded-For``, which the
  load balancer always adds) is refused whatever its peer, so the public cannot
  reach it through the balancer even though the balancer sits on an allowed
  network. Prometheus scrapes the web processes directly on the internal
  network (``monitoring/prometheus.yml``).

The checks run per request, so ``override_settings`` in tests and a settings
change at deploy time both take effect without touching the URLconf.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from casino.errors import not_found_view

View = Callable[..., HttpResponseBase]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def metrics_allowed(request: HttpRequest) -> bool:
    if settings.METRICS_PUBLIC:
        return True
    if "HTTP_X_FORWARDED_FOR" in request.META:
        return False  # proxied: the peer is the balancer, not the scraper
    try:
        peer = ipaddress.ip_address(str(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        return False
    return any(peer in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


def docs_allowed(request: HttpRequest) -> bool:
    return bool(settings.API_DOCS_PUBLIC)


def only_if(allowed: Callable[[HttpRequest], bool], view: View) -> View:
    """``view`` where ``allowed(request)``, else the JSON 404 of an unknown path."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not allowed(request):
            return not_found_view(request)
        return view(request, *args, **kwargs)

    return guarded


def schema_document_refusals(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: any request can be refused with 400
    ``invalid_characters`` (a NUL byte in the query string, a header — the
    Authorization header included — or a cookie; ``casino.middleware.RequestLimitsMiddleware``)
    before its view runs; say so where the view documents no 400 of its own."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if "400" not in operation["responses"]:
                operation["responses"]["400"] = {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    "description": "invalid_characters (a NUL byte in the query string, a header or a cookie)",
                }
    return result
