"""A new password ends every session, whichever path saved it.

Django calls ``password_changed(password, user)`` on each entry of
``AUTH_PASSWORD_VALIDATORS`` when ``AbstractBaseUser.save()`` stores a password
set with ``set_password``: the admin's "change password" forms (a staff member
resetting a player's, and staff changing their own), ``manage.py
changepassword``, any future API endpoint, the shell. It is not called when
Django upgrades a hash at login (the password did not change). That makes it
the one place that catches every path, so the revocation lives here instead of
in each form: :func:`accounts.services.auth.sessions_end_after_password_change`
bumps ``token_version`` (every access and refresh token issued before gets
``token_revoked`` / ``invalid_refresh_token``) and closes the player's sockets.

It sits in ``AUTH_PASSWORD_VALIDATORS`` but refuses no password.
"""

from __future__ import annotations

from typing import Any

from accounts.models import User
from accounts.services import sessions_end_after_password_change


class SessionsEndOnPasswordChange:
    def validate(self, password: str, user: Any = None) -> None:
        return None  # not a rule: see the module docstring

    def password_changed(self, password: str, user: Any = None) -> None:
        if isinstance(user, User) and user.pk is not None:
            sessions_end_after_password_change(user=user)

    def get_help_text(self) -> str:
        return "Changing the password signs the account out of every session."
