from __future__ import annotations

from rest_framework import status

from casino.errors import ApplicationError


class InvalidInviteCode(ApplicationError):
    code = "invalid_invite_code"
    message = "The invite code is not valid."
    status = status.HTTP_400_BAD_REQUEST


class AlreadyTaken(ApplicationError):
    """``site_id_taken``, ``nickname_taken`` or ``phone_number_taken`` (409)."""

    status = status.HTTP_409_CONFLICT

    def __init__(self, field: str) -> None:
        label = field.replace("_", " ")
        super().__init__(f"That {label} is already in use.", code=f"{field}_taken", field=field)


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"
    message = "The login id or password is incorrect."
    status = status.HTTP_401_UNAUTHORIZED


class LoginLocked(ApplicationError):
    code = "login_locked"
    message = "Too many failed login attempts. Try again later."
    status = status.HTTP_429_TOO_MANY_REQUESTS


class AccountDisabled(ApplicationError):
    code = "account_disabled"
    message = "This account is disabled."
    status = status.HTTP_403_FORBIDDEN


class SelfExcluded(ApplicationError):
    code = "self_excluded"
    message = "You have excluded yourself from play until this date."
    status = status.HTTP_403_FORBIDDEN


class InvalidRefreshToken(ApplicationError):
    code = "invalid_refresh_token"
    message = "The refresh token is invalid, expired or already used."
    status = status.HTTP_401_UNAUTHORIZED


class ResponsibleGamingRefused(ApplicationError):
    code = "responsible_gaming_refused"
    status = status.HTTP_400_BAD_REQUEST
