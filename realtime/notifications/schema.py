"""The cookie authentication in the OpenAPI schema (imported by ``RealtimeConfig.ready``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AccessTokenCookieScheme(OpenApiAuthenticationExtension):
    target_class = "realtime.notifications.authentication.AccessTokenCookieAuthentication"
    name = "authTokenCookie"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "auth_token",
            "description": "The access JWT as a cookie (notification endpoints only); a POST or PUT needs a "
            "same-origin Origin or Referer (CLIENT_ORIGINS), else 403 cross_site_request.",
        }
