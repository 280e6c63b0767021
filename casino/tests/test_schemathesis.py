"""Property-based contract tests: schemathesis generates requests for every
operation of the live OpenAPI schema (drf-spectacular, ``/api/schema/``) and
checks each answer against it: never a 5xx, only documented status codes and
content types, bodies that match the documented shapes.

Every authenticated case that may change state runs as a fresh player (made by
the real sign-up) with its own token, so an operation that revokes sessions
(logout-all, self-exclusion) or spends a once-a-day claim cannot turn the cases
after it into a wall of 401s or 409s; reads, which change nothing, share one
player. Operations whose success needs a secret the generator cannot guess (an
invite code, a password, a refresh token) get the real one in every other
positive case, so their success responses are checked too.

Server-Sent Events streams never end, so they get a test of their own; a
coverage test then proves every operation was reached, and got past
authentication where it needs it. Unparseable JSON, which the generator never
sends, is checked on every operation that takes a body.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from django.test.testcases import QuietWSGIRequestHandler
from hypothesis.internal.conjecture.utils import many
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts import services
from accounts.models import InviteCode
from accounts.tokens import tokens_issue
from realtime.management.commands.vapid_keys import vapid_key_pair

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.long,
    # Hypothesis notices the global `random` state change while it draws a case: the push
    # thread of this process, sending the previous request's events, uses it meanwhile
    # (channels-redis prefixes every message with random bytes). No strategy here does.
    pytest.mark.filterwarnings(
        "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
    ),
]


@pytest.fixture
def generator_works() -> None:
    # An environment problem, reported as such rather than as an AttributeError deep in generation.
    if not hasattr(many, "more"):
        pytest.fail(
            f"hypothesis {hypothesis.__version__} removed many.more(), which hypothesis-jsonschema "
            "(needed by schemathesis) calls: pin hypothesis<6.170.10 in requirements-dev.txt",
            pytrace=False,
        )


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PASSWORD = "Correct-Horse-9"
INVITE_CODE = "SCHEMATHESIS"
# The player API this module was written against: each of these must succeed at least once.
MUST_SUCCEED_PREFIXES = ("/api/auth/", "/api/invite/")

Operation = tuple[str, str]  # (METHOD, path)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SECRET_OPERATIONS = {("POST", "/api/auth/signup"), ("POST", "/api/auth/login"), ("POST", "/api/auth/refresh")}
# Filled by the property test, read by the coverage test that runs after it.
STATUSES_SEEN: dict[Operation, set[int]] = defaultdict(set)
PROPERTY_CASES_RUN: Counter[Operation] = Counter()
SCHEMA_OPERATIONS: dict[Operation, bool] = {}  # -> needs authentication
_positive_cases: dict[Operation, itertools.count[int]] = defaultdict(itertools.count)
_unique = itertools.count(1)


@pytest.fixture
def api_schema(live_server: Any, settings: Any) -> Any:
    # Hundreds of generated failed logins come from one IP: keep the IP
    # lockout out of the way so valid credentials can still reach a 200.
    settings.LOGIN_LOCKOUT = {**settings.LOGIN_LOCKOUT, "IP_MAX_FAILURES": 100_000}
    # Web push configured, so its endpoints answer (their 503 without keys is tested in realtime).
    settings.VAPID_PUBLIC_KEY, settings.VAPID_PRIVATE_KEY = vapid_key_pair()
    # Likewise the per-IP sign-up and invite throttles (their 429 is tested in accounts).
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"signup": "100000/hour", "invite_validate": "100000/minute"},
    }
    InviteCode.objects.create(code=INVITE_CODE, max_uses=None, note="schemathesis")
    # Of the methods an operation does not have, only OPTIONS runs code of its own (DRF's metadata).
    config = schemathesis.Config.from_dict({"phases": {"coverage": {"unexpected-methods": ["OPTIONS"]}}})
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", config=config)
    for result in loaded.get_all_operations():
        operation = result.ok()
        SCHEMA_OPERATIONS[(operation.method.upper(), operation.path)] = _needs_auth(operation.definition.raw)
    return loaded


def _needs_auth(definition: dict[str, Any]) -> bool:
    return bool(definition.get("security"))


def _streams_events(definition: dict[str, Any]) -> bool:
    return any("text/event-stream" in (r.get("content") or {}) for r in definition.get("responses", {}).values())


def event_stream_operations(ctx: Any) -> bool:
    # An endless Server-Sent Events body never completes on the WSGI live server
    # (Django buffers an async stream whole there): these get their own test below.
    return _streams_events(ctx.operation.definition.raw)


schema = schemathesis.pytest.from_fixture("api_schema").exclude(event_stream_operations)


def _fresh_player() -> Any:
    """A player made by the real sign-up, so every app's per-player set-up (the
    wallet and its bonus...) is there, as for any real player. Its own
    site_id/phone range keeps it apart from what generated sign-ups create."""
    n = next(_unique)
    return services.user_signup(
        site_id=f"st-player-{n}",
        nickname=f"st-nick-{n}",
        phone_number=f"+9990{n:011d}",
        password=PASSWORD,
        invite_code=INVITE_CODE,
    ).user


def _bearer(player: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens_issue(user=player).access}"}


@pytest.fixture
def http(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[requests.Session]:
    """A keep-alive session: one live-server thread and one database connection
    serve every case, instead of a new thread and a new PostgreSQL backend per
    request. The dev server sends headers and body in separate writes, so with
    keep-alive Nagle's algorithm would hold each response ~40 ms for the
    client's delayed ACK: turn it off on the server's sockets."""
    monkeypatch.setattr(QuietWSGIRequestHandler, "disable_nagle_algorithm", True)
    with requests.Session() as session:
        yield session


@pytest.fixture
def reader(api_schema: Any) -> dict[str, str]:
    """One player's token for every read: a GET can neither revoke nor change anything."""
    return _bearer(_fresh_player())


