"""One error format for the whole API.

Every error body is ``{"error": "<code>", "message": "<human text>", ...details}``.
Domain code raises :class:`ApplicationError` (or a subclass); DRF's own
exceptions, Django's 404/500 and unknown paths are turned into the same shape
by :func:`api_exception_handler` and the JSON error views below.

A database that cannot be reached (no free connection slot, refused, timed
out, restarting) is not a bug: it is 503 ``database_unavailable`` with
``Retry-After``, whether a DRF view (:func:`api_exception_handler`), another
view (``casino.middleware.RequestLimitsMiddleware``) or a middleware
(:func:`server_error_view`) met it.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A refusal a client can act on: a stable ``code``, a human ``message``,
    an HTTP ``status`` and optional details merged into the body."""

    code: str = "application_error"
    message: str = "The request could not be completed."
    status: int = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        **details: Any,
    ) -> None:
        self.code = code or self.code
        self.message = message or self.message
        self.status = status or self.status
        self.details = details
        super().__init__(self.message)

    def as_body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class NotFoundError(ApplicationError):
    code = "not_found"
    message = "Not found."
    status = status.HTTP_404_NOT_FOUND


class ConflictError(ApplicationError):
    code = "conflict"
    status = status.HTTP_409_CONFLICT


class InvalidJson(ApplicationError):
    """A JSON body the API refuses although it parses: nested deeper than
    ``REQUEST_JSON_MAX_DEPTH`` or holding a NUL character (``\\u0000``, which
    PostgreSQL text cannot store). Syntax errors stay ``malformed_request``."""

    code = "invalid_json"
    message = "The JSON body is not acceptable."
    status = status.HTTP_400_BAD_REQUEST


class InvalidCharacters(ApplicationError):
    """A NUL byte in the query string, a header, a cookie or a URL-encoded form
    (``casino.middleware.RequestLimitsMiddleware``)."""

    code = "invalid_characters"
    message = "The request contains a NUL character."
    status = status.HTTP_400_BAD_REQUEST


class PayloadTooLarge(ApplicationError, RequestDataTooBig):
    """A body over ``REQUEST_BODY_MAX_BYTES``. Also a Django ``RequestDataTooBig``,
    so code that meets it outside a DRF view (a form reading ``request.POST``)
    reaches :func:`bad_request_view`, which answers 413 too."""

    code = "payload_too_large"
    message = "The request body is too large."
    status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


# Seconds a client should wait before retrying when the database is unavailable.
DATABASE_RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(ApplicationError):
    code = "database_unavailable"
    message = "The service is busy or briefly unavailable; retry shortly."
    status = status.HTTP_503_SERVICE_UNAVAILABLE


