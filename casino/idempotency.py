"""Stripe-style idempotent endpoints.

Decorate a DRF view method with :func:`idempotent`. When the client sends
``Idempotency-Key`` (or ``X-Idempotency-Key``), scoped to the authenticated
user:

1. the first request inserts an ``IdempotencyRecord`` in state ``in_progress``
   (one autocommitted INSERT; the (user, key) unique constraint decides the
   single winner among parallel requests);
2. the winner runs the view (its services own their transactions, so a
   refusal can still commit what it must keep, such as a fraud decision) and
   then stores the rendered response. If the process dies in between, the key
   stays "in progress" until ``IDEMPOTENCY_LOCK_TIMEOUT`` and a retry runs the
   view again -- harmless, because every money-moving service is itself
   idempotent on a natural key (ledger keys, order keys);
3. a later request with the same key and the same fingerprint (method, path,
   query and canonical JSON body) gets the stored bytes back, with header
   ``Idempotent-Replayed: true``; a different fingerprint is 409
   ``idempotency_key_reused``; a retry while the first still runs is 409
   ``idempotency_key_in_use``.

A view that raises (a refusal or a bug) stores nothing: its transaction rolled
back, the record is removed, and the same key may be sent again. Records
expire after ``IDEMPOTENCY_KEY_TTL`` (a scheduled task deletes them).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpResponse, HttpResponseBase
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino.db import insert_or_raise, one_or_none
from casino.errors import ApplicationError
from casino.models import IdempotencyRecord

IDEMPOTENCY_HEADERS = ("Idempotency-Key", "X-Idempotency-Key")
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

Handler = TypeVar("Handler", bound=Callable[..., HttpResponseBase])


class IdempotencyKeyRequired(ApplicationError):
    code = "idempotency_key_required"
    message = "This endpoint requires an Idempotency-Key header."
    status = status.HTTP_400_BAD_REQUEST


class IdempotencyKeyInvalid(ApplicationError):
    code = "idempotency_key_invalid"
    message = f"The Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters."
    status = status.HTTP_400_BAD_REQUEST


class IdempotencyKeyReused(ApplicationError):
    """THE ``idempotency_key_reused`` refusal of the project: a key seen before
    with different parameters (here the request; in the ledger, the posting).
    ``economy.exceptions.IdempotencyConflict`` is this class."""

    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request."
    status = status.HTTP_409_CONFLICT


class IdempotencyAuthenticationRequired(ApplicationError):
    code = "not_authenticated"
    message = "Idempotent endpoints need an authenticated user."
    status = status.HTTP_401_UNAUTHORIZED


class IdempotencyKeyInUse(ApplicationError):
    code = "idempotency_key_in_use"
    message = "A request with this Idempotency-Key is still being processed; retry shortly."
    status = status.HTTP_409_CONFLICT


def idempotency_key_from(request: Request) -> str | None:
    for header in IDEMPOTENCY_HEADERS:
        value = request.headers.get(header)
        if value is not None:
            value = value.strip()
            if not value or len(value) > MAX_KEY_LENGTH or not value.isascii() or not value.isprintable():
                raise IdempotencyKeyInvalid()
            return value
    return None


def request_fingerprint(request: Request) -> str:
    """SHA-256 over method, path, sorted query and canonical JSON body. The
    path without its trailing slash: ``/x`` and ``/x/`` are one route, so a
    retry through the client's slash-stripping proxy is the same request."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    query = "&".join(sorted(request.META.get("QUERY_STRING", "").split("&")))
    raw = "\n".join([request.method or "", request.path.rstrip("/"), query, body])
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""),
        status=record.response_status,
        content_type=record.response_content_type or "application/json",
    )
    response[REPLAY_HEADER] = "true"
    return response


def _claim(
    *, user: Any, key: str, fingerprint: str, request: Request, now: datetime
) -> IdempotencyRecord | HttpResponse:
    """Insert the in-progress record, or resolve the existing one."""
    lock_until = now + settings.IDEMPOTENCY_LOCK_TIMEOUT
    for _attempt in range(3):
        record = IdempotencyRecord(
            user=user,
            key=key,
            request_method=request.method or "",
            request_path=request.path[:512],
            request_hash=fingerprint,
            created_at=now,
            locked_until=lock_until,
            expires_at=now + settings.IDEMPOTENCY_KEY_TTL,
        )
        try:
            insert_or_raise(record)
            return record
        except IntegrityError:
            existing = one_or_none(IdempotencyRecord.objects.filter(user=user, key=key))
        if existing is None:
            continue  # the first request failed and removed its record meanwhile: claim again
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if existing.state == IdempotencyRecord.State.COMPLETED:
            return _replay(existing)
        if existing.locked_until > now:
            raise IdempotencyKeyInUse()
        # Abandoned by a dead process (its transaction rolled back): take it over,
        # unless another retry took it first.
        taken = IdempotencyRecord.objects.filter(
            pk=existing.pk, state=IdempotencyRecord.State.IN_PROGRESS, locked_until=existing.locked_until
        ).update(locked_until=lock_until)
        if not taken:
            raise IdempotencyKeyInUse()
        existing.locked_until = lock_until
        return existing
    raise IdempotencyKeyInUse()


def idempotent(*, required: bool = False) -> Callable[[Handler], Handler]:
    """Make a DRF view method (``post``, ``patch``...) idempotent per user and key."""

    def decorator(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(view: APIView, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
            key = idempotency_key_from(request)
            if key is None:
                if required:
                    raise IdempotencyKeyRequired()
                return handler(view, request, *args, **kwargs)
            if not request.user.is_authenticated:
                raise IdempotencyAuthenticationRequired()
            now = timezone.now()
            claimed = _claim(
                user=request.user, key=key, fingerprint=request_fingerprint(request), request=request, now=now
            )
            if isinstance(claimed, HttpResponse):
                return claimed
            record = claimed
            mine = IdempotencyRecord.objects.filter(
                pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS, locked_until=record.locked_until
            )
            try:
                response = handler(view, request, *args, **kwargs)
                # DRF annotates Response; any HttpResponseBase is finalized the same way.
                response = view.finalize_response(request, cast(Response, response), *args, **kwargs)
                if hasattr(response, "render"):
                    response.render()
            except BaseException:
                mine.delete()  # a refusal or a bug: nothing to replay, the key may be sent again
                raise
            if response.status_code >= 500:
                mine.delete()
                return response
            mine.update(
                state=IdempotencyRecord.State.COMPLETED,
                response_status=response.status_code,
                response_content_type=response.get("Content-Type", "application/json"),
                response_body=response.content,
            )
            return response

        wrapper.idempotent = True  # type: ignore[attr-defined]
        wrapper.idempotency_required = required  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
