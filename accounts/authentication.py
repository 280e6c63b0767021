"""Access-token authentication shared by the HTTP API and the WebSocket.

simplejwt verifies the signature, expiry and ``token_type`` (a refresh token is
never an access token). On top of that, every request checks the user as they
are now, so a ban, a self-exclusion or a "log out everywhere" takes effect at
once:

* ``is_active`` false            -> 401 ``account_disabled``
* token ``ver`` != user's version -> 401 ``token_revoked`` (bumped by logout-all,
  self-exclusion, bans and password changes)
* token ``fam`` revoked (a refresh token of its chain was used twice) -> 401
  ``token_revoked``
* self-excluded until a future date -> 403 ``self_excluded``

"As they are now" does not mean a query per request: ``accounts.auth_cache``
keeps each user's row in the process and asks Redis (one GET) whether it
changed since; every write to a user says so when it commits. The checks above
run on every request, on the row as kept (a self-exclusion ends by itself on
time, a token's version is compared each time).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken, Token

from accounts.activity import record_activity
from accounts.auth_cache import auth_users
from accounts.exceptions import SelfExcluded, TokenAccountDisabled, TokenInvalid, TokenRevoked
from accounts.models import User
from accounts.verified_tokens import verified_tokens

TOKEN_VERSION_CLAIM = "ver"  # noqa: S105 - a claim name, not a secret
TOKEN_FAMILY_CLAIM = "fam"  # noqa: S105 - a claim name: the login's chain of refresh tokens


def token_family(claims: Token | dict[str, Any]) -> uuid.UUID | None:
    """The family id a token carries (``None`` for tokens issued before families existed)."""
    value = claims.get(TOKEN_FAMILY_CLAIM)
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _utc_iso(value: Any) -> str:
    return str(value.isoformat()).replace("+00:00", "Z")


def check_user_may_authenticate(user: User, claims: Token | dict[str, Any] | None = None) -> None:
    """Raise if ``user`` (with a token carrying ``claims``) may not act now."""
    if not user.is_active:
        raise TokenAccountDisabled()
    if claims is not None and claims.get(TOKEN_VERSION_CLAIM) != user.token_version:
        raise TokenRevoked()
    until = user.self_excluded_until
    if until is not None and until > timezone.now():
        raise SelfExcluded(self_excluded_until=_utc_iso(until))


class AccessTokenAuthentication(JWTAuthentication):
    """``Authorization: Bearer <access JWT>``; see the module docstring."""

    # simplejwt annotates both methods with a TypeVar bound to nothing here; ours return our User.
    def authenticate(self, request: Request) -> tuple[User, Token] | None:  # type: ignore[override]
        result = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        record_activity(user.pk)
        return cast(User, user), token  # get_user below returns our User

    def get_validated_token(self, raw_token: bytes) -> Token:
        """simplejwt's verification, once per token and process (``accounts.verified_tokens``:
        a token seen before is checked for expiry only; anything else is verified as usual)."""
        token = verified_tokens.get(raw_token)
        if token is None:
            token = super().get_validated_token(raw_token)
            verified_tokens.keep(raw_token, token)
        return token

    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        found = auth_users.load(
            user_id=validated_token.get(jwt_settings.USER_ID_CLAIM), family=token_family(validated_token)
        )
        if found is None:
            raise TokenInvalid("The token's user does not exist.")
        check_user_may_authenticate(found.user, validated_token)
        if found.family_revoked:
            raise TokenRevoked()
        return found.user


def user_from_access_token(raw_token: str) -> User:
    """Validate a raw access JWT (WebSocket handshakes); raises on any problem."""
    raw = raw_token.encode()
    token = verified_tokens.get(raw)
    if token is None:
        try:
            token = AccessToken(raw)  # type: ignore[arg-type]
        except TokenError as exc:
            raise TokenInvalid() from exc
        verified_tokens.keep(raw, token)
    return AccessTokenAuthentication().get_user(token)


def socket_user_from_access_token(raw_token: str) -> User:
    """The WebSocket authenticator (registered in ``AccountsConfig.ready``): the
    same checks as the HTTP API, and a connection counts as activity."""
    user = user_from_access_token(raw_token)
    record_activity(user.pk)
    return user


def request_user(request: HttpRequest | Request) -> User:
    """The signed-in user of a request the view's permission classes already
    let in (typed: services take a ``User``, never an anonymous user)."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user


def request_staff(request: HttpRequest) -> User:
    """The staff member acting in the admin (services take a ``User`` actor)."""
    user = request.user
    if not isinstance(user, User) or not user.is_staff:
        raise PermissionDenied
    return user
