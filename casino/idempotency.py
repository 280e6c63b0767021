"""Stripe-style idempotent endpoints.

Decorate a DRF view method with :func:`idempotent`. When the client sends
``Idempotency-Key`` (or ``X-Idempotency-Key``), scoped to the authenticated
user, a later request with the same key and the same fingerprint (method,
path, query and canonical JSON body) gets the first response's bytes back,
with header ``Idempotent-Replayed: true``; a different fingerprint is 409
``idempotency_key_reused``. The ``IdempotencyRecord``'s (user, key) unique
constraint decides the single winner among parallel requests. Two ways to
keep the record:

* **In the request's transaction** (the default, ``atomic=True``): one
  transaction holds the record, the view's writes and the stored response,
  and commits once (the response is stored with the transaction's last
  statement, the view's events'). The record is inserted first (``INSERT ... ON CONFLICT
  DO NOTHING``): a parallel twin waits on the uncommitted key and then finds
  the completed record and replays it; if the first rolled back, the twin
  runs. A view that raises (a refusal or a bug) or answers 5xx rolls back and
  stores nothing, so the same key may be sent again; a process that dies
  leaves nothing behind. The services a view calls open their transaction
  with :func:`casino.db.service_transaction`, which joins this one instead of
  insisting on being the outermost.
* **Around the view** (``atomic=False``, for views whose services must commit
  something even when they refuse, such as a fraud decision): the record is
  inserted ``in_progress`` in its own autocommitted statement, the view runs
  (its services own their transactions), and the response is stored after. A
  retry while the first still runs is 409 ``idempotency_key_in_use``; if the
  process dies in between, the key stays "in progress" until
  ``IDEMPOTENCY_LOCK_TIMEOUT`` and a retry then runs the view again --
  harmless, because every money-moving service is itself idempotent on a
  natural key (ledger keys, order keys).

A view whose service is idempotent on the key by itself -- it stores the key
with its effect under a unique constraint and answers a retry from it (the
shop's money order) -- skips the record: ``natural_key`` (a function of the
request) says when. Its retries are answered by the service, with the
effect as it stands now, and ``Idempotent-Replayed: true`` set by the view.
Records expire after ``IDEMPOTENCY_KEY_TTL`` (a scheduled task deletes them).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, connection
from django.http import HttpResponse, HttpResponseBase
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casino.db import UnitOfWork, insert_or_raise, one_or_none
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
            resolved = _resolve_existing(user=user, key=key, fingerprint=fingerprint, now=now)
        if resolved is not None:
            return resolved
        # None: the first request failed and removed its record meanwhile: claim again
    raise IdempotencyKeyInUse()


_INSERT_SQL = (
    "INSERT INTO casino_idempotencyrecord (user_id, key, request_method, request_path, request_hash, state,"
    " response_content_type, created_at, locked_until, expires_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, '', %s, %s, %s) ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
)
_COMPLETE_SQL = (
    "UPDATE casino_idempotencyrecord SET state = %s, response_status = %s, response_content_type = %s,"
    " response_body = %s WHERE id = %s"
)


def _insert_claim(*, user_id: int, key: str, fingerprint: str, request: Request, now: datetime) -> int | None:
    """Insert the in-progress record in the current transaction; its id, or None
    when the key is taken (after waiting for a twin's transaction to end)."""
    stamp = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            [
                user_id,
                key,
                request.method or "",
                request.path[:512],
                fingerprint,
                IdempotencyRecord.State.IN_PROGRESS,
                stamp(now),
                stamp(now + settings.IDEMPOTENCY_LOCK_TIMEOUT),
                stamp(now + settings.IDEMPOTENCY_KEY_TTL),
            ],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


COMPLETED_FIELDS = ("state", "response_status", "response_content_type", "response_body")


def _completed(record_id: int, response: HttpResponseBase) -> IdempotencyRecord:
    """The record as :func:`_store_response` leaves it (the fields of ``COMPLETED_FIELDS``),
    for an UPDATE queued on the request's unit of work."""
    return IdempotencyRecord(
        pk=record_id,
        state=IdempotencyRecord.State.COMPLETED,
        response_status=response.status_code,
        response_content_type=response.get("Content-Type", "application/json"),
        response_body=response.content,  # type: ignore[attr-defined]
    )


def _store_response(record_id: int, response: HttpResponseBase) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _COMPLETE_SQL,
            [
                IdempotencyRecord.State.COMPLETED,
                response.status_code,
                response.get("Content-Type", "application/json"),
                response.content,  # type: ignore[attr-defined]
                record_id,
            ],
        )


