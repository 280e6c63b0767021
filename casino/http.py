"""HTTP plumbing every app shares."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request


def client_ip(request: HttpRequest | Request) -> str:
    """The client's address. Behind the load balancer ``REMOTE_ADDR`` is the
    balancer; it appends the client to ``X-Forwarded-For``, so the last entry
    is the one it vouches for (only trusted when ``TRUST_X_FORWARDED_FOR``)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and settings.TRUST_X_FORWARDED_FOR:
        return str(forwarded.split(",")[-1].strip())
    return str(request.META.get("REMOTE_ADDR", "") or "unknown")
