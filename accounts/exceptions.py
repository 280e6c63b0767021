"""The refusals of the accounts app: one class per error code (the code, its
message and its HTTP status are the class's; a raise adds only details or a
more precise message)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from rest_framework import status

from casino.errors import ApplicationError

# --- Sign-up and profile ----------------------------------------------------------


class InvalidInviteCode(ApplicationError):
    code = "invalid_invite_code"
    message = "The invite code is not valid."
    status = status.HTTP_400_BAD_REQUEST


class AlreadyTaken(ApplicationError):
    """A unique login field is in use (409); one subclass per field, built with
    :meth:`for_field`."""

    field = ""
    status = status.HTTP_409_CONFLICT

    def __init__(self, message: str | None = None, **details: Any) -> None:
        details.setdefault("field", self.field)
        super().__init__(message, **details)

    @staticmethod
    def for_field(field: str) -> AlreadyTaken:
        return _TAKEN_BY_FIELD[field]()


class SiteIdTaken(AlreadyTaken):
    code = "site_id_taken"
    message = "That site id is already in use."
    field = "site_id"


class NicknameTaken(AlreadyTaken):
    code = "nickname_taken"
    message = "That nickname is already in use."
    field = "nickname"


class PhoneNumberTaken(AlreadyTaken):
    code = "phone_number_taken"
    message = "That phone number is already in use."
    field = "phone_number"


_TAKEN_BY_FIELD: dict[str, type[AlreadyTaken]] = {
    taken.field: taken for taken in (SiteIdTaken, NicknameTaken, PhoneNumberTaken)
}


# --- Login --------------------------------------------------------------------------


class InvalidCredentials(ApplicationError):
    code = "invalid_credentials"
    message = "The login id or password is incorrect."
    status = status.HTTP_401_UNAUTHORIZED


class LoginLocked(ApplicationError):
    code = "login_locked"
    message = "Too many failed login attempts. Try again later."
    status = status.HTTP_429_TOO_MANY_REQUESTS


class LoginUnavailable(ApplicationError):
    """The lockout counters (Redis) did not answer: logins are refused before
    any password is checked (fail closed), never let through uncounted."""

    code = "login_unavailable"
    message = "Logging in is unavailable for a moment. Try again shortly."
    status = status.HTTP_503_SERVICE_UNAVAILABLE


class AccountDisabled(ApplicationError):
    """At login (403). A token of a disabled account is :class:`TokenAccountDisabled` (401)."""

    code = "account_disabled"
    message = "This account is disabled."
    status = status.HTTP_403_FORBIDDEN


class SelfExcluded(ApplicationError):
    """At login and on every authenticated request; carries ``self_excluded_until``."""

    code = "self_excluded"
    message = "You have excluded yourself from play until this date."
    status = status.HTTP_403_FORBIDDEN


class InvalidRefreshToken(ApplicationError):
    code = "invalid_refresh_token"
    message = "The refresh token is invalid, expired or already used."
    status = status.HTTP_401_UNAUTHORIZED


# --- Access tokens (accounts.authentication) ------------------------------------------


class AuthenticationRefused(ApplicationError):
    """Every 401 refusal of an access token derives from this (a refresh turns
    any of them into ``invalid_refresh_token``)."""

    code = "authentication_failed"
    message = "Authentication failed."
    status = status.HTTP_401_UNAUTHORIZED


class TokenAccountDisabled(AuthenticationRefused):
    """The code of :class:`AccountDisabled`, but a 401: the token no longer authenticates anyone."""

    code = "account_disabled"
    message = "This account is disabled."
    status = status.HTTP_401_UNAUTHORIZED


class TokenRevoked(AuthenticationRefused):
    code = "token_revoked"
    message = "This token has been revoked; log in again."


class TokenInvalid(AuthenticationRefused):
    code = "invalid_token"
    message = "The token is invalid or expired."


# --- Responsible gaming ----------------------------------------------------------------


class ResponsibleGamingRefused(ApplicationError):
    """Base of the responsible-gaming refusals (400)."""

    code = "responsible_gaming_refused"
    status = status.HTTP_400_BAD_REQUEST


class InvalidSelfExclusion(ResponsibleGamingRefused):
    code = "invalid_self_exclusion"
    message = "The exclusion must end in the future."


class SelfExclusionCannotShorten(ResponsibleGamingRefused):
    code = "self_exclusion_cannot_shorten"
    message = "An active self-exclusion cannot be shortened."


class InvalidSpendLimit(ResponsibleGamingRefused):
    code = "invalid_spend_limit"
    message = "The limit must be a positive amount."


# --- Staff: invite codes and users --------------------------------------------------------


class InvalidInviteCodeCount(ApplicationError):
    code = "invalid_count"
    message = "Generate between 1 and 1000 codes at a time."
    status = status.HTTP_400_BAD_REQUEST


class InvalidInviteCodeMaxUses(ApplicationError):
    code = "invalid_max_uses"
    message = "The number of uses must be at least 1 (or empty for unlimited)."
    status = status.HTTP_400_BAD_REQUEST


class InvalidInviteCodeExpiry(ApplicationError):
    code = "invalid_expiry"
    message = "Codes expire after 1 to 3650 days (or never)."
    status = status.HTTP_400_BAD_REQUEST


class InvalidInviteCodeNote(ApplicationError):
    code = "invalid_note"
    message = "The note is at most 200 characters."
    status = status.HTTP_400_BAD_REQUEST


class PrivilegeChangeRefused(ApplicationError, PermissionDenied):
    """Design promise 7: back-office privileges change only under
    ``accounts.services.staff.privileges_change_check`` (a Django
    ``PermissionDenied`` too: an admin page that lets it through answers 403)."""

    code = "privilege_change_refused"
    message = "Changing staff status, groups or permissions needs the grant_privileges permission."
    status = status.HTTP_403_FORBIDDEN


# --- The player page's staff actions ---------------------------------------------------


class PasswordLinkInvalid(ApplicationError):
    """A one-time password-set link that was used already, expired, or was
    cut short by a later ban or session revocation."""

    code = "password_link_invalid"
    message = "This password link is no longer valid. Ask support for a new one."
    status = status.HTTP_400_BAD_REQUEST


class SessionNotFound(ApplicationError):
    code = "session_not_found"
    message = "The player has no active session with that id."
    status = status.HTTP_404_NOT_FOUND
