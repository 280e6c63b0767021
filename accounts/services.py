"""Account writes: sign-up, login (with lockout), token refresh/logout,
profile edits, bans and responsible-gaming settings."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

import realtime
from accounts.exceptions import (
    AccountDisabled,
    AlreadyTaken,
    InvalidCredentials,
    InvalidInviteCode,
    InvalidRefreshToken,
    LoginLocked,
    ResponsibleGamingRefused,
    SelfExcluded,
)
from accounts.models import InviteCode, User
from accounts.selectors import invite_code_check, invite_codes_usable, normalize_invite_code, user_find_by_login
from accounts.tokens import TokenPair, tokens_issue
from casino.authentication import AuthenticationRefused, check_user_may_authenticate
from casino.db import one_or_none
from casino.errors import ApplicationError
from casino.ratelimit import SlidingWindowLimit
from casino.services import audit_record

SPEND_LIMIT_COOLING_OFF = timedelta(hours=24)
MAX_SELF_EXCLUSION = timedelta(days=365 * 5)


@dataclass(frozen=True)
class AuthResult:
    user: User
    tokens: TokenPair


def _utc_iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# --- Sign-up -------------------------------------------------------------------


def _ensure_available(*, site_id: str, nickname: str, phone_number: str, exclude_pk: int | None = None) -> None:
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if site_id and others.filter(site_id__iexact=site_id).exists():
        raise AlreadyTaken("site_id")
    if nickname and others.filter(nickname__iexact=nickname).exists():
        raise AlreadyTaken("nickname")
    if phone_number and others.filter(phone_number=phone_number).exists():
        raise AlreadyTaken("phone_number")


def _taken_field_from_integrity_error(error: IntegrityError) -> str:
    text = str(error).lower()
    for field, marker in (("site_id", "site_id"), ("nickname", "nickname"), ("phone_number", "phone")):
        if marker in text:
            return field
    return "site_id"


def user_signup(
    *, site_id: str, nickname: str, phone_number: str, password: str, invite_code: str, ip: str | None = None
) -> AuthResult:
    """Create a player with a valid invite code, atomically.

    The code's use is one conditional ``UPDATE ... SET uses = uses + 1 WHERE
    <usable>``: under concurrent sign-ups PostgreSQL re-checks the WHERE after
    each lock wait, so ``uses`` never exceeds ``max_uses`` (a CHECK constraint
    backs it). A refused code rolls back the user row created just before; a
    duplicate racing in fails on the case-insensitive unique indexes.
    """
    site_id, nickname, phone_number = site_id.strip(), nickname.strip(), phone_number.strip()
    candidate = User(site_id=site_id, nickname=nickname, phone_number=phone_number)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc
    code = normalize_invite_code(invite_code)
    with transaction.atomic():
        _ensure_available(site_id=site_id, nickname=nickname, phone_number=phone_number)
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    site_id=site_id, nickname=nickname, phone_number=phone_number, password=password
                )
        except IntegrityError as exc:
            raise AlreadyTaken(_taken_field_from_integrity_error(exc)) from exc
        # Last, so the code's row lock is held as briefly as possible.
        used = invite_codes_usable().filter(code=code).update(uses=F("uses") + 1)
        if not used:
            check = invite_code_check(code=code)
            raise InvalidInviteCode(check.message or "The invite code is not valid.", reason=check.reason or "used_up")
        user.last_login = timezone.now()
        user.save(update_fields=["last_login"])
        realtime.emit("user_signed_up", user, {"site_id": user.site_id, "nickname": user.nickname, "invite_code": code})
        tokens = tokens_issue(user=user)
    return AuthResult(user=user, tokens=tokens)


# --- Login and lockout -----------------------------------------------------------


def _lockout_limits(*, account_key: str, ip: str | None) -> list[SlidingWindowLimit]:
    conf = settings.LOGIN_LOCKOUT
    window = timedelta(minutes=conf["WINDOW_MINUTES"])
    limits = [
        SlidingWindowLimit(f"login-fail:account:{account_key}", limit=conf["ACCOUNT_MAX_FAILURES"], window=window)
    ]
    if ip:
        limits.append(SlidingWindowLimit(f"login-fail:ip:{ip}", limit=conf["IP_MAX_FAILURES"], window=window))
    return limits


def _raise_if_locked(limits: list[SlidingWindowLimit]) -> None:
    wait = max(limit.retry_after_seconds() for limit in limits)
    if wait > 0:
        raise LoginLocked(retry_after_minutes=max(1, math.ceil(wait / 60)))


def user_login(*, identifier: str, password: str, ip: str | None = None) -> AuthResult:
    """Log in by site_id or nickname (any letter case).

    Lockout: 5 failures for one account, or 30 from one IP, within 10 minutes
    (sliding window, settings ``LOGIN_LOCKOUT``) -> ``login_locked`` until the
    window slides, even with the right password. Unknown user and wrong
    password give the same 401 body and take the same time (a dummy hash).
    """
    user = user_find_by_login(identifier=identifier)
    account_key = str(user.pk) if user else f"unknown:{identifier.strip().lower()}"
    limits = _lockout_limits(account_key=account_key, ip=ip)
    _raise_if_locked(limits)
    if user is None:
        User().set_password(password)  # same cost as a real check
        valid = False
    else:
        valid = user.check_password(password)
    if not valid:
        for limit in limits:
            limit.hit()
        raise InvalidCredentials()
    assert user is not None
    limits[0].reset()
    if not user.is_active:
        raise AccountDisabled()
    if user.is_self_excluded:
        raise SelfExcluded(self_excluded_until=_utc_iso(user.self_excluded_until))  # type: ignore[arg-type]
    now = timezone.now()
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(last_login=now)
        user.last_login = now
        tokens = tokens_issue(user=user)
    return AuthResult(user=user, tokens=tokens)


# --- Tokens -----------------------------------------------------------------------


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
    with transaction.atomic():
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
    outstanding = one_or_none(OutstandingToken.objects.filter(jti=token["jti"]))
    if outstanding is None:
        return False
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    return created


def _revoke_all_tokens(user: User) -> None:
    """Blacklist every outstanding refresh token and invalidate every access
    token (the version claim no longer matches). Inside the caller's transaction."""
    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    user.refresh_from_db(fields=["token_version"])
    pending = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True, expires_at__gt=timezone.now())
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in pending], ignore_conflicts=True)


