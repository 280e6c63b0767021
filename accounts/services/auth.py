"""Login, token refresh and logout."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.authentication import check_user_may_authenticate
from accounts.exceptions import (
    AccountDisabled,
    AuthenticationRefused,
    InvalidCredentials,
    InvalidRefreshToken,
    SelfExcluded,
)
from accounts.models import User
from accounts.selectors import user_find_by_login
from accounts.services._shared import AuthResult, utc_iso
from accounts.services.lockout import lockout_check, lockout_limits, lockout_record_failure
from accounts.tokens import tokens_issue
from casino.db import one_or_none


def user_login(*, identifier: str, password: str, ip: str | None = None) -> AuthResult:
    """Log in by site_id or nickname (any letter case).

    Lockout: 5 failures for one account, or 30 from one IP, within 10 minutes
    (sliding window, settings ``LOGIN_LOCKOUT``) -> ``login_locked`` until the
    window slides, even with the right password. Unknown user and wrong
    password give the same 401 body and take the same time (a dummy hash).
    """
    user = user_find_by_login(identifier=identifier)
    account_key = str(user.pk) if user else f"unknown:{identifier.strip().lower()}"
    limits = lockout_limits(account_key=account_key, ip=ip)
    lockout_check(limits=limits)
    if user is None:
        User().set_password(password)  # same cost as a real check
        valid = False
    else:
        valid = user.check_password(password)
    if not valid or user is None:
        lockout_record_failure(limits=limits)
        raise InvalidCredentials()
    limits[0].reset()
    if not user.is_active:
        raise AccountDisabled()
    if user.self_excluded_until is not None and user.is_self_excluded:
        raise SelfExcluded(self_excluded_until=utc_iso(user.self_excluded_until))
    now = timezone.now()
    with transaction.atomic(durable=True):
        User.objects.filter(pk=user.pk).update(last_login=now)
        user.last_login = now
        tokens = tokens_issue(user=user)
    return AuthResult(user=user, tokens=tokens)


def token_refresh(*, refresh_token: str) -> AuthResult:
    """Trade a refresh token for a new pair; the old one is blacklisted.

    Stock simplejwt checks the blacklist and then inserts, so parallel
    refreshes with one token could all pass. Here the blacklist insert itself
    decides: ``BlacklistedToken.token`` is unique, so of N parallel refreshes
    exactly one inserts and the others get ``invalid_refresh_token``.
    """
    try:
        token = RefreshToken(refresh_token)  # type: ignore[arg-type]  # signature, expiry, type, blacklist
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
    user = one_or_none(User.objects.filter(pk=token.get("user_id")))
    if user is None:
        raise InvalidRefreshToken()
    try:
        check_user_may_authenticate(user, token)
    except AuthenticationRefused as exc:
        raise InvalidRefreshToken(exc.message) from exc
    with transaction.atomic(durable=True):
        outstanding = one_or_none(OutstandingToken.objects.filter(jti=token["jti"]))
        if outstanding is None:
            raise InvalidRefreshToken()
        try:
            with transaction.atomic():
                BlacklistedToken.objects.create(token=outstanding)
        except IntegrityError as exc:
            raise InvalidRefreshToken() from exc
        tokens = tokens_issue(user=user)
    return AuthResult(user=user, tokens=tokens)


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


def tokens_revoke_all(*, user: User) -> None:
    """Blacklist every outstanding refresh token and invalidate every access
    token (the version claim no longer matches). A helper: it runs inside the
    caller's transaction (logout-all, ban, self-exclusion)."""
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    user.refresh_from_db(fields=["token_version"])
    pending = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True, expires_at__gt=timezone.now())
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in pending], ignore_conflicts=True)


def token_logout_all(*, user: User) -> None:
    with transaction.atomic(durable=True):
        tokens_revoke_all(user=user)
