"""Login, token refresh, logout and revocation.

Revocation (``token_version`` bump: every access and refresh token issued
before stops working) happens on logout-all, ban, self-exclusion and password
change; each also closes the player's open WebSockets once it commits
(``realtime.services.sockets_close``: 4401, or 4403 for a self-exclusion).
"""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.state import token_backend
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

import realtime
from accounts.authentication import check_user_may_authenticate, token_family
from accounts.exceptions import (
    AccountDisabled,
    AuthenticationRefused,
    InvalidCredentials,
    InvalidRefreshToken,
    SelfExcluded,
)
from accounts.models import RevokedTokenFamily, User
from accounts.selectors import user_find_by_login
from accounts.services._shared import AuthResult, utc_iso
from accounts.services.lockout import lockout_limits, lockout_reserve, lockout_succeeded
from accounts.tokens import TokenPair, refresh_token_verified, tokens_issue
from casino.db import one_or_none, row_exists, row_get, row_insert_new
from realtime.services import CLOSE_SESSION_REVOKED, sockets_close

logger = logging.getLogger(__name__)


def credentials_check(*, identifier: str, password: str, ip: str | None) -> User:
    """The one password check of every login entry point (the API login, the
    admin login, Django's ``authenticate``), under the login lockout
    (``accounts.services.lockout``): 5 failures for one account, or 30 from
    one IP, within 10 minutes (settings ``LOGIN_LOCKOUT``) -> ``login_locked``
    until the window slides, even with the right password; the attempt is
    counted *before* its password is hashed, so parallel guesses get no extra
    tries. Counters unreachable -> ``login_unavailable`` (503), no hash.

    A login names the site_id or the nickname (any letter case). Unknown user
    and wrong password give the same ``invalid_credentials`` and take the
    same time (a dummy hash). Says nothing about whether the account may log
    in now (banned, self-excluded): the caller decides.
    """
    user = user_find_by_login(identifier=identifier)
    account_key = str(user.pk) if user else f"unknown:{identifier.strip().lower()}"
    attempt = lockout_reserve(limits=lockout_limits(account_key=account_key, ip=ip))
    if user is None:
        User().set_password(password)  # same cost as a real check
        raise InvalidCredentials()
    if not user.check_password(password):
        raise InvalidCredentials()  # the reservation stays: it is the failure record
    lockout_succeeded(attempt=attempt)
    return user


def user_login(*, identifier: str, password: str, ip: str | None = None) -> AuthResult:
    """Log in (see :func:`credentials_check`) and start a new token family."""
    user = credentials_check(identifier=identifier, password=password, ip=ip)
    if not user.is_active:
        raise AccountDisabled()
    if user.self_excluded_until is not None and user.is_self_excluded:
        raise SelfExcluded(self_excluded_until=utc_iso(user.self_excluded_until))
    now = timezone.now()
    with transaction.atomic(durable=True):
        User.objects.filter(pk=user.pk).update(last_login=now)
        user.last_login = now
        tokens = tokens_issue(user=user)
        realtime.emit("user_logged_in", user, {"method": "password", "day": now.date().isoformat()})
    return AuthResult(user=user, tokens=tokens)


def token_refresh(*, refresh_token: str) -> AuthResult:
    """Trade a refresh token for a new pair of the same family; the old one is blacklisted.

    Stock simplejwt checks the blacklist and then inserts, so parallel
    refreshes with one token could all pass. Here the blacklist insert itself
    decides: ``BlacklistedToken.token`` is unique, so of N parallel refreshes
    exactly one inserts and the others get ``invalid_refresh_token``.

    Token-theft detection (OAuth 2.0 Security BCP): a refresh token presented
    again after it was rotated (or logged out, or revoked) means two parties
    hold the chain. Which one is the thief is unknown, so the whole family is
    revoked (:func:`token_family_revoke`): its newest refresh token and its
    access tokens stop working, and the player logs in again. Parallel
    refreshes of one token count as a reuse too: at most one gets a pair, and
    that pair's family is then revoked.
    """
    try:
        token = refresh_token_verified(refresh_token)  # signature, expiry, type, blacklist
    except TokenError as exc:
        _revoke_family_if_reused(refresh_token)
        raise InvalidRefreshToken() from exc
    user = row_get(User, pk=token.get("user_id"))  # the statements of a refresh are written out (accounts.tokens)
    if user is None:
        raise InvalidRefreshToken()
    try:
        check_user_may_authenticate(user, token)
    except AuthenticationRefused as exc:
        raise InvalidRefreshToken(exc.message) from exc
    family = token_family(token)
    if family is not None and row_exists(RevokedTokenFamily, family=family):
        raise InvalidRefreshToken()
    tokens: TokenPair | None = None
    with transaction.atomic(durable=True):
        outstanding = row_get(OutstandingToken, fields=["jti"], jti=token["jti"])
        if outstanding is None:
            raise InvalidRefreshToken()
        # The unique blacklist row decides: of parallel refreshes one inserts it, the others
        # (waiting on that insert) find it there (no savepoint: ON CONFLICT DO NOTHING).
        if row_insert_new(BlacklistedToken(token_id=outstanding.pk)):
            tokens = tokens_issue(user=user, family=family)
        # else another request rotated it first: a reuse (below, after this block)
    if tokens is None:
        if family is not None:
            token_family_revoke(user=user, family=family)
        raise InvalidRefreshToken()
    return AuthResult(user=user, tokens=tokens)


