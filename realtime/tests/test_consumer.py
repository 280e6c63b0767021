"""The WebSocket consumer, in process, on the real Redis channel layer.
(The end-to-end test against a running ASGI server comes with the realtime issue.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import transaction

import realtime
from accounts import services
from accounts.tokens import tokens_issue
from casino.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _refused(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    async def scenario() -> Any:
        communicator = WebsocketCommunicator(application, path, headers=headers or [])
        await communicator.connect(timeout=5)
        message = await communicator.receive_output(timeout=5)
        await communicator.wait()
        return message

    return async_to_sync(scenario)()


def test_connect_with_access_token_greets_answers_ping_and_delivers_committed_events(user: Any) -> None:
    access = tokens_issue(user=user).access

    def emit_committed() -> None:
        with transaction.atomic():
            realtime.emit("profile_update", user, {"nickname": "Live"})

    async def scenario() -> tuple[dict[str, Any], str, dict[str, Any]]:
        communicator = WebsocketCommunicator(application, f"/api/realtime/sync?token={access}")
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        greeting = json.loads(await communicator.receive_from(timeout=5))
        state = json.loads(await communicator.receive_from(timeout=5))
        assert state["type"] == "initial_state"
        assert state["data"]["profile"]["id"] == user.pk
        assert "streak" in state["data"] and "balances" in state["data"]
        await communicator.send_to(text_data="ping")
        pong = await communicator.receive_from(timeout=5)
        await sync_to_async(emit_committed)()
        event = json.loads(await communicator.receive_from(timeout=5))
        await communicator.disconnect()
        return greeting, pong, event

    greeting, pong, event = async_to_sync(scenario)()

    assert greeting["type"] == "sync_connected"
    assert greeting["user_id"] == user.pk
    assert pong == "pong"
    assert event["type"] == "profile_update"
    assert event["user_id"] == user.pk
    assert event["data"] == {"nickname": "Live"}


def test_authorization_header_works_too(user: Any) -> None:
    access = tokens_issue(user=user).access

    async def scenario() -> dict[str, Any]:
        communicator = WebsocketCommunicator(
            application, "/api/realtime/sync", headers=[(b"authorization", f"Bearer {access}".encode())]
        )
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        greeting = json.loads(await communicator.receive_from(timeout=5))
        await communicator.disconnect()
        return greeting

    assert async_to_sync(scenario)()["type"] == "sync_connected"


def test_missing_token_is_closed_with_4401(db: Any) -> None:
    assert _refused("/api/realtime/sync")["code"] == 4401


def test_refresh_token_is_closed_with_4401(user: Any) -> None:
    refresh = tokens_issue(user=user).refresh

    assert _refused(f"/api/realtime/sync?token={refresh}")["code"] == 4401


def test_revoked_and_banned_are_closed_with_4401(user: Any, staff_user: Any) -> None:
    revoked = tokens_issue(user=user).access
    services.token_logout_all(user=user)
    user.refresh_from_db()
    before_ban = tokens_issue(user=user).access
    services.user_set_active(actor=staff_user, user=user, active=False, reason="test")

    assert _refused(f"/api/realtime/sync?token={revoked}")["code"] == 4401
    assert _refused(f"/api/realtime/sync?token={before_ban}")["code"] == 4401


def test_connecting_counts_as_activity(user: Any) -> None:
    # Given a player never seen before
    assert user.last_seen_at is None
    access = tokens_issue(user=user).access

    # When they open the socket
    async def scenario() -> None:
        communicator = WebsocketCommunicator(application, f"/api/realtime/sync?token={access}")
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await communicator.receive_from(timeout=5)
        await communicator.disconnect()

    async_to_sync(scenario)()

    # Then the registered authenticator marked them as seen
    user.refresh_from_db()
    assert user.last_seen_at is not None
