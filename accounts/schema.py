"""How the access-token authentication looks in the OpenAPI schema
(drf-spectacular registers an extension when its class is defined; imported by
``AccountsConfig.ready``)."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class AccessTokenScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]  # drf-spectacular's registration hook
    target_class = "accounts.authentication.AccessTokenAuthentication"
    name = "bearerAuth"
