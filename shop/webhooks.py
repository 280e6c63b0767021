"""Standard Webhooks signing and verification (https://www.standardwebhooks.com).

A delivery carries three headers:

* ``webhook-id``: the event's id, the same on every retry of that event;
* ``webhook-timestamp``: unix seconds of *this attempt*;
* ``webhook-signature``: space-separated ``v1,<signature>`` entries, where::

      signature = base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}"))

The id and the timestamp are inside the signed content, so neither can be
changed to dodge replay protection (the old webhook signed only the body).
A verified delivery is at most ``tolerance_seconds`` away from our clock in
either direction; the receiver dedupes on the id within that window.

Secrets look like ``whsec_<base64>``: the key is the base64-decoded part. A
secret without the prefix is taken as the raw key (its UTF-8 bytes). Several
secrets may be configured, newest first, during a rotation: a signature by any
of them is accepted, and a sender may sign with several (one ``v1`` entry each).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from shop.exceptions import (
    WebhookHeadersMissing,
    WebhookSignatureInvalid,
    WebhookTimestampInvalid,
    WebhookTimestampOutOfTolerance,
)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SIGNATURE_VERSION = "v1"

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


@dataclass(frozen=True)
class VerifiedWebhook:
    msg_id: str
    timestamp: int  # unix seconds, as sent

    @property
    def sent_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, tz=UTC)


def secret_key(secret: str) -> bytes:
    """The HMAC key of a configured secret (``whsec_<base64>`` or raw)."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("a webhook secret starting with whsec_ must continue with base64") from exc


def _signed_content(*, msg_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def _signature(secret: str, content: bytes) -> bytes:
    return base64.b64encode(hmac.new(secret_key(secret), content, hashlib.sha256).digest())


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature entry: ``v1,<base64 HMAC-SHA256>``."""
    content = _signed_content(msg_id=msg_id, timestamp=timestamp, body=body)
    return f"{SIGNATURE_VERSION},{_signature(secret, content).decode()}"


def signature_headers(*, secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a delivery, with one ``v1`` signature per secret."""
    if not secrets:
        raise ImproperlyConfigured("no webhook secret to sign with")
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: " ".join(sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets),
    }


def _offered_signatures(header: str) -> Iterable[bytes]:
    """The ``v1`` signatures in a header; other versions and junk are skipped."""
    for entry in header.split():
        version, _, signature = entry.partition(",")
        if version == SIGNATURE_VERSION and signature:
            yield signature.encode()


def verify(
    *,
    secrets: list[str],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
    tolerance_seconds: int,
) -> VerifiedWebhook:
    """Check a delivery's headers against ``body``; raise a
    :class:`~shop.exceptions.WebhookRejected`: :class:`WebhookHeadersMissing`,
    :class:`WebhookTimestampInvalid`, :class:`WebhookTimestampOutOfTolerance`
    or :class:`WebhookSignatureInvalid`.

    ``headers`` may be any mapping (Django's ``request.headers``, a dict); names
    are matched case-insensitively."""
    if not secrets:
        raise ImproperlyConfigured("no webhook secret to verify with")
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get(HEADER_ID, "").strip()
    raw_timestamp = lowered.get(HEADER_TIMESTAMP, "").strip()
    signature_header = lowered.get(HEADER_SIGNATURE, "").strip()
    if not (msg_id and raw_timestamp and signature_header):
        raise WebhookHeadersMissing()

    if not raw_timestamp.isascii() or not raw_timestamp.isdigit():
        raise WebhookTimestampInvalid()
    timestamp = int(raw_timestamp)
    now = now or timezone.now()
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        raise WebhookTimestampOutOfTolerance(
            f"webhook-timestamp is more than {tolerance_seconds} seconds away from the server's clock."
        )

    offered = list(_offered_signatures(signature_header))
    content = _signed_content(msg_id=msg_id, timestamp=timestamp, body=body)
    for secret in secrets:
        expected = _signature(secret, content)
        if any(hmac.compare_digest(expected, signature) for signature in offered):
            return VerifiedWebhook(msg_id=msg_id, timestamp=timestamp)
    raise WebhookSignatureInvalid()
