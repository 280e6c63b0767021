"""``casino.http.client_ip``: the one rule for a request's client address, and
the proof that everything uses it (every DRF throttle, no other reader of the
headers)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.settings import api_settings

from casino.http import client_ip, rate_limit_key
from casino.throttling import ClientIpThrottle, parse_rate

BASE_DIR = Path(django_settings.BASE_DIR)


def request(remote_addr: str | None = "203.0.113.7", forwarded: str | None = None) -> Any:
    extra: dict[str, str] = {}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    built = RequestFactory().get("/", **extra)
    if remote_addr is None:
        del built.META["REMOTE_ADDR"]
    else:
        built.META["REMOTE_ADDR"] = remote_addr
    return built


@pytest.fixture
def behind_balancer(settings: Any) -> Any:
    settings.TRUST_X_FORWARDED_FOR = True
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "::1/128"]
    settings.TRUSTED_PROXY_COUNT = 1
    return settings


def test_without_trust_the_header_is_ignored(settings: Any) -> None:
    settings.TRUST_X_FORWARDED_FOR = False

    assert client_ip(request("10.0.0.2", forwarded="198.51.100.1")) == "10.0.0.2"


def test_a_direct_client_cannot_choose_its_address_with_the_header(behind_balancer: Any) -> None:
    # Given a peer that is not a trusted proxy, When it sends X-Forwarded-For, Then its own address counts
    assert client_ip(request("203.0.113.7", forwarded="198.51.100.1")) == "203.0.113.7"
    assert client_ip(request("203.0.113.7", forwarded="10.0.0.5")) == "203.0.113.7"


def test_from_the_balancer_the_address_it_appended_counts_not_what_the_client_wrote(behind_balancer: Any) -> None:
    assert client_ip(request("10.0.0.2", forwarded="198.51.100.1")) == "198.51.100.1"
    assert client_ip(request("10.0.0.2", forwarded="6.6.6.6, 7.7.7.7, 198.51.100.1")) == "198.51.100.1"
    assert client_ip(request("10.0.0.2")) == "10.0.0.2"  # a probe from inside: no header


def test_with_two_proxies_the_walk_goes_one_trusted_hop_further(behind_balancer: Any) -> None:
    # Given CDN (10.9.0.0/16, trusted) -> balancer -> app, and two proxies allowed
    behind_balancer.TRUSTED_PROXY_COUNT = 2

    # Then the entry before the CDN's address is the client; an untrusted last entry stops the walk
    assert client_ip(request("10.0.0.2", forwarded="6.6.6.6, 198.51.100.1, 10.9.0.7")) == "198.51.100.1"
    assert client_ip(request("10.0.0.2", forwarded="6.6.6.6, 198.51.100.1")) == "198.51.100.1"
    # And no further than the configured count, even through trusted addresses
    assert client_ip(request("10.0.0.2", forwarded="198.51.100.1, 10.1.1.1, 10.9.0.7")) == "10.1.1.1"


def test_malformed_entries_stop_the_walk_at_the_last_vouched_address(behind_balancer: Any) -> None:
    assert client_ip(request("10.0.0.2", forwarded="198.51.100.1, garbage")) == "10.0.0.2"
    assert client_ip(request("10.0.0.2", forwarded="")) == "10.0.0.2"
    assert client_ip(request("10.0.0.2", forwarded=" , ")) == "10.0.0.2"


def test_addresses_are_normalised(behind_balancer: Any) -> None:
    assert client_ip(request("10.0.0.2", forwarded="198.51.100.1:5123")) == "198.51.100.1"
    assert client_ip(request("10.0.0.2", forwarded="[2001:db8::1]:443")) == "2001:db8::1"
    assert client_ip(request("::ffff:10.0.0.2", forwarded="2001:DB8::1")) == "2001:db8::1"
    assert client_ip(request("::1", forwarded="198.51.100.1")) == "198.51.100.1"


def test_a_missing_peer_address_is_unknown_whatever_the_header(behind_balancer: Any) -> None:
    assert client_ip(request(None, forwarded="198.51.100.1")) == "unknown"
    assert client_ip(request("not-an-ip", forwarded="198.51.100.1")) == "unknown"


def test_a_misconfigured_proxy_list_fails_loudly(settings: Any) -> None:
    settings.TRUST_X_FORWARDED_FOR = True
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "not-a-network"]

    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        client_ip(request("10.0.0.2", forwarded="198.51.100.1"))


def test_rate_limits_key_an_ipv6_client_by_its_64() -> None:
    assert rate_limit_key("2001:db8:1:2:aaaa::1") == rate_limit_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert rate_limit_key("2001:db8:1:3::1") != rate_limit_key("2001:db8:1:2::1")
    assert rate_limit_key("198.51.100.1") == "198.51.100.1"
    assert rate_limit_key("unknown") == "unknown"


def test_throttle_rates_parse_drf_notation() -> None:
    assert parse_rate("20/hour") == (20, 3600)
    assert parse_rate("30/min") == (30, 60)
    assert parse_rate("5/s") == (5, 1)
    with pytest.raises(ImproperlyConfigured):
        parse_rate("twenty per hour")


# --- Everything uses it ---------------------------------------------------------------


def _views(patterns: list[Any]) -> list[Any]:
    found: list[Any] = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found += _views(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
            if view_class is not None:
                found.append(view_class)
    return found


def test_every_throttle_in_the_project_identifies_clients_with_client_ip() -> None:
    # Given every view the URLconf serves, and DRF's default throttles
    throttles = {
        throttle for view in _views(get_resolver().url_patterns) for throttle in getattr(view, "throttle_classes", [])
    }
    throttles |= set(api_settings.DEFAULT_THROTTLE_CLASSES)

    # Then each one derives from ClientIpThrottle (whose get_ident is client_ip), and some exist
    assert throttles, "no throttle found: the sign-up and invite throttles should be"
    assert [throttle for throttle in throttles if not issubclass(throttle, ClientIpThrottle)] == []
    assert {throttle.scope for throttle in throttles if hasattr(throttle, "scope")} >= {"signup", "invite_validate"}


READERS = re.compile(r"REMOTE_ADDR|X_FORWARDED_FOR|X-Forwarded-For|get_ident\(", re.IGNORECASE)
# Where reading them is the point: the one implementation, settings, the bench (which plays the
# balancer), and /metrics' network check, which wants the *peer* (a direct connection), not the client.
ALLOWED = {"casino/http.py", "casino/throttling.py", "casino/settings.py", "bench/settings.py", "casino/surface.py"}


def test_no_other_code_reads_the_client_address_headers() -> None:
    offenders = []
    for path in sorted(BASE_DIR.rglob("*.py")):
        relative = path.relative_to(BASE_DIR).as_posix()
        top = relative.split("/", 1)[0]
        if top.startswith(".") or top in {"var", "node_modules"} or "/tests/" in f"/{relative}" or relative in ALLOWED:
            continue
        if top == "bench" and relative != "bench/settings.py":
            continue  # the load generator sends the header, as a balancer would
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if READERS.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")

    assert offenders == [], "read the client address with casino.http.client_ip"
