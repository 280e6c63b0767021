"""POST /api/telemetry/events, /api/actions and /api/actions/bulk: who may post,
what a batch may hold, and what an accepted batch writes (docs/telemetry.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from realtime.models import OutboxEvent
from realtime.telemetry import MAX_BODY_BYTES, MAX_EVENTS, TELEMETRY_EVENT_TYPE

EVENTS = "/api/telemetry/events"
ACTIONS = "/api/actions"
BULK = "/api/actions/bulk"
pytestmark = pytest.mark.django_db


@pytest.fixture
def telemetry_rate(settings: Any) -> Any:
    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "telemetry": rate},
        }

    return set_rate


def screen_view(n: int = 0, **properties: Any) -> dict[str, Any]:
    return {
        "name": "screen_view",
        "client_ts": f"2025-05-01T12:00:{n % 60:02d}.000Z",
        "properties": {"screen": f"lobby-{n}", **properties},
    }


def post(client: APIClient, path: str, body: Any) -> Any:
    return client.post(path, body, format="json")


def telemetry_rows() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=TELEMETRY_EVENT_TYPE).order_by("id"))


def test_a_batch_writes_one_client_reported_outbox_row_per_event(auth_client: APIClient) -> None:
    # Given three events of the registry
    user = auth_client.user  # type: ignore[attr-defined]
    events = [
        screen_view(1, previous_screen="home"),
        {"name": "game_open", "client_ts": "2025-05-01T12:00:02+09:00", "properties": {"game": "slot"}},
        {"name": "session_end"},
    ]
    # When the client posts them
    response = post(auth_client, EVENTS, {"events": events})
    # Then all three are accepted
    assert response.status_code == 202, response.json()
    assert response.json() == {"accepted": 3}
    # And each is an outbox row of the player, in order, saying what the client claimed
    rows = telemetry_rows()
    assert [row.user_id for row in rows] == [user.pk] * 3
    assert [row.data for row in rows] == [
        {
            "name": "screen_view",
            "client_ts": "2025-05-01T12:00:01.000Z",
            "properties": {"screen": "lobby-1", "previous_screen": "home"},
            "client_reported": True,
        },
        {
            "name": "game_open",
            "client_ts": "2025-05-01T12:00:02+09:00",
            "properties": {"game": "slot"},
            "client_reported": True,
        },
        {"name": "session_end", "client_ts": None, "properties": {}, "client_reported": True},
    ]
    # And the rows' time is the server's, the same for the whole batch
    assert len({row.occurred_at for row in rows}) == 1
    assert all(row.status == OutboxEvent.Status.PENDING for row in rows)


def test_the_batch_is_one_insert(auth_client: APIClient, django_assert_max_num_queries: Any) -> None:
    post(auth_client, EVENTS, {"events": [screen_view()]})  # the first request's activity mark out of the way

    with django_assert_max_num_queries(4) as captured:
        response = post(auth_client, EVENTS, {"events": [screen_view(n) for n in range(MAX_EVENTS)]})

    assert response.status_code == 202
    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and "realtime_outboxevent" in inserts[0]
    assert len(telemetry_rows()) == MAX_EVENTS + 1


def test_an_empty_batch_is_accepted_and_writes_nothing(auth_client: APIClient) -> None:
    response = post(auth_client, EVENTS, {"events": []})

    assert (response.status_code, response.json()) == (202, {"accepted": 0})
    assert telemetry_rows() == []


def test_personal_fields_are_dropped_at_any_depth_in_any_spelling(auth_client: APIClient) -> None:
    # Given events whose properties carry personal fields, top level and nested, in several spellings
    events = [
        screen_view(1, Email="a@example.com", PASSWORD="hunter22", phoneNumber="010-1234-5678"),
        {
            "name": "error_shown",
            "properties": {
                "code": "validation_error",
                "phone": "+15550001111",
                "context": {"field": "nickname", "user_email": "b@example.com", "new_password": "x"},
            },
        },
    ]
    # When they are posted
    response = post(auth_client, EVENTS, {"events": events})
    # Then they are accepted (not refused for the client's mistake), without the personal fields
    assert response.status_code == 202, response.json()
    stored = [row.data["properties"] for row in telemetry_rows()]
    assert stored == [{"screen": "lobby-1"}, {"code": "validation_error", "context": {"field": "nickname"}}]
    text = json.dumps([row.data for row in OutboxEvent.objects.all()])
    for secret in ("example.com", "hunter22", "1234-5678", "5550001111"):
        assert secret not in text


def test_more_than_the_events_limit_is_refused_and_nothing_is_written(auth_client: APIClient) -> None:
    response = post(auth_client, EVENTS, {"events": [screen_view(n) for n in range(MAX_EVENTS + 1)]})

    assert response.status_code == 413
    assert response.json()["error"] == "too_many_events"
    assert response.json()["max_events"] == MAX_EVENTS
    assert telemetry_rows() == []


def body_of_size(size: int, events: list[dict[str, Any]]) -> str:
    """``{"events": events, "padding": "xxx..."}``, exactly ``size`` bytes long."""
    base = json.dumps({"events": events, "padding": ""})
    return base[:-2] + "x" * (size - len(base)) + '"}'


SESSION_STARTS = [{"name": "session_start", "properties": {"referrer": "r" * 256, "entry_screen": "home"}}] * 40


def test_a_body_over_the_size_limit_is_refused_and_nothing_is_written(auth_client: APIClient) -> None:
    # Given 33 KB of otherwise acceptable events, fewer than the events limit
    body = body_of_size(33 * 1024, SESSION_STARTS)
    # When it is posted
    response = auth_client.post(EVENTS, body, content_type="application/json")
    # Then it is refused, and nothing is written
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert response.json()["max_bytes"] == MAX_BODY_BYTES
    assert telemetry_rows() == []


def test_a_body_just_within_the_size_limit_is_accepted(auth_client: APIClient) -> None:
    body = body_of_size(MAX_BODY_BYTES, SESSION_STARTS)
    assert len(body.encode()) == MAX_BODY_BYTES

    response = auth_client.post(EVENTS, body, content_type="application/json")

    assert response.status_code == 202, response.json()
    assert len(telemetry_rows()) == 40


@pytest.mark.parametrize(
    ("event", "field", "reason"),
    [
        ({"name": "jackpot_claimed", "properties": {}}, "name", "is not a known event name"),
        ({"name": "spin_button", "properties": {"bet_amount": "100"}}, "properties.bet_amount", "must be an integer"),
        ({"name": "spin_button", "properties": {"auto_spin": 1}}, "properties.auto_spin", "must be true or false"),
        ({"name": "spin_button", "properties": {"gold": 1}}, "properties.gold", "not a property of this event"),
        ({"name": "screen_view", "properties": {"screen": "s" * 65}}, "properties.screen", "longer than 64"),
        ({"name": "screen_view", "properties": {"screen": ["lobby"]}}, "properties.screen", "must be a string"),
        (
            {"name": "error_shown", "properties": {"context": {"deep": {"er": 1}}}},
            "properties.context",
            "deep: must be a string, number, boolean or null",
        ),
        (
            {"name": "error_shown", "properties": {"context": {f"k{n}": n for n in range(11)}}},
            "properties.context",
            "more than 10 keys",
        ),
        (
            {"name": "game_close", "properties": {"duration_ms": 2**53}},
            "properties.duration_ms",
            "must be between",
        ),
        (
            {"name": "product_view", "properties": {"price_shown": 10**400}},
            "properties.price_shown",
            "must be between",
        ),
    ],
)
def test_an_event_that_breaks_the_registry_refuses_the_whole_batch(
    auth_client: APIClient, event: dict[str, Any], field: str, reason: str
) -> None:
    # Given a batch of good events with one bad event at index 2
    batch = [screen_view(0), screen_view(1), event, screen_view(3)]
    # When it is posted
    response = post(auth_client, EVENTS, {"events": batch})
    # Then it is a 400 naming the event's index and field, and nothing of the batch is written
    assert response.status_code == 400, response.json()
    body = response.json()
    assert (body["error"], body["index"], body["field"]) == ("invalid_telemetry_event", 2, field)
    assert body["message"].startswith(f"events.2.{field}: ")
    assert reason in body["message"]
    assert telemetry_rows() == []


def test_more_properties_than_the_schema_allows_at_once_is_refused(auth_client: APIClient) -> None:
    from realtime.telemetry import TelemetrySchema, register_telemetry_event, string
    from realtime.telemetry.registry import _EVENTS

    register_telemetry_event("test_two_of_three", TelemetrySchema({"a": string(), "b": string(), "c": string()}, 2))
    try:
        ok = post(auth_client, EVENTS, {"events": [{"name": "test_two_of_three", "properties": {"a": "1", "c": "3"}}]})
        refused = post(
            auth_client, EVENTS, {"events": [{"name": "test_two_of_three", "properties": {"a": "", "b": "", "c": ""}}]}
        )
    finally:
        del _EVENTS["test_two_of_three"]

    assert ok.status_code == 202
    assert refused.status_code == 400
    assert (refused.json()["field"], refused.json()["index"]) == ("properties", 0)
    assert "more than 2 properties" in refused.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "events"),
        ({"events": "screen_view"}, "events.non_field_errors"),
        ({"events": [{"properties": {}}]}, "events.0.name"),
        ({"events": [screen_view(), {"name": "screen_view", "client_ts": "yesterday"}]}, "events.1.client_ts"),
        ({"events": [{"name": "screen_view", "properties": ["screen"]}]}, "events.0.properties"),
    ],
)
def test_a_batch_of_the_wrong_shape_is_a_validation_error_naming_the_field(
    auth_client: APIClient, body: dict[str, Any], field: str
) -> None:
    response = post(auth_client, EVENTS, body)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["fields"], response.json()
    assert telemetry_rows() == []


@pytest.mark.parametrize("path", [EVENTS, ACTIONS, BULK])
def test_every_telemetry_path_needs_a_login(api_client: APIClient, path: str) -> None:
    response = post(api_client, path, {"events": [screen_view()], "action_type": "screen_view", "items": []})

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert not OutboxEvent.objects.exists()


def test_a_bad_token_is_refused(api_client: APIClient) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = post(api_client, EVENTS, {"events": [screen_view()]})

    assert response.status_code == 401
    assert not OutboxEvent.objects.exists()


def test_the_old_single_action_is_one_event_of_the_caller_whatever_user_id_it_names(
    auth_client: APIClient, user: Any
) -> None:
    # Given the old client's body naming another player's id, in the old spelling
    body = {
        "user_id": user.pk + 1000,
        "action_type": "SCREEN_VIEW",
        "context": {"screen": "shop", "email": "c@example.com"},
        "client_ts": "2025-05-01T12:00:00Z",
    }
    # When it is posted to /api/actions (and its slash form)
    response = post(auth_client, ACTIONS, body)
    slashed = post(auth_client, ACTIONS + "/", {"action_type": "session_end", "context": None})
    # Then each is one event of the token's player
    assert (response.status_code, response.json()) == (202, {"accepted": 1})
    assert (slashed.status_code, slashed.json()) == (202, {"accepted": 1})
    first, second = telemetry_rows()
    assert first.user_id == second.user_id == user.pk
    assert first.data == {
        "name": "screen_view",
        "client_ts": "2025-05-01T12:00:00Z",
        "properties": {"screen": "shop"},
        "client_reported": True,
    }
    assert second.data["properties"] == {}


def test_the_old_single_action_is_refused_in_its_own_words(auth_client: APIClient) -> None:
    unknown = post(auth_client, ACTIONS, {"action_type": "DAILY_LOGIN"})
    bad = post(auth_client, ACTIONS, {"action_type": "spin_button", "context": {"win_amount": "lots"}})
    missing = post(auth_client, ACTIONS, {"context": {}})

    assert unknown.status_code == bad.status_code == missing.status_code == 400
    assert (unknown.json()["error"], unknown.json()["field"]) == ("invalid_telemetry_event", "action_type")
    assert unknown.json()["message"].startswith("action_type: 'daily_login' is not a known event name")
    assert (bad.json()["field"], bad.json()["index"]) == ("context.win_amount", 0)
    assert missing.json()["error"] == "validation_error" and "action_type" in missing.json()["fields"]
    assert telemetry_rows() == []


def test_the_old_bulk_actions_are_a_batch_with_the_same_limits(auth_client: APIClient) -> None:
    items = [{"action_type": "GAME_OPEN", "context": {"game": "crash"}, "user_id": 1}] * 3
    accepted = post(auth_client, BULK, {"items": items})
    refused = post(auth_client, BULK, {"items": [*items, {"action_type": "game_open", "context": {"gold": 5}}]})
    too_many = post(auth_client, BULK, {"items": [items[0]] * (MAX_EVENTS + 1)})

    assert (accepted.status_code, accepted.json()) == (202, {"accepted": 3})
    assert refused.status_code == 400
    assert (refused.json()["index"], refused.json()["field"]) == (3, "context.gold")
    assert refused.json()["message"].startswith("items.3.context.gold: ")
    assert too_many.status_code == 413 and too_many.json()["error"] == "too_many_events"
    assert [row.data["name"] for row in telemetry_rows()] == ["game_open"] * 3


def test_requests_over_the_players_rate_are_429_and_other_players_are_not_held_up(
    auth_client: APIClient, telemetry_rate: Any
) -> None:
    from accounts.tests.factories import UserFactory
    from accounts.tokens import tokens_issue

    # Given a rate of 3 requests a minute per player
    telemetry_rate("3/minute")
    # When one player posts 4 times, through all three paths (they share the budget)
    statuses = [
        post(auth_client, EVENTS, {"events": [screen_view()]}).status_code,
        post(auth_client, ACTIONS, {"action_type": "screen_view", "context": {"screen": "x"}}).status_code,
        post(auth_client, BULK, {"items": []}).status_code,
    ]
    limited = post(auth_client, EVENTS, {"events": [screen_view()]})
    # Then the fourth is 429 in the error envelope, with when to retry, and writes nothing
    assert statuses == [202, 202, 202]
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert limited.json()["retry_after_seconds"] >= 1
    assert int(limited["Retry-After"]) >= 1
    assert len(telemetry_rows()) == 2
    # And another player on the same address still gets through
    other = APIClient()
    neighbour: Any = UserFactory()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=neighbour).access}")
    assert post(other, EVENTS, {"events": [screen_view()]}).status_code == 202


def test_the_recent_actions_path_is_still_economys(auth_client: APIClient) -> None:
    response = auth_client.get("/api/actions/recent/1")

    assert response.status_code == 200
    assert isinstance(response.json(), list)