def _revoke_family_if_reused(raw: str) -> None:
    """``raw`` was refused: when it is a genuine (signed, unexpired) refresh
    token that is blacklisted, it is a reuse; revoke its family."""
    try:
        claims = token_backend.decode(raw, verify=True)  # type: ignore[arg-type]  # signature and expiry
    except TokenBackendError:
        return
    if claims.get(jwt_settings.TOKEN_TYPE_CLAIM) != RefreshToken.token_type:
        return
    family = token_family(claims)
    jti, user_id = claims.get(jwt_settings.JTI_CLAIM), claims.get(jwt_settings.USER_ID_CLAIM)
    if family is None or not jti or not user_id or not BlacklistedToken.objects.filter(token__jti=jti).exists():
        return
    user = one_or_none(User.objects.filter(pk=str(user_id)))
    if user is not None:
        token_family_revoke(user=user, family=family)


def token_family_revoke(*, user: User, family: uuid.UUID, reason: str = "refresh_token_reused") -> None:
    """Revoke one chain of refresh tokens and its access tokens (idempotent),
    and close the player's sockets (those of other sessions reconnect)."""
    with transaction.atomic(durable=True):
        _, created = RevokedTokenFamily.objects.get_or_create(family=family, defaults={"user": user, "reason": reason})
        if created:
            logger.warning("refresh token reused: token family %s of user %s revoked", family, user.pk)
            sockets_close(user_id=user.pk, code=CLOSE_SESSION_REVOKED)


def token_logout(*, user: User, refresh_token: str | None) -> bool:
    """Blacklist the given refresh token (it must be the caller's). Returns
    whether a token was revoked."""
    if not refresh_token:
        return False
    try:
        token = RefreshToken(refresh_token)  # type: ignore[arg-type]
    except TokenError:
        return False  # already unusable: logging out of it is a no-op
    if str(token.get("user_id")) != str(user.pk):  # simplejwt stores the id as a string
        raise InvalidRefreshToken("That refresh token is not yours.")
    with transaction.atomic(durable=True):
        outstanding = one_or_none(OutstandingToken.objects.filter(jti=token["jti"]))
        if outstanding is None:
            return False
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created


def tokens_revoke_all(*, user: User, close_code: int = CLOSE_SESSION_REVOKED) -> None:
    """Blacklist every outstanding refresh token, invalidate every access
    token (the version claim no longer matches) and, once the caller's
    transaction commits, close the player's sockets with ``close_code``. A
    helper: it runs inside the caller's transaction (logout-all, ban,
    self-exclusion, password change)."""
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    user.refresh_from_db(fields=["token_version"])
    pending = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True, expires_at__gt=timezone.now())
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in pending], ignore_conflicts=True)
    sockets_close(user_id=user.pk, code=close_code)


def token_logout_all(*, user: User) -> None:
    with transaction.atomic(durable=True):
        tokens_revoke_all(user=user)


def sessions_end_after_password_change(*, user: User) -> None:
    """A new password was saved (any path: the admin's forms, ``changepassword``,
    ``set_password`` then ``save``; see ``accounts.passwords``): every token
    issued before is revoked and open sockets close. An account that holds no
    token yet (one just created) has nothing to revoke. Not durable: it runs
    inside whatever transaction saved the password."""
    if not OutstandingToken.objects.filter(user=user).exists():
        return
    with transaction.atomic():
        tokens_revoke_all(user=user)
