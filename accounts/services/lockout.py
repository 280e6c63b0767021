"""Login lockout: sliding windows of failed logins per account and per IP
(``casino.ratelimit``, settings ``LOGIN_LOCKOUT``)."""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings

from accounts.exceptions import LoginLocked
from casino.ratelimit import SlidingWindowLimit


def lockout_limits(*, account_key: str, ip: str | None) -> list[SlidingWindowLimit]:
    """The account's window first (a successful login resets it), then the IP's."""
    conf = settings.LOGIN_LOCKOUT
    window = timedelta(minutes=conf["WINDOW_MINUTES"])
    limits = [
        SlidingWindowLimit(f"login-fail:account:{account_key}", limit=conf["ACCOUNT_MAX_FAILURES"], window=window)
    ]
    if ip:
        limits.append(SlidingWindowLimit(f"login-fail:ip:{ip}", limit=conf["IP_MAX_FAILURES"], window=window))
    return limits


def lockout_check(*, limits: list[SlidingWindowLimit]) -> None:
    """Raise ``login_locked`` (with the minutes to wait, rounded up) while any window is full."""
    wait = max(limit.retry_after_seconds() for limit in limits)
    if wait > 0:
        raise LoginLocked(retry_after_minutes=max(1, math.ceil(wait / 60)))


def lockout_record_failure(*, limits: list[SlidingWindowLimit]) -> None:
    for limit in limits:
        limit.hit()
