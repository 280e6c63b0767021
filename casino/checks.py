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
