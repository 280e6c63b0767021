"""Request plumbing every request goes through.

* :class:`RequestIdMiddleware`: the request id, taken from ``X-Request-ID`` when
  sane, else generated; echoed in the response and bound to every log line.
* :class:`CopiesVersionMiddleware`: the version of the content kept per
  process (``casino.copies``) is read once a request, on first use.
* :class:`RequestLimitsMiddleware`: what a client can send that no view should
  see (NUL bytes, oversized bodies), and the database being unavailable, answered
  in the error envelope instead of a 500.
* :class:`LazyMessageMiddleware`: Django's message storage, opened only by a
  request that uses it (the admin's pages); an API request never does.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from typing import IO, Any

import structlog
from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject, empty

from casino.copies import copies_version_pinned
from casino.errors import (
    ApplicationError,
    InvalidCharacters,
    InvalidJson,
    NotFoundError,
    PayloadTooLarge,
    application_error_response,
    database_unavailable_error,
    is_database_unavailable,
)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        response["X-Request-ID"] = request_id
        return response


class CopiesVersionMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with copies_version_pinned():
            return self.get_response(request)


class _CappedStream:
    """The request body stream, refusing to yield more than ``limit`` bytes in
    all: past it, :class:`PayloadTooLarge`. Under WSGI the body stops at its
    Content-Length anyway; under ASGI a body sent without one (chunked) is
    whatever arrives, so this is what bounds it."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._consumed = 0

    def _count(self, data: bytes) -> bytes:
        self._consumed += len(data)
        if self._consumed > self._limit:
            raise PayloadTooLarge(max_bytes=self._limit)
        return data

    def _allowance(self, size: int | None) -> int:
        """Bytes to ask for: ``size``, but never more than one past the limit."""
        room = self._limit - self._consumed + 1
        return room if size is None or size < 0 else min(size, room)

    def read(self, size: int | None = -1) -> bytes:
        return self._count(self._stream.read(self._allowance(size)))

    def readline(self, size: int | None = -1) -> bytes:
        return self._count(self._stream.readline(self._allowance(size)))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)  # close(), seekable(), ...: the stream's own


def _body_size(request: HttpRequest) -> int:
    """The body's size as far as it is known before reading it: its
    Content-Length, or, under ASGI (which has received the whole body already),
    the size of what arrived when that is more."""
    try:
        declared = max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        declared = 0  # as Django reads it: an unreadable length is no body
    stream = request._stream
    if getattr(stream, "seekable", lambda: False)():
        received = stream.seek(0, os.SEEK_END)
        stream.seek(0)
        return max(declared, received)
    return declared


class RequestLimitsMiddleware:
    """Refuses, before any view, session or database sees the request:

    * a NUL byte in the path (404 ``not_found``: no such resource can exist),
      the query string, a header, a cookie, a URL-encoded form or a text body
      (400 ``invalid_characters``), or a raw one in a JSON body (400 ``invalid_json``;
      the JSON parser refuses the escaped ``\\u0000``); PostgreSQL cannot store
      NUL, and a lookup with one was a 500;
    * a body over ``REQUEST_BODY_MAX_BYTES`` (413 ``payload_too_large``): by its
      ``Content-Length`` (nothing read), or under ASGI by what arrived (a chunked
      body says no length); and caps the body stream at that size for whatever
      reads it later.

    And turns what a non-DRF view raises into the envelope (DRF views have
    ``casino.errors.api_exception_handler``): an :class:`ApplicationError` (such
    as the cap above) and a database that is unavailable (503 with
    ``Retry-After``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self._refusal(request)
        if refusal is None:
            request._stream = _CappedStream(request._stream, settings.REQUEST_BODY_MAX_BYTES)  # type: ignore[assignment]
            try:
                refusal = self._body_refusal(request)
            except ApplicationError as exc:  # the body ran past the limit while it was read
                refusal = exc
        if refusal is not None:
            return application_error_response(refusal)
        return self.get_response(request)

    @staticmethod
    def _refusal(request: HttpRequest) -> ApplicationError | None:
        if "\x00" in request.path:
            return NotFoundError("No endpoint at this path: it contains a NUL character.")
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in query or "%00" in query:
            return InvalidCharacters("The query string contains a NUL character.")
        for key, value in request.META.items():
            if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
                return InvalidCharacters("A request header contains a NUL character.")
        # A quoted cookie value may spell NUL as the octal escape \000, which parsing decodes.
        if any("\x00" in name or "\x00" in value for name, value in request.COOKIES.items()):
            return InvalidCharacters("A cookie contains a NUL character.")
        limit = settings.REQUEST_BODY_MAX_BYTES
        if _body_size(request) > limit:
            return PayloadTooLarge(f"The request body is larger than {limit} bytes.", max_bytes=limit)
        return None

    @staticmethod
    def _body_refusal(request: HttpRequest) -> ApplicationError | None:
        """A raw NUL byte in a body (or ``%00`` in a URL-encoded form): never
        valid JSON or text, never storable. Refused for every view, including
        those that take the raw bytes whatever their content type (the payment
        webhook stored refused bodies, a 500 with a NUL). The body is read here
        (it is within the limit) and stays cached for the view; binary bodies
        (multipart forms with files, ``application/octet-stream``) are left alone."""
        content_type = request.content_type or ""
        if content_type.startswith("multipart/") or content_type == "application/octet-stream":
            return None
        if _body_size(request) == 0:
            return None
        body = request.body
        if content_type == "application/json" or content_type.endswith("+json"):
            return InvalidJson("The JSON body contains a NUL byte.") if b"\x00" in body else None
        if b"\x00" in body:
            return InvalidCharacters("The request body contains a NUL character.")
        if content_type == "application/x-www-form-urlencoded" and b"%00" in body:
            return InvalidCharacters("The form contains a NUL character.")
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> JsonResponse | None:
        if isinstance(exception, ApplicationError):
            return application_error_response(exception)
        if is_database_unavailable(exception):
            return application_error_response(database_unavailable_error(exception))
        return None


class LazyMessageMiddleware(MessageMiddleware):
    """``django.contrib.messages``' middleware, its storage opened on first use.

    Django opens the storage (a cookie signer and the session's, ~20 us) for
    every request, and saves it after every response. Here ``request._messages``
    is a lazy object: a view that adds a message, or a page that lists them (the
    admin's base template), opens it as before, and only then is it saved."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        storage = getattr(request, "_messages", None)
        if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:  # type: ignore[attr-defined]
            return response
        return super().process_response(request, response)
