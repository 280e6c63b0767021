"""Every input a client can send gets a 4xx in the error envelope, through the real
URLconf: NUL bytes in paths, query strings, headers and JSON bodies, JSON nested
deeper than REQUEST_JSON_MAX_DEPTH, and bodies over REQUEST_BODY_MAX_BYTES (by
their Content-Length, and by their actual bytes when they do not say it)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings
from rest_framework.test import APIClient

from casino.parsers import json_depth_exceeds, json_has_nul

pytestmark = pytest.mark.django_db

ENVELOPE_KEYS = {"error", "message"}


def _envelope(response: Any) -> dict[str, Any]:
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert body.keys() >= ENVELOPE_KEYS, body
    return body


@pytest.fixture
def anonymous() -> APIClient:
    client = APIClient()
    client.raise_request_exception = False  # a 500 is an answer here, not a test crash
    return client


@pytest.fixture
def player(auth_client: APIClient) -> APIClient:
    auth_client.raise_request_exception = False
    return auth_client


# Endpoints that read a JSON body, with and without a logged-in player.
JSON_ENDPOINTS = [
    ("anonymous", "post", "/api/auth/login"),
    ("anonymous", "post", "/api/auth/signup"),
    ("anonymous", "post", "/api/invite/validate"),
    ("player", "patch", "/api/auth/me"),
    ("player", "post", "/api/shop/buy"),
    ("player", "put", "/api/auth/responsible-gaming/spend-limit"),
]


def _send(request: pytest.FixtureRequest, who: str, method: str, path: str, body: bytes | str) -> Any:
    client: APIClient = request.getfixturevalue(who)
    return getattr(client, method)(
        path, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"input-limits-{path}"
    )


# --- NUL bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("player", "/api/shop/transactions/%00/settle"),
        ("player", "/api/shop/transactions/R2503%00ABC/settle"),
        ("anonymous", "/api/shop/transactions/%00/settle"),
        ("player", "/api/shop/transactions/%00"),
        ("anonymous", "/sandbox/checkout/%00"),
        ("anonymous", "/admin/%00/"),
    ],
)
def test_a_nul_byte_in_the_path_is_a_404_in_the_envelope(request: pytest.FixtureRequest, who: str, path: str) -> None:
    # Given a client, logged in or not
    client: APIClient = request.getfixturevalue(who)

    # When it asks for a path with an encoded NUL (the receipt path was a 500: PostgreSQL refused the lookup)
    response = client.post(path) if path.endswith("settle") else client.get(path)

    # Then the answer is a JSON 404, no lookup made
    assert response.status_code == 404
    assert _envelope(response)["error"] == "not_found"


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("player", "/api/shop/transactions?offset=%00"),
        ("player", "/api/streak/history?month=2026-01%00"),
        ("anonymous", "/api/metrics/global?x=a%00b"),
        ("anonymous", "/health?probe=%00"),
    ],
)
def test_a_nul_byte_in_the_query_string_is_a_400(request: pytest.FixtureRequest, who: str, path: str) -> None:
    client: APIClient = request.getfixturevalue(who)

    response = client.get(path)

    assert response.status_code == 400
    assert _envelope(response)["error"] == "invalid_characters"


def test_a_nul_byte_in_the_session_cookie_is_a_400_not_a_500(anonymous: APIClient) -> None:
    # Given a session cookie with a NUL in it (the session lookup was a 500)
    anonymous.cookies[settings.SESSION_COOKIE_NAME] = "abcdefgh\x00ijklmnop"

    # When the client opens the back office
    response = anonymous.get("/admin/")

    # Then it is refused before the session is looked up
    assert response.status_code == 400
    assert _envelope(response)["error"] == "invalid_characters"


def test_a_nul_byte_in_a_header_is_a_400(player: APIClient) -> None:
    response = player.post("/api/streak/claim", HTTP_IDEMPOTENCY_KEY="key\x00with-nul")

    assert response.status_code == 400
    assert _envelope(response)["error"] == "invalid_characters"


@pytest.mark.parametrize(("who", "method", "path"), JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        '{"site_id": "a\\u0000b", "nickname": "x", "code": "x", "product_id": "x", "password": "x"}',
        '{"site_id\\u0000": "a"}',
        '{"nested": {"deeper": ["\\u0000"]}}',
        b'{"site_id": "a\x00b"}',
    ],
    ids=["escaped-in-a-value", "escaped-in-a-key", "escaped-deep-inside", "raw-byte"],
)
def test_a_nul_in_a_json_body_is_invalid_json(
    request: pytest.FixtureRequest, who: str, method: str, path: str, body: str | bytes
) -> None:
    # When a client sends JSON holding NUL (PostgreSQL text cannot store it)
    response = _send(request, who, method, path, body)

    # Then the body is refused as a whole, whatever the endpoint would have done with it
    assert response.status_code == 400
    assert _envelope(response)["error"] == "invalid_json"


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_WEBHOOK_ID": "msg_1", "HTTP_WEBHOOK_TIMESTAMP": "1", "HTTP_WEBHOOK_SIGNATURE": "v1,bm9wZQ=="}],
    ids=["unsigned", "wrongly-signed"],
)
def test_a_raw_nul_byte_in_a_raw_json_body_is_refused_too(anonymous: APIClient, headers: dict[str, str]) -> None:
    # Given the payment webhook, which takes the raw bytes (no JSON parser) and stored refused ones (a 500)
    # When a body with a raw NUL byte arrives
    response = anonymous.post(
        "/api/shop/webhook/payment",
        data=b'{"type": "payment.succeeded\x00"}',
        content_type="application/json",
        **headers,
    )

    # Then it is refused as invalid JSON before the view runs
    assert response.status_code == 400
    assert _envelope(response)["error"] == "invalid_json"


@pytest.mark.parametrize("body", ["username=a%00b&password=x", "username=a\x00b&password=x"], ids=["encoded", "raw"])
def test_a_nul_in_a_form_is_a_400(anonymous: APIClient, body: str) -> None:
    response = anonymous.post("/admin/login/", data=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert _envelope(response)["error"] == "invalid_characters"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-anything"])
def test_a_nul_byte_in_a_body_of_any_text_type_is_a_400(anonymous: APIClient, content_type: str) -> None:
    # The webhook takes any content type and stored refused bodies: a NUL made that a 500
    response = anonymous.post("/api/shop/webhook/payment", data=b"hello\x00world", content_type=content_type)

    assert response.status_code == 400
    assert _envelope(response)["error"] == "invalid_characters"


def test_an_escaped_backslash_before_u0000_is_not_a_nul(anonymous: APIClient) -> None:
    # "\\u0000" in JSON is the six characters \u0000, not a NUL: the endpoint decides
    response = anonymous.post(
        "/api/auth/login", data='{"site_id": "a\\\\u0000", "password": "wrong"}', content_type="application/json"
    )

    assert response.status_code != 500
    assert _envelope(response)["error"] != "invalid_json"


# --- Nesting ------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "method", "path"), JSON_ENDPOINTS)
def test_json_nested_a_thousand_deep_is_invalid_json_not_a_500(
    request: pytest.FixtureRequest, who: str, method: str, path: str
) -> None:
    # When a client sends an array nested 1,000 deep (it was a RecursionError, a 500, before login)
    response = _send(request, who, method, path, "[" * 1000 + "]" * 1000)

    # Then it is a 400 naming the limit
    assert response.status_code == 400
    body = _envelope(response)
    assert body["error"] == "invalid_json"
    assert body["max_depth"] == settings.REQUEST_JSON_MAX_DEPTH


def test_nesting_up_to_the_limit_reaches_the_endpoint(anonymous: APIClient) -> None:
    depth = settings.REQUEST_JSON_MAX_DEPTH
    at_limit = json.dumps({"site_id": json.loads("[" * (depth - 1) + "]" * (depth - 1)), "password": "x"})
    over_limit = json.dumps({"site_id": json.loads("[" * depth + "]" * depth), "password": "x"})

    accepted = anonymous.post("/api/auth/login", data=at_limit, content_type="application/json")
    refused = anonymous.post("/api/auth/login", data=over_limit, content_type="application/json")

    assert accepted.status_code == 400
    assert _envelope(accepted)["error"] == "validation_error"  # the serializer saw it
    assert _envelope(refused)["error"] == "invalid_json"


def test_malformed_json_is_still_malformed_request(anonymous: APIClient) -> None:
    for body in ('{"oops', "NaN", '{"a": Infinity}', b"\xff\xfe"):
        response = anonymous.post("/api/auth/login", data=body, content_type="application/json")

        assert response.status_code == 400
        assert _envelope(response)["error"] == "malformed_request"


@pytest.mark.parametrize(
    ("text", "limit", "exceeds"),
    [
        ("[[[]]]", 3, False),
        ("[[[[]]]]", 3, True),
        ('{"a": {"b": {"c": 1}}}', 3, False),
        ('{"a": {"b": {"c": {}}}}', 3, True),
        ('["[[[[[[[[[[", "]]]]]]"]', 1, False),  # brackets inside strings do not count
        ('["\\"[[[[[[", 1]', 1, False),  # nor after an escaped quote
        pytest.param("[]" * 10_000, 1, False, id="wide-is-fine"),
    ],
)
def test_depth_is_counted_outside_strings(text: str, limit: int, exceeds: bool) -> None:
    assert json_depth_exceeds(text, limit) is exceeds


@pytest.mark.parametrize(
    ("text", "has_nul"),
    [
        ('"\\u0000"', True),
        ('"\\\\\\u0000"', True),  # an escaped backslash, then \u0000
        ('"\\\\u0000"', False),  # the text \u0000
        ('"\x00"', True),
        ('"\\u00000"', True),
        ('"\\u0001"', False),
    ],
)
def test_nul_is_found_raw_or_escaped(text: str, has_nul: bool) -> None:
    assert json_has_nul(text) is has_nul


# --- Size ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "method", "path"), JSON_ENDPOINTS)
def test_a_body_over_the_limit_is_413_before_it_is_parsed(
    request: pytest.FixtureRequest, who: str, method: str, path: str
) -> None:
    # Given a JSON body one byte over REQUEST_BODY_MAX_BYTES (it used to be parsed whole)
    padding = settings.REQUEST_BODY_MAX_BYTES - len('{"site_id": ""}') + 1
    body = '{"site_id": "' + "a" * padding + '"}'
    assert len(body) == settings.REQUEST_BODY_MAX_BYTES + 1

    # When a client sends it
    response = _send(request, who, method, path, body)

    # Then it is refused by size
    assert response.status_code == 413
    body_json = _envelope(response)
    assert body_json["error"] == "payload_too_large"
    assert body_json["max_bytes"] == settings.REQUEST_BODY_MAX_BYTES


@override_settings(REQUEST_BODY_MAX_BYTES=1000, DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_the_limit_is_a_setting(anonymous: APIClient) -> None:
    small = json.dumps({"site_id": "a" * 900, "password": "x"})
    large = json.dumps({"site_id": "a" * 1000, "password": "x"})

    assert anonymous.post("/api/auth/login", data=small, content_type="application/json").status_code == 400
    refused = anonymous.post("/api/auth/login", data=large, content_type="application/json")
    assert refused.status_code == 413
    assert _envelope(refused)["max_bytes"] == 1000


@override_settings(REQUEST_BODY_MAX_BYTES=1000, DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_form_to_a_non_api_page_is_413(anonymous: APIClient) -> None:
    # When a form bigger than the limit is posted to the admin login (not a DRF view)
    response = anonymous.post("/admin/login/", {"username": "x" * 2000, "password": "y"})

    # Then it is the same 413 in the envelope
    assert response.status_code == 413
    assert _envelope(response)["error"] == "payload_too_large"


@override_settings(REQUEST_BODY_MAX_BYTES=1000, DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_an_oversized_webhook_body_is_413(anonymous: APIClient) -> None:
    response = anonymous.post("/api/shop/webhook/payment", data="x" * 1001, content_type="application/json")

    assert response.status_code == 413
    assert _envelope(response)["error"] == "payload_too_large"


def _asgi_post(path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, Any]]:
    """POST through Django's ASGI handler, the body sent in chunks (as with
    Transfer-Encoding: chunked, no Content-Length unless given)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected until the answer is sent
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(ASGIHandler()(scope, receive, send))
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], json.loads(body)


@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_BODY_MAX_BYTES=1000, DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
@pytest.mark.parametrize(
    "content_length",
    [None, b"10"],
    ids=["no-content-length", "understated-content-length"],
)
def test_a_body_larger_than_it_says_is_cut_off_at_the_limit(content_length: bytes | None) -> None:
    # Given a JSON body of 4 KB sent in chunks, saying no length (or a false, small one)
    body = json.dumps({"site_id": "a" * 4000, "password": "x"}).encode()
    chunks = [body[i : i + 512] for i in range(0, len(body), 512)]
    headers = [(b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", content_length))

    # When it reaches the login endpoint through the ASGI server
    status, answer = _asgi_post("/api/auth/login", chunks, headers)

    # Then reading stops at the limit with a 413
    assert status == 413
    assert answer["error"] == "payload_too_large"