class _Rollback(Exception):
    """Leave the request's transaction without committing, answering ``response``."""

    def __init__(self, response: HttpResponseBase) -> None:
        self.response = response


def _render(view: APIView, request: Request, response: HttpResponseBase, args: Any, kwargs: Any) -> HttpResponseBase:
    # DRF annotates Response; any HttpResponseBase is finalized the same way.
    response = view.finalize_response(request, cast(Response, response), *args, **kwargs)
    if hasattr(response, "render"):
        response.render()
    return response


def _run_in_transaction(
    handler: Callable[..., HttpResponseBase],
    view: APIView,
    request: Request,
    key: str,
    args: Any,
    kwargs: Any,
) -> HttpResponseBase:
    """The record, the view and its stored response in one transaction (the module docstring)."""
    fingerprint = request_fingerprint(request)
    for _attempt in range(3):
        now = timezone.now()
        try:
            with UnitOfWork(request=True) as unit:
                record_id = _insert_claim(
                    user_id=request.user.pk or 0, key=key, fingerprint=fingerprint, request=request, now=now
                )
                if record_id is None:
                    claimed = _resolve_existing(user=request.user, key=key, fingerprint=fingerprint, now=now)
                    if claimed is None:
                        continue  # the holder rolled back and its record went with it: claim again
                    if isinstance(claimed, HttpResponse):
                        return claimed
                    record_id = claimed.pk
                response = _render(view, request, handler(view, request, *args, **kwargs), args, kwargs)
                if response.status_code >= 500:
                    raise _Rollback(response)
                # The stored response and the view's queued rows (its events, its last updates)
                # in the transaction's last statement (one round trip where the database allows).
                unit.defer_update(_completed(record_id, response), COMPLETED_FIELDS)
                unit.flush()
                return response
        except _Rollback as rollback:
            return rollback.response
    raise IdempotencyKeyInUse()


def _resolve_existing(
    *, user: Any, key: str, fingerprint: str, now: datetime
) -> IdempotencyRecord | HttpResponse | None:
    """The key is taken by a committed record: replay it, refuse, or take over an
    abandoned one (returned, now locked by this request). None: no record any more."""
    existing = one_or_none(IdempotencyRecord.objects.filter(user=user, key=key))
    if existing is None:
        return None
    if existing.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    if existing.state == IdempotencyRecord.State.COMPLETED:
        return _replay(existing)
    if existing.locked_until > now:
        raise IdempotencyKeyInUse()
    # Abandoned by a dead process (its transaction rolled back): take it over,
    # unless another retry took it first.
    lock_until = now + settings.IDEMPOTENCY_LOCK_TIMEOUT
    taken = IdempotencyRecord.objects.filter(
        pk=existing.pk, state=IdempotencyRecord.State.IN_PROGRESS, locked_until=existing.locked_until
    ).update(locked_until=lock_until)
    if not taken:
        raise IdempotencyKeyInUse()
    existing.locked_until = lock_until
    return existing


def _run_around(
    handler: Callable[..., HttpResponseBase],
    view: APIView,
    request: Request,
    key: str,
    args: Any,
    kwargs: Any,
) -> HttpResponseBase:
    """The record in its own statements before and after the view (the module docstring)."""
    now = timezone.now()
    claimed = _claim(user=request.user, key=key, fingerprint=request_fingerprint(request), request=request, now=now)
    if isinstance(claimed, HttpResponse):
        return claimed
    record = claimed
    mine = IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS, locked_until=record.locked_until
    )
    try:
        response = _render(view, request, handler(view, request, *args, **kwargs), args, kwargs)
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
        response_body=response.content,  # type: ignore[attr-defined]
    )
    return response


def idempotent(
    *,
    required: bool = False,
    atomic: bool = True,
    natural_key: Callable[[Request], bool] | None = None,
) -> Callable[[Handler], Handler]:
    """Make a DRF view method (``post``, ``patch``...) idempotent per user and key.

    ``atomic``: keep the record in the request's transaction (True) or around
    the view (False). ``natural_key(request)`` True: keep none, the view's
    service is idempotent on the key by itself (the module docstring)."""

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
            if natural_key is not None and natural_key(request):
                return handler(view, request, *args, **kwargs)
            run = _run_in_transaction if atomic else _run_around
            return run(handler, view, request, key, args, kwargs)

        wrapper.idempotent = True  # type: ignore[attr-defined]
        wrapper.idempotency_required = required  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator
