"""System checks for settings the security model depends on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def check_token_blacklist_installed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Logout and refresh rotation rely on simplejwt's blacklist app."""
    errors: list[checks.CheckMessage] = []
    if "rest_framework_simplejwt.token_blacklist" not in settings.INSTALLED_APPS:
        errors.append(
            checks.Error(
                "rest_framework_simplejwt.token_blacklist is not installed: logout and refresh rotation "
                "could not revoke tokens.",
                hint="Add it to INSTALLED_APPS.",
                id="casino.E001",
            )
        )
    jwt = getattr(settings, "SIMPLE_JWT", {})
    if not (jwt.get("ROTATE_REFRESH_TOKENS") and jwt.get("BLACKLIST_AFTER_ROTATION")):
        errors.append(
            checks.Error(
                "Refresh tokens must rotate and be blacklisted after rotation.",
                hint="Set SIMPLE_JWT ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION to True.",
                id="casino.E002",
            )
        )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_public_surface(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy``: say so when production opens what it hides by default."""
    warnings: list[checks.CheckMessage] = []
    if getattr(settings, "METRICS_PUBLIC", False):
        warnings.append(
            checks.Warning(
                "/metrics is public (METRICS_PUBLIC): anyone can read the process and request metrics.",
                hint="Unset METRICS_PUBLIC and let the scraper in with METRICS_ALLOWED_NETWORKS.",
                id="casino.W001",
            )
        )
    if getattr(settings, "API_DOCS_PUBLIC", False):
        warnings.append(
            checks.Warning(
                "The OpenAPI schema and Swagger UI are public (API_DOCS_PUBLIC).",
                hint="Unset API_DOCS_PUBLIC unless the API is meant to be browsed by anyone.",
                id="casino.W002",
            )
        )
    return warnings
