"""HTTP plumbing every app shares: who the client is.

:func:`client_ip` is the one place the project decides a request's client
address; the login lockout, the sign-up and invite throttles (every DRF throttle,
through ``casino.throttling``), the fraud rules and the webhook limits all use
it. Nothing else reads ``REMOTE_ADDR`` or ``X-Forwarded-For`` for a client's address.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from rest_framework.request import Request

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"
# Rate limits key an IPv6 client by its /64: one subscriber usually holds a whole /64.
IPV6_RATE_KEY_PREFIX = 64


def _address(text: str) -> IPAddress | None:
    """An address as a proxy writes it: ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``,
    ``[::1]:443``; ``None`` when it is not one."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from exc


def trusted_proxy_networks() -> tuple[IPNetwork, ...]:
    """``TRUSTED_PROXIES`` parsed (addresses or CIDR networks)."""
    return _networks(tuple(settings.TRUSTED_PROXIES))


def is_trusted_proxy(address: IPAddress) -> bool:
    return any(address in network for network in trusted_proxy_networks())


def client_ip(request: HttpRequest | Request) -> str:
    """The client's address.

    ``X-Forwarded-For`` counts only when ``TRUST_X_FORWARDED_FOR`` is on **and**
    the peer (``REMOTE_ADDR``) is one of ``TRUSTED_PROXIES``: anyone else could
    write anything there, so a direct client's header is ignored and its own
    address is the answer. From a trusted peer, the header is read from the
    right, where each proxy appended the address it was talking to: the last
    entry is the client of the nearest proxy; when that entry is itself a
    trusted proxy and ``TRUSTED_PROXY_COUNT`` allows another hop, the entry
    before it is read, and so on. Whatever a client wrote further left is never
    reached. An entry that is not an address stops the walk at the last address
    a trusted proxy vouched for.
    """
    peer = _address(str(request.META.get("REMOTE_ADDR", "") or ""))
    if peer is None:
        return UNKNOWN
    if not settings.TRUST_X_FORWARDED_FOR or not is_trusted_proxy(peer):
        return str(peer)
    hops = [hop for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if hop.strip()]
    client = peer
    for depth, hop in enumerate(reversed(hops), start=1):
        address = _address(hop)
        if address is None:
            break
        client = address
        if depth >= settings.TRUSTED_PROXY_COUNT or not is_trusted_proxy(address):
            break
    return str(client)


def rate_limit_key(ip: str) -> str:
    """The key a per-client rate limit counts under: the address, or an IPv6
    address's /64 network (a client can pick any address in its own /64)."""
    address = _address(ip)
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_RATE_KEY_PREFIX), strict=False))
    return str(address) if address is not None else ip