def token_logout_all(*, user: User) -> None:
    with transaction.atomic():
        _revoke_all_tokens(user)


# --- Profile ------------------------------------------------------------------------


def user_update_profile(*, user: User, nickname: str | None = None, phone_number: str | None = None) -> User:
    changes: dict[str, Any] = {}
    if nickname is not None and nickname.strip() != user.nickname:
        changes["nickname"] = nickname.strip()
    if phone_number is not None and phone_number.strip() != user.phone_number:
        changes["phone_number"] = phone_number.strip()
    if not changes:
        return user
    with transaction.atomic():
        _ensure_available(
            site_id="",
            nickname=changes.get("nickname", ""),
            phone_number=changes.get("phone_number", ""),
            exclude_pk=user.pk,
        )
        for field, value in changes.items():
            setattr(user, field, value)
        try:
            with transaction.atomic():
                user.save(update_fields=list(changes))
        except IntegrityError as exc:
            raise AlreadyTaken(_taken_field_from_integrity_error(exc)) from exc
        realtime.emit("profile_update", user, changes)
    return user


# --- Staff: ban / unban -----------------------------------------------------------


def user_set_active(*, actor: User, user: User, active: bool, reason: str) -> User:
    """Ban (``active=False``) or reinstate a player; a ban revokes every token."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=active)
        user.is_active = active
        if not active:
            _revoke_all_tokens(user)
        audit_record(actor=actor, action="user_unban" if active else "user_ban", target=user, reason=reason)
        realtime.emit("profile_update", user, {"is_active": active})
    return user


# --- Responsible gaming -----------------------------------------------------------


def self_exclusion_set(*, user: User, until: datetime) -> User:
    """Exclude oneself from play until ``until``. It can be extended but not
    shortened by the player; every session ends at once."""
    now = timezone.now()
    if until <= now:
        raise ResponsibleGamingRefused("The exclusion must end in the future.", code="invalid_self_exclusion")
    if until - now > MAX_SELF_EXCLUSION:
        raise ResponsibleGamingRefused("The longest exclusion is five years.", code="invalid_self_exclusion")
    if user.self_excluded_until and user.self_excluded_until > until:
        raise ResponsibleGamingRefused(
            "An active self-exclusion cannot be shortened.",
            code="self_exclusion_cannot_shorten",
            self_excluded_until=_utc_iso(user.self_excluded_until),
        )
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(self_excluded_until=until)
        user.self_excluded_until = until
        _revoke_all_tokens(user)
    return user


def self_exclusion_lift(*, actor: User, user: User, reason: str) -> User:
    """Staff only (audited): end a player's self-exclusion early."""
    with transaction.atomic():
        previous = user.self_excluded_until
        User.objects.filter(pk=user.pk).update(self_excluded_until=None)
        user.self_excluded_until = None
        audit_record(
            actor=actor,
            action="self_exclusion_lift",
            target=user,
            reason=reason,
            data={"previous_until": _utc_iso(previous) if previous else None},
        )
    return user