def is_database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` means "no database connection to be had" rather than a bug:
    a Django ``OperationalError`` raised from psycopg without a SQLSTATE (connect
    failed or refused, connection lost, pool timeout) or with a connection (08),
    resource (53: too many connections) or shutdown/start-up (57P01-57P03) state;
    in embedded mode, SQLite's "database is locked"."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.OperationalError):
        return "database is locked" in str(cause)
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a runtime requirement
        return False
    if not isinstance(cause, psycopg.OperationalError):
        return False
    sqlstate = cause.sqlstate
    return sqlstate is None or sqlstate.startswith(("08", "53")) or sqlstate in {"57P01", "57P02", "57P03"}


def database_unavailable_error(exc: BaseException) -> DatabaseUnavailable:
    """The 503 to answer for ``exc`` (see :func:`is_database_unavailable`), logged once."""
    logger.warning("database unavailable, answering 503: %s: %s", type(exc).__name__, str(exc).strip()[:300])
    return DatabaseUnavailable(retry_after_seconds=DATABASE_RETRY_AFTER_SECONDS)


def _retry_after_header(body: dict[str, Any]) -> dict[str, str]:
    """``Retry-After`` for a body that says ``retry_after_seconds``."""
    seconds = body.get("retry_after_seconds")
    return {"Retry-After": str(int(seconds))} if isinstance(seconds, (int, float)) else {}


# DRF exception class -> (code, status) of our envelope.
_DRF_CODES: dict[type[Exception], str] = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.Throttled: "rate_limited",
}


def _field_messages(detail: Any, path: str = "") -> dict[str, list[str]]:
    """Validation errors as ``{field: [messages]}``, nested serializers and lists
    of objects flattened to dotted paths (``keys.p256dh``, ``items.0.name``), so
    every value has the one documented shape: a list of strings."""
    found: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            for field, messages in _field_messages(value, f"{path}.{key}" if path else str(key)).items():
                found.setdefault(field, []).extend(messages)
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        for index, item in enumerate(detail):
            if item:  # DRF puts {} at the places of a list that were valid
                for field, messages in _field_messages(item, f"{path}.{index}" if path else str(index)).items():
                    found.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        found.setdefault(path or "non_field_errors", []).extend(str(item) for item in detail)
    else:
        found.setdefault(path or "non_field_errors", []).append(str(detail))
    return found


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every error leaves in the common envelope."""
    headers: dict[str, str] = {}
    body: dict[str, Any]
    code: int
    detail: Any
    if is_database_unavailable(exc):
        exc = database_unavailable_error(exc)
    elif isinstance(exc, RequestDataTooBig) and not isinstance(exc, ApplicationError):
        exc = PayloadTooLarge(max_bytes=settings.REQUEST_BODY_MAX_BYTES)
    if isinstance(exc, ApplicationError):
        body, code = exc.as_body(), exc.status
        headers.update(_retry_after_header(body))
    elif isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = {
            "error": "validation_error",
            "message": _first_message(detail),
            "fields": _field_messages(detail),
        }
        code = status.HTTP_400_BAD_REQUEST
    elif isinstance(exc, (InvalidToken, TokenError)):
        body = {"error": "invalid_token", "message": "The token is invalid or expired."}
        code = status.HTTP_401_UNAUTHORIZED
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    elif isinstance(exc, drf_exceptions.APIException):
        error_code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
        detail = exc.detail
        if isinstance(detail, dict) and "code" in detail and "detail" in detail:
            detail = detail["detail"]
        body = {"error": error_code, "message": _first_message(detail)}
        code = exc.status_code
        wait = getattr(exc, "wait", None) if isinstance(exc, drf_exceptions.Throttled) else None
        if wait is not None:
            body["retry_after_seconds"] = int(wait)
            headers.update(_retry_after_header(body))
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        if isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
            # Authentication problems are always 401 here (never DRF's 403 fallback).
            code = status.HTTP_401_UNAUTHORIZED
            headers.setdefault("WWW-Authenticate", 'Bearer realm="api"')
    elif isinstance(exc, Http404):
        body, code = {"error": "not_found", "message": "Not found."}, status.HTTP_404_NOT_FOUND
    elif isinstance(exc, DjangoPermissionDenied):
        body = {"error": "permission_denied", "message": "You do not have permission to do this."}
        code = status.HTTP_403_FORBIDDEN
    else:
        return None  # a real bug: let Django log it and answer 500 via handler500
    from rest_framework.views import set_rollback  # rest_framework.views imports our auth class

    set_rollback()
    return Response(body, status=code, headers=headers)


def error_response(code: str, message: str, status_code: int, **details: Any) -> JsonResponse:
    body = {"error": code, "message": message, **details}
    return JsonResponse(body, status=status_code, headers=_retry_after_header(body))


def application_error_response(exc: ApplicationError) -> JsonResponse:
    """An :class:`ApplicationError` met outside a DRF view, in the same envelope."""
    return error_response(exc.code, exc.message, exc.status, **exc.details)


def not_found_view(request: HttpRequest, exception: Exception | None = None, **kwargs: Any) -> JsonResponse:
    return error_response("not_found", f"No endpoint at {request.path}.", status.HTTP_404_NOT_FOUND)


def server_error_view(request: HttpRequest) -> JsonResponse:
    # Django calls this while handling the exception: a database that is down
    # under a middleware (the session saved on the way out) is a 503, not a bug.
    current = sys.exc_info()[1]
    if current is not None and is_database_unavailable(current):
        return application_error_response(database_unavailable_error(current))
    return error_response(
        "internal_error", "An unexpected error occurred; it has been logged.", status.HTTP_500_INTERNAL_SERVER_ERROR
    )


def bad_request_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    # Django's SuspiciousOperation path: PayloadTooLarge (ours, raised while a
    # form reads an oversized body) and Django's own "data too big" are 413s.
    if isinstance(exception, ApplicationError):
        return application_error_response(exception)
    if isinstance(exception, RequestDataTooBig):
        return application_error_response(PayloadTooLarge(max_bytes=settings.REQUEST_BODY_MAX_BYTES))
    return error_response("bad_request", "The request is malformed.", status.HTTP_400_BAD_REQUEST)


def permission_denied_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response("permission_denied", "You do not have permission to do this.", status.HTTP_403_FORBIDDEN)


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]  # DRF's classes take no parameters at run time
    """The common error envelope, for the OpenAPI schema."""

    error = serializers.CharField(help_text="Stable snake_case error code.")
    message = serializers.CharField(help_text="Human-readable explanation.")


class ValidationErrorSerializer(ErrorSerializer):
    """A 400: ``validation_error`` with per-field messages under ``fields``, or another
    400 code without them (``malformed_request``, ``invalid_json``, ``invalid_characters``,
    a domain refusal such as ``invalid_self_exclusion``)."""


# "fields" would shadow Serializer.fields as a class attribute; declare it directly.
ValidationErrorSerializer._declared_fields["fields"] = serializers.DictField(
    child=serializers.ListField(child=serializers.CharField()),
    required=False,
    help_text="Per-field messages; present when error is validation_error.",
)
