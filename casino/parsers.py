"""The one JSON parser of the API (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``).

DRF's own ``JSONParser`` hands the request stream straight to ``json.load``: no
size limit (Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only guards ``request.body``
and forms), a ``RecursionError`` (a 500) on deeply nested arrays, and ``\\u0000``
passed through to PostgreSQL, which cannot store it. This parser, before and
while parsing:

* reads at most ``REQUEST_BODY_MAX_BYTES`` + 1 bytes: more is 413
  ``payload_too_large`` (``casino.middleware.RequestLimitsMiddleware`` already
  refuses a too-large ``Content-Length`` before the view runs);
* refuses nesting deeper than ``REQUEST_JSON_MAX_DEPTH`` (400 ``invalid_json``),
  counted on the text before ``json.loads`` builds anything;
* refuses NUL, raw or escaped (400 ``invalid_json``);
* answers syntax errors, bad encodings and ``NaN``/``Infinity`` as DRF does
  (400 ``malformed_request``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from casino.errors import InvalidJson, PayloadTooLarge

# A JSON string literal (escapes included), in the unrolled-loop form that keeps
# the regex engine linear.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
# \u0000 after an even number of backslashes (so not the text "\\u0000").
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether the JSON ``text`` nests arrays/objects deeper than ``limit``.
    Brackets inside strings do not count; malformed text is left to the parser."""
    depth = 0
    for char in _NOT_A_BRACKET.sub("", _STRING.sub('""', text)):
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def json_has_nul(text: str) -> bool:
    return "\x00" in text or _ESCAPED_NUL.search(text) is not None


class JSONParser(BaseParser):
    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(
        self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        if stream is None:
            return None
        limit = settings.REQUEST_BODY_MAX_BYTES
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(max_bytes=limit)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        max_depth = settings.REQUEST_JSON_MAX_DEPTH
        if json_depth_exceeds(text, max_depth):
            raise InvalidJson(f"The JSON body is nested deeper than {max_depth} levels.", max_depth=max_depth)
        if json_has_nul(text):
            raise InvalidJson("The JSON body contains a NUL character (\\u0000).")
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def _refuse_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (DRF's ``STRICT_JSON``)."""
    raise ValueError(f"Out of range float values are not JSON compliant: {name!r}")
