"""Django's ``authenticate()`` under the login lockout.

Every password check goes through
:func:`accounts.services.auth.credentials_check` (the lockout's shared
counters), so no entry point built on ``django.contrib.auth`` (the test
client's ``login``, a future Django view) can guess passwords outside it. The
admin login uses its own form (``accounts.admin_login``) to show why a login
was refused; this backend can only say "no".
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.exceptions import InvalidCredentials, LoginLocked, LoginUnavailable
from accounts.models import User
from accounts.services import credentials_check
from casino.http import client_ip

BACKEND_PATH = "accounts.backends.LockoutModelBackend"


class LockoutModelBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> User | None:
        if username is None:
            username = kwargs.get(User.USERNAME_FIELD)
        if username is None or password is None:
            return None
        try:
            user = credentials_check(
                identifier=username, password=password, ip=client_ip(request) if request is not None else None
            )
        except InvalidCredentials:
            return None
        except (LoginLocked, LoginUnavailable) as exc:
            raise PermissionDenied(exc.message) from exc  # stops authenticate(): no other backend tries
        return user if self.user_can_authenticate(user) else None
