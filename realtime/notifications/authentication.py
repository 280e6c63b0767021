"""The ``auth_token`` cookie, accepted on the notification endpoints only.

The existing web client sends its access JWT there as a cookie, not as a
Bearer header. A cookie rides along on cross-site requests too, so a POST
authenticated by it must come from one of ``CLIENT_ORIGINS`` (its ``Origin``,
or failing that its ``Referer``): anything else is 403 ``cross_site_request``,
checked before the token. The token itself is checked by the accounts app's
registered socket authenticator (realtime may not import accounts), with the
same rules as a Bearer token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from realtime.notifications.exceptions import CrossSiteRequestRefused
from realtime.registry import socket_authenticator

AUTH_COOKIE = "auth_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def allowed_origins() -> set[str]:
    return {origin for origin in (_origin(entry) for entry in settings.CLIENT_ORIGINS) if origin}


def same_origin_check(request: Request) -> None:
    """Raise :class:`CrossSiteRequestRefused` unless the request says it comes from a client origin."""
    header = request.META.get("HTTP_ORIGIN") or request.META.get("HTTP_REFERER") or ""
    origin = _origin(header) if header and header != "null" else None
    if origin is None or origin not in allowed_origins():
        raise CrossSiteRequestRefused()


class AccessTokenCookieAuthentication(BaseAuthentication):
    """Falls back to the ``auth_token`` cookie when no earlier class (the
    Bearer header) authenticated the request."""

    def authenticate(self, request: Request) -> tuple[Any, str] | None:
        raw = request.COOKIES.get(AUTH_COOKIE)
        if not raw:
            return None
        if request.method not in SAFE_METHODS:
            same_origin_check(request)
        return socket_authenticator()(raw), AUTH_COOKIE
