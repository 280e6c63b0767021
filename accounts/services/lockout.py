"""Login lockout: sliding windows of failed logins per account and per IP
(``casino.ratelimit``, settings ``LOGIN_LOCKOUT``), shared by every entry point
that checks a password (the API login, the admin login, Django's
``authenticate``) through :func:`accounts.services.auth.credentials_check`.

An attempt is *reserved* before its password is hashed: one atomic
add-and-count per window (:meth:`SlidingWindowLimit.reserve`). An attempt whose
count goes over a limit is taken back and refused (``login_locked``) without
hashing, so N parallel guesses against an account one failure short of the
limit check exactly one password. A wrong password keeps its reservation (it is
the failure record); a right one resets the account's window and takes back its
IP reservation.

Redis down: **fail closed**. Without the counters every guess would be free, so
a login is refused with 503 ``login_unavailable`` before any password is
checked; failing open would turn a Redis outage into an unlimited
password-guessing window. Taking back a reservation after a right password is
best effort (logged): the password was right, the login goes on.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings

from accounts.exceptions import LoginLocked, LoginUnavailable
from casino.ratelimit import SlidingWindowLimit, SlidingWindowUnavailable

logger = logging.getLogger(__name__)

# How long a client is told to wait when the counters' store is down.
UNAVAILABLE_RETRY_AFTER_SECONDS = 30


@dataclass
class LoginAttempt:
    """The reservations one login attempt holds in each window."""

    limits: list[SlidingWindowLimit]
    reservations: list[tuple[SlidingWindowLimit, str]] = field(default_factory=list)


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


def lockout_reserve(*, limits: list[SlidingWindowLimit]) -> LoginAttempt:
    """Count this attempt in every window before its password is checked.

    Raises ``login_locked`` (with the minutes to wait, rounded up) when a
    window is already full, and ``login_unavailable`` (503) when the counters
    cannot be reached; in both cases nothing stays counted.
    """
    attempt = LoginAttempt(limits=limits)
    over: list[SlidingWindowLimit] = []
    try:
        for limit in limits:
            reservation, count = limit.reserve()
            attempt.reservations.append((limit, reservation))
            if count > limit.limit:
                over.append(limit)
                break
        if over:
            _release(attempt)
            wait = max(limit.retry_after_seconds() for limit in over)
            raise LoginLocked(retry_after_minutes=max(1, math.ceil(wait / 60)))
    except SlidingWindowUnavailable as exc:
        _release_quietly(attempt)
        logger.warning("login refused: the lockout counters are unavailable (%s)", exc)
        raise LoginUnavailable(retry_after_seconds=UNAVAILABLE_RETRY_AFTER_SECONDS) from exc
    return attempt


def lockout_succeeded(*, attempt: LoginAttempt) -> None:
    """The password was right: clear the account's failures, take back the IP reservation."""
    account, *others = attempt.limits
    try:
        account.reset()
        for limit, reservation in attempt.reservations:
            if limit in others:
                limit.release(reservation)
    except SlidingWindowUnavailable:
        logger.warning("could not clear the login failures of %s", account.key, exc_info=True)


def _release(attempt: LoginAttempt) -> None:
    for limit, reservation in attempt.reservations:
        limit.release(reservation)
    attempt.reservations.clear()


def _release_quietly(attempt: LoginAttempt) -> None:
    with contextlib.suppress(SlidingWindowUnavailable):  # the store is down: they expire with the window
        _release(attempt)
