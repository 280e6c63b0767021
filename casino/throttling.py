"""DRF throttles that know who the client is.

DRF's own throttles identify a client with ``BaseThrottle.get_ident``, which
reads ``X-Forwarded-For`` on its own terms (``NUM_PROXIES``), so a client that
writes the header itself could pick a fresh identity per request. Every
throttle in the project derives from :class:`ClientIpThrottle` instead, whose
``get_ident`` is :func:`casino.http.client_ip`, the one rule for the client
address (a test checks every view's throttles).

:class:`ClientIpRateThrottle` counts requests per client IP (an IPv6 client per
/64) in a sliding window of ``casino.ratelimit`` (Redis in full mode, exact and
atomic, moved by ``timezone.now()``), at the rate ``REST_FRAMEWORK
["DEFAULT_THROTTLE_RATES"][scope]`` gives, read on each request. Over the rate,
the answer is 429 ``rate_limited`` with ``Retry-After`` and
``retry_after_seconds``. Every request counts, refused ones too, so a client
that keeps hammering stays refused.

Redis down: these throttles **fail open** (the request goes on, a warning is
logged). They slow down enumeration and guessing on endpoints that need no
password (sign-up, invite validation), whose own checks still hold without
Redis; refusing every sign-up during a Redis outage would cost more than a few
minutes without the limit. The login lockout, which guards passwords, fails
closed instead (``accounts.services.lockout``).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from casino.http import client_ip, rate_limit_key
from casino.ratelimit import SlidingWindowLimit, SlidingWindowUnavailable

logger = logging.getLogger(__name__)


_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"20/hour"`` -> ``(20, 3600)`` (DRF's notation: second, minute, hour, day)."""
    try:
        count, period = rate.split("/")
        return int(count), _PERIOD_SECONDS[period.strip()[:1].lower()]
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"a throttle rate is '<count>/<second|minute|hour|day>', not {rate!r}") from exc


class ClientIpThrottle(BaseThrottle):
    """The base of every throttle in the project: the client is :func:`client_ip`."""

    def get_ident(self, request: Request) -> str:
        return client_ip(request)


class ClientIpRateThrottle(ClientIpThrottle):
    """At most ``DEFAULT_THROTTLE_RATES[scope]`` requests per client IP; a
    subclass names its ``scope``. No rate configured for the scope: no limit."""

    scope = ""

    def __init__(self) -> None:
        self.limit: SlidingWindowLimit | None = None

    def window(self) -> tuple[int, int] | None:
        """``(requests, seconds)`` of the scope's rate, read now (settings can change in tests)."""
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return parse_rate(str(rate)) if rate else None

    def allow_request(self, request: Request, view: APIView) -> bool:
        window = self.window()
        if window is None:
            return True
        requests, seconds = window
        self.limit = SlidingWindowLimit(self.counter_key(request), limit=requests, window=timedelta(seconds=seconds))
        try:
            return self.limit.hit() <= requests
        except SlidingWindowUnavailable:
            logger.warning("throttle %s not applied: the rate-limit store is unavailable", self.scope, exc_info=True)
            return True

    def counter_key(self, request: Request) -> str:
        """Whose requests count together: the client address."""
        return f"throttle:{self.scope}:{rate_limit_key(self.get_ident(request))}"

    def wait(self) -> float | None:
        if self.limit is None:
            return None
        try:
            return self.limit.retry_after_seconds()
        except SlidingWindowUnavailable:
            return None


class PlayerRateThrottle(ClientIpRateThrottle):
    """Per signed-in player rather than per address (players behind one address -- a café, a
    carrier's NAT -- must not share one budget); a request without a player counts by address
    (authentication refuses it anyway)."""

    def counter_key(self, request: Request) -> str:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return super().counter_key(request)
        return f"throttle:{self.scope}:player:{user.pk}"
