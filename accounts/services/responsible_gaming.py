"""Responsible gaming: self-exclusion and the daily spend limit."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.exceptions import InvalidSelfExclusion, InvalidSpendLimit, SelfExclusionCannotShorten
from accounts.locks import user_lock
from accounts.models import User
from accounts.selectors import daily_spend_limit_effective
from accounts.services._shared import utc_iso
from accounts.services.auth import tokens_revoke_all
from accounts.services.staff import LIFT_SELF_EXCLUSION
from casino.permissions import staff_permission_require
from casino.services import audit_record
from realtime.services import CLOSE_SELF_EXCLUDED

SPEND_LIMIT_COOLING_OFF = timedelta(hours=24)
MAX_SELF_EXCLUSION = timedelta(days=365 * 5)


def self_exclusion_set(*, user: User, until: datetime) -> User:
    """Exclude oneself from play until ``until``. It can be extended but not
    shortened by the player; every session ends at once and open sockets
    close with 4403."""
    now = timezone.now()
    if until <= now:
        raise InvalidSelfExclusion()
    if until - now > MAX_SELF_EXCLUSION:
        raise InvalidSelfExclusion("The longest exclusion is five years.")
    if user.self_excluded_until and user.self_excluded_until > until:
        raise SelfExclusionCannotShorten(self_excluded_until=utc_iso(user.self_excluded_until))
    with transaction.atomic(durable=True):
        User.objects.filter(pk=user.pk).update(self_excluded_until=until)
        user.self_excluded_until = until
        tokens_revoke_all(user=user, close_code=CLOSE_SELF_EXCLUDED)
    return user


def self_exclusion_lift(*, actor: User, user: User, reason: str) -> User:
    """Staff only (audited; ``accounts.lift_self_exclusion``): end a player's
    self-exclusion early."""
    staff_permission_require(actor=actor, permission=LIFT_SELF_EXCLUSION)
    with transaction.atomic(durable=True):
        previous = user.self_excluded_until
        User.objects.filter(pk=user.pk).update(self_excluded_until=None)
        user.self_excluded_until = None
        audit_record(
            actor=actor,
            action="self_exclusion_lift",
            target=user,
            reason=reason,
            data={"previous_until": utc_iso(previous) if previous else None},
        )
    return user


def daily_spend_limit_set(*, user: User, limit: int | None) -> User:
    """Set (``limit`` > 0) or remove (``None``) the daily spend limit.

    Lowering, or setting a first limit, applies at once. Raising or removing
    waits 24 hours (``SPEND_LIMIT_COOLING_OFF``), so a limit set in a calm
    moment cannot be undone in a heated one.
    """
    if limit is not None and limit <= 0:
        raise InvalidSpendLimit()
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = user_lock(user_id=user.pk)
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
