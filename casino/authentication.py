"""Access-token authentication shared by the HTTP API and the WebSocket.

simplejwt verifies the signature, expiry and ``token_type`` (a refresh token is
never an access token). On top of that, every request re-reads the user, so a
ban, a self-exclusion or a "log out everywhere" takes effect at once:

* ``is_active`` false            -> 401 ``account_disabled``
* token ``ver`` != user's version -> 401 ``token_revoked`` (bumped by logout-all,
  self-exclusion and bans)
* self-excluded until a future date -> 403 ``self_excluded``
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, Token

from casino.activity import record_activity
from casino.db import one_or_none
from casino.errors import ApplicationError

TOKEN_VERSION_CLAIM = "ver"  # noqa: S105 - a claim name, not a secret


class AuthenticationRefused(ApplicationError):
    code = "authentication_failed"
    message = "Authentication failed."
    status = status.HTTP_401_UNAUTHORIZED


def check_user_may_authenticate(user: Any, claims: Token | dict[str, Any] | None = None) -> None:
    """Raise if ``user`` (with a token carrying ``claims``) may not act now."""
    if not user.is_active:
        raise AuthenticationRefused("This account is disabled.", code="account_disabled")
    if claims is not None and claims.get(TOKEN_VERSION_CLAIM) != user.token_version:
        raise AuthenticationRefused("This token has been revoked; log in again.", code="token_revoked")
    until = getattr(user, "self_excluded_until", None)
    if until is not None and until > timezone.now():
        raise ApplicationError(
            "You have excluded yourself from play until this date.",
            code="self_excluded",
            status=status.HTTP_403_FORBIDDEN,
            self_excluded_until=until.isoformat().replace("+00:00", "Z"),
        )


class AccessTokenAuthentication(JWTAuthentication):
    """``Authorization: Bearer <access JWT>``; see the module docstring."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, Token] | None:
        result = super().authenticate(request)
        if result is not None:
            record_activity(result[0].pk)
        return result

    def get_user(self, validated_token: Token) -> AbstractBaseUser:
        user_id = validated_token.get("user_id")
        user = one_or_none(get_user_model().objects.filter(pk=user_id))
        if user is None:
            raise AuthenticationRefused("The token's user does not exist.", code="invalid_token")
        check_user_may_authenticate(user, validated_token)
        return user


def user_from_access_token(raw_token: str) -> Any:
    """Validate a raw access JWT (WebSocket handshakes); raises on any problem."""
    try:
        token = AccessToken(raw_token)  # type: ignore[arg-type]
    except TokenError as exc:
        raise AuthenticationRefused("The token is invalid or expired.", code="invalid_token") from exc
    return AccessTokenAuthentication().get_user(token)
