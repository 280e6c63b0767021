"""Reads shared by several callers: the invite-code rule, logins, players
online, profile composition. Reads only: nothing here writes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import InviteCode, User


def normalize_invite_code(code: str) -> str:
    return code.strip().upper()


def invite_codes_usable(*, now: datetime | None = None) -> QuerySet[InviteCode]:
    """The one rule for a usable code, as a queryset (sign-up updates through it)."""
    now = now or timezone.now()
    return (
        InviteCode.objects.filter(is_active=True)
        .filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
        )
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
    )


@dataclass(frozen=True)
class InviteCheck:
    is_valid: bool
    reason: str  # "" when valid; else not_found / inactive / expired / used_up
    message: str
    code: InviteCode | None

    @property
    def remaining_uses(self) -> int | None:
        return self.code.remaining_uses if self.code else None

    @property
    def expires_at(self) -> datetime | None:
        return self.code.expires_at if self.code else None


_REASONS = {
    "not_found": "No such invite code.",
    "inactive": "This invite code has been deactivated.",
    "expired": "This invite code has expired.",
    "used_up": "This invite code has no uses left.",
}


def invite_code_check(*, code: str, now: datetime | None = None) -> InviteCheck:
    """Explain whether ``code`` is usable, with the same rule as
    :func:`invite_codes_usable` (which is what sign-up enforces atomically)."""
    now = now or timezone.now()
    invite = InviteCode.objects.filter(code=normalize_invite_code(code)).first()
    if invite is None:
        reason = "not_found"
    elif not invite.is_active:
        reason = "inactive"
    elif invite.expires_at is not None and invite.expires_at <= now:
        reason = "expired"
    elif invite.max_uses is not None and invite.uses >= invite.max_uses:
        reason = "used_up"
    else:
        return InviteCheck(is_valid=True, reason="", message="", code=invite)
    return InviteCheck(is_valid=False, reason=reason, message=_REASONS[reason], code=invite)


def nickname_looks_taken(*, skeleton: str, exclude_pk: int | None = None) -> bool:
    """Whether another player's nickname has this confusable skeleton
    (:func:`accounts.nicknames.nickname_skeleton`)."""
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    return others.filter(nickname_skeleton=skeleton).exists()


def user_find_by_login(*, identifier: str) -> User | None:
    """A login names the site_id or the nickname, any letter case; site_id wins."""
    identifier = identifier.strip()
    if not identifier:
        return None
    candidates = list(User.objects.filter(Q(site_id__iexact=identifier) | Q(nickname__iexact=identifier))[:2])
    for user in candidates:
        if user.site_id.lower() == identifier.lower():
            return user
    return candidates[0] if candidates else None


# What :func:`daily_spend_limit_effective` reads of a user (the buyer's lock loads only these).
SPEND_LIMIT_FIELDS = (
    "daily_spend_limit",
    "pending_daily_spend_limit",
    "pending_limit_effective_at",
    "pending_limit_clears",
)


def daily_spend_limit_effective(*, user: User, now: datetime | None = None) -> int | None:
    """The limit in force now: a pending raise/removal applies once its
    cooling-off period has passed."""
    now = now or timezone.now()
    if user.pending_limit_effective_at and user.pending_limit_effective_at <= now:
        return None if user.pending_limit_clears else user.pending_daily_spend_limit
    return user.daily_spend_limit


def users_online_count(since: datetime) -> int:
    """Active players seen at or after ``since`` (``last_seen_at`` is written
    by ``accounts.activity``). The realtime app's live metrics read it through
    ``realtime.registry.register_online_players_source``."""
    return User.objects.filter(last_seen_at__gte=since, is_active=True).count()


# --- Profile composition ----------------------------------------------------
# Other apps add fields to the player's profile (balances, level, streak)
# without accounts importing them: each registers a function that takes users
# and returns {user_id: {field: value}} in one query.
ProfileContributor = Callable[[list[User]], dict[int, dict[str, Any]]]
_PROFILE_CONTRIBUTORS: list[ProfileContributor] = []


def register_profile_contributor(contributor: ProfileContributor) -> None:
    if contributor not in _PROFILE_CONTRIBUTORS:
        _PROFILE_CONTRIBUTORS.append(contributor)


def user_profiles(users: Iterable[User], *, contributed: bool = True) -> dict[int, dict[str, Any]]:
    """Profiles of ``users``; ``contributed=False`` leaves out other apps' fields
    (for a caller that already has them, like the dashboard)."""
    users = list(users)
    profiles: dict[int, dict[str, Any]] = {
        user.pk: {
            "id": user.pk,
            "site_id": user.site_id,
            "nickname": user.nickname,
            "phone_number": user.phone_number,
            "is_active": user.is_active,
            "is_admin": user.is_staff,
            "created_at": user.date_joined,
            "last_login": user.last_login or user.date_joined,
        }
        for user in users
    }
    for contributor in _PROFILE_CONTRIBUTORS if contributed else ():
        for user_id, fields in contributor(users).items():
            profiles[user_id].update(fields)
    return profiles


def user_profile(user: User) -> dict[str, Any]:
    return user_profiles([user])[user.pk]