def daily_spend_limit_effective(*, user: User, now: datetime | None = None) -> int | None:
    """The limit in force now: a pending raise/removal applies once its
    cooling-off period has passed."""
    now = now or timezone.now()
    if user.pending_limit_effective_at and user.pending_limit_effective_at <= now:
        return None if user.pending_limit_clears else user.pending_daily_spend_limit
    return user.daily_spend_limit


def daily_spend_limit_set(*, user: User, limit: int | None) -> User:
    """Set (``limit`` > 0) or remove (``None``) the daily spend limit.

    Lowering, or setting a first limit, applies at once. Raising or removing
    waits 24 hours (``SPEND_LIMIT_COOLING_OFF``), so a limit set in a calm
    moment cannot be undone in a heated one.
    """
    if limit is not None and limit <= 0:
        raise ResponsibleGamingRefused("The limit must be a positive amount.", code="invalid_spend_limit")
    now = timezone.now()
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        current = daily_spend_limit_effective(user=locked, now=now)
        tighter = limit is not None and (current is None or limit <= current)
        if tighter:
            locked.daily_spend_limit = limit
            locked.pending_daily_spend_limit = None
            locked.pending_limit_clears = False
            locked.pending_limit_effective_at = None
        else:
            locked.daily_spend_limit = current
            locked.pending_daily_spend_limit = limit
            locked.pending_limit_clears = limit is None
            locked.pending_limit_effective_at = now + SPEND_LIMIT_COOLING_OFF
        locked.save(
            update_fields=[
                "daily_spend_limit",
                "pending_daily_spend_limit",
                "pending_limit_clears",
                "pending_limit_effective_at",
            ]
        )
    return locked


# --- Staff: invite codes ------------------------------------------------------------

# No 0/O or 1/I: codes are read aloud and typed from screenshots.
INVITE_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def invite_codes_generate(
    *, actor: User, count: int, max_uses: int | None, expires_at: datetime | None, note: str = ""
) -> list[InviteCode]:
    """Create ``count`` random 8-character codes (audited as one action)."""
    if not 1 <= count <= 1000:
        raise ApplicationError("Generate between 1 and 1000 codes at a time.", code="invalid_count")
    with transaction.atomic():
        codes: list[InviteCode] = []
        existing: set[str] = set()
        while len(codes) < count:
            value = "".join(secrets.choice(INVITE_CODE_ALPHABET) for _ in range(8))
            if value in existing or InviteCode.objects.filter(code=value).exists():
                continue
            existing.add(value)
            codes.append(InviteCode(code=value, max_uses=max_uses, expires_at=expires_at, note=note, created_by=actor))
        InviteCode.objects.bulk_create(codes)
        audit_record(
            actor=actor,
            action="invite_codes_generate",
            target_type="accounts.invitecode",
            target_id=f"{count} codes",
            reason=note or "generated from the back office",
            data={
                "codes": [c.code for c in codes],
                "max_uses": max_uses,
                "expires_at": expires_at and _utc_iso(expires_at),
            },
        )
    return codes


def invite_code_set_active(*, actor: User, invite: InviteCode, active: bool, reason: str) -> InviteCode:
    with transaction.atomic():
        InviteCode.objects.filter(pk=invite.pk).update(is_active=active)
        invite.is_active = active
        audit_record(
            actor=actor,
            action="invite_code_activate" if active else "invite_code_deactivate",
            target=invite,
            reason=reason,
        )
    return invite
