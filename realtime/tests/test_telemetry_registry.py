"""The registry of client event names (realtime.telemetry), and what the
``client_telemetry`` type may never do: reach a socket, a subscriber or the inbox."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

import realtime
from realtime.notifications.builders import BUILDERS
from realtime.registry import _NOT_PUSHED, EVENT_TYPES, is_pushed, register_event_type, subscribers_for
from realtime.telemetry import (
    TELEMETRY_EVENT_TYPE,
    TelemetrySchema,
    integer,
    register_telemetry_event,
    string,
    telemetry_events,
)
from realtime.telemetry.catalog import BUILT_IN
from realtime.telemetry.privacy import personal_fields_drop
from realtime.telemetry.registry import _EVENTS
from realtime.telemetry.services import ClientEvent, telemetry_record

DOC = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"


def test_the_telemetry_type_is_registered_and_not_pushed() -> None:
    assert TELEMETRY_EVENT_TYPE in EVENT_TYPES
    assert is_pushed(TELEMETRY_EVENT_TYPE) is False
    assert is_pushed("balance_update") is True


def test_nothing_subscribes_to_telemetry_and_nothing_turns_it_into_a_notification() -> None:
    # Every app's ready() has run: whatever a domain app subscribes to, it is not telemetry
    assert subscribers_for("game_round"), "the apps' subscribers are registered"
    assert subscribers_for(TELEMETRY_EVENT_TYPE) == []
    assert TELEMETRY_EVENT_TYPE not in BUILDERS


def test_a_type_registered_as_not_pushed_keeps_that_and_cannot_be_registered_again_otherwise() -> None:
    register_event_type("test_quiet", "A test type.", pushed=False)
    try:
        register_event_type("test_quiet", "A test type.", pushed=False)  # the same again: fine
        with pytest.raises(ValueError, match="push setting"):
            register_event_type("test_quiet", "A test type.")
        assert is_pushed("test_quiet") is False
    finally:
        del EVENT_TYPES["test_quiet"]
        _NOT_PUSHED.discard("test_quiet")


@pytest.mark.django_db
def test_recording_telemetry_queues_nothing_for_the_commit(user: Any, django_capture_on_commit_callbacks: Any) -> None:
    # A pushed type queues its push for the commit...
    with django_capture_on_commit_callbacks() as pushed, transaction.atomic():
        realtime.emit("stats_update", user, {})
    # ...telemetry queues nothing at all: no push, no cache bump, no task
    with django_capture_on_commit_callbacks() as queued:
        telemetry_record(user=user, events=[ClientEvent("screen_view", None, {"screen": "lobby"})] * 3)

    assert len(pushed) == 1
    assert queued == []


def test_the_built_in_names_are_registered_with_their_schemas() -> None:
    registered = telemetry_events()

    assert set(BUILT_IN) <= set(registered)
    assert {"screen_view", "button_click", "game_open", "game_close", "spin_button", "shop_open"} <= set(registered)
    assert {"product_view", "session_start", "session_end", "error_shown", "notification_open"} <= set(registered)
    assert all(registered[name] == schema for name, schema in BUILT_IN.items())
    assert all(schema.description for schema in BUILT_IN.values())


def test_registering_a_name_again_with_another_schema_is_refused_and_bad_names_too() -> None:
    register_telemetry_event("test_event", {"a": string(8)})
    try:
        register_telemetry_event("test_event", {"a": string(8)})
        with pytest.raises(ValueError, match="another schema"):
            register_telemetry_event("test_event", {"a": integer()})
    finally:
        del _EVENTS["test_event"]
    for bad in ("Screen_View", "x", "screen view", "1st", "a" * 65):
        with pytest.raises(ValueError, match="snake_case"):
            register_telemetry_event(bad, TelemetrySchema({}))


def test_personal_fields_drop_walks_objects_and_lists() -> None:
    value = {
        "Phone": "1",
        "list": [{"EMAIL": "x", "keep": 1}, "plain"],
        "nested": {"deeper": {"Password_Confirm": "y", "ok": True}},
        "mobile-phone": "2",
        "screen": "lobby",
    }

    assert personal_fields_drop(value) == {
        "list": [{"keep": 1}, "plain"],
        "nested": {"deeper": {"ok": True}},
        "screen": "lobby",
    }


def test_the_doc_lists_every_built_in_event_with_its_properties() -> None:
    rows = {
        match.group(1): set(re.findall(r"`(\w+)`", match.group(2)))
        for match in re.finditer(r"^\| `(\w+)` \| ([^|]*) \|", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    }

    assert set(rows) == set(BUILT_IN), "docs/telemetry.md's event table and realtime/telemetry/catalog.py differ"
    for name, schema in BUILT_IN.items():
        assert rows[name] == set(schema.properties), f"the properties of {name} in docs/telemetry.md"