def _substitute_secrets(case: Case) -> None:
    """In every other positive case, put in the secret the generator cannot guess."""
    key = (case.method.upper(), case.path)
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE or not isinstance(case.body, dict):
        return
    if key not in SECRET_OPERATIONS or next(_positive_cases[key]) % 2:
        return
    if key == ("POST", "/api/auth/signup"):
        case.body["invite_code"] = INVITE_CODE
        case.body["password"] = PASSWORD
        # schemathesis 4.1.4 rewrites the phone pattern with its length bounds into
        # ``^(\+){1}?$`` and so never generates a valid phone number.
        case.body["phone_number"] = f"+9991{next(_unique):011d}"
    elif key == ("POST", "/api/auth/login"):
        case.body["site_id"] = _fresh_player().site_id
        case.body["password"] = PASSWORD
    elif key == ("POST", "/api/auth/refresh"):
        case.body["refresh_token"] = tokens_issue(user=_fresh_player()).refresh


@schema.parametrize()
@pytest.mark.usefixtures("generator_works")
@hypothesis.settings(
    # Six cases per operation (about a hundred operations): enough to get past authentication
    # and to meet every documented refusal, at a cost the whole suite can carry.
    max_examples=6,
    derandomize=True,
    database=None,
    deadline=None,
    # No shrinking: a failure is reported as first found (with its curl command),
    # which keeps a failing run about as fast as a passing one.
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_every_operation_answers_as_its_schema_documents(
    case: Case, reader: dict[str, str], http: requests.Session
) -> None:
    # Given a token where the operation needs one: the shared reader's for a read,
    # a fresh player's, for this case alone, for anything that may change state
    headers: dict[str, str] = {}
    if _needs_auth(case.operation.definition.raw):
        headers = reader if case.method.upper() in SAFE_METHODS else _bearer(_fresh_player())
    _substitute_secrets(case)

    # When the generated request is sent to the live server
    response = case.call_and_validate(session=http, headers=headers, checks=CHECKS, timeout=10)

    # Then (checked by call_and_validate) no 5xx, and status, content type and body are as documented
    STATUSES_SEEN[(case.method.upper(), case.path)].add(response.status_code)
    PROPERTY_CASES_RUN[(case.operation.method.upper(), case.operation.path)] += 1


def test_the_event_stream_refuses_a_malformed_interval_as_documented(live_server: Any, api_schema: Any) -> None:
    # Given the Server-Sent Events operations, which the property test cannot drive
    streams = [r.ok() for r in api_schema.get_all_operations() if _streams_events(r.ok().definition.raw)]
    assert [(op.method.upper(), op.path) for op in streams] == [("GET", "/api/metrics/stream")], (
        "a new event stream: give it a test here (the property test skips streams)"
    )
    stream = streams[0]

    # When the interval is not a number
    response = requests.get(f"{live_server.url}{stream.path}", params={"interval": "soon"}, timeout=10)

    # Then it is refused before any streaming starts, with the documented error body
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "interval" in response.json()["fields"]
    stream.Case(query={"interval": "soon"}).validate_response(response, checks=CHECKS)
    STATUSES_SEEN[(stream.method.upper(), stream.path)].add(response.status_code)


def test_every_operation_was_reached_and_got_past_authentication() -> None:
    # Given the property test above ran in this session
    if not PROPERTY_CASES_RUN:
        pytest.skip("reads what the property test above recorded; run the whole module")

    # When its record is compared with the schema
    unreached = sorted(f"{m} {p}" for m, p in SCHEMA_OPERATIONS if not STATUSES_SEEN.get((m, p)))
    stuck_at_401 = sorted(
        f"{m} {p}" for (m, p), needs_auth in SCHEMA_OPERATIONS.items() if needs_auth and STATUSES_SEEN[(m, p)] <= {401}
    )
    never_succeeded = {
        f"{m} {p}": sorted(STATUSES_SEEN[(m, p)])
        for m, p in SCHEMA_OPERATIONS
        if p.startswith(MUST_SUCCEED_PREFIXES) and not any(200 <= s < 300 for s in STATUSES_SEEN[(m, p)])
    }

    # Then every operation was called, authenticated ones got past auth, the player API succeeded
    assert len(SCHEMA_OPERATIONS) >= 12  # the auth API alone has 12 operations
    assert unreached == []
    assert stuck_at_401 == []
    assert never_succeeded == {}


def test_a_malformed_json_body_gets_a_documented_400_on_every_operation_that_takes_one(
    live_server: Any, api_schema: Any
) -> None:
    # Given every operation that takes a JSON body, called by an authenticated player
    operations = [
        result.ok()
        for result in api_schema.get_all_operations()
        if "application/json" in (result.ok().definition.raw.get("requestBody") or {}).get("content", {})
    ]
    assert len(operations) >= 8

    for operation in operations:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"malformed-{next(_unique)}",  # so endpoints that require one read the body
            **_bearer(_fresh_player()),
        }

        # When the body is not JSON at all
        response = requests.request(
            operation.method.upper(), f"{live_server.url}{operation.path}", data=b'{"oops', headers=headers, timeout=10
        )

        # Then the answer is a 400 (malformed_request, or an earlier refusal such as a
        # webhook's missing signature) whose body matches what the schema documents
        assert response.status_code == 400, (operation.label, response.text)
        operation.Case(media_type="application/json").validate_response(response, checks=CHECKS)
