"""The back office's login form: the same lockout as the API login.

``/admin/login/`` checks the password with
:func:`accounts.services.auth.credentials_check`, so both entry points share
the counters (5 failures per account, 30 per IP in 10 minutes): a lockout
earned at one holds at the other. A locked or unavailable login says so
plainly instead of "incorrect password". ``AccountsConfig.ready`` installs it
as ``admin.site.login_form``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from accounts.backends import BACKEND_PATH
from accounts.exceptions import InvalidCredentials, LoginLocked, LoginUnavailable
from accounts.services import credentials_check
from casino.http import client_ip


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "login_locked": (
            "Too many failed login attempts for this account or from this address. "
            "Logging in is locked; try again in %(minutes)s minute(s)."
        ),
        "login_unavailable": "Logging in is unavailable for a moment (a service is down). Try again shortly.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                user = credentials_check(
                    identifier=username,
                    password=password,
                    ip=client_ip(self.request) if self.request is not None else None,
                )
            except InvalidCredentials:
                raise self.get_invalid_login_error() from None
            except LoginLocked as exc:
                raise ValidationError(
                    self.error_messages["login_locked"],
                    code="login_locked",
                    params={"minutes": exc.details.get("retry_after_minutes", 1)},
                ) from exc
            except LoginUnavailable as exc:
                raise ValidationError(self.error_messages["login_unavailable"], code="login_unavailable") from exc
            user.backend = BACKEND_PATH  # type: ignore[attr-defined]  # what django.contrib.auth.login records
            self.user_cache = user
            self.confirm_login_allowed(user)  # active, and staff
        return self.cleaned_data
