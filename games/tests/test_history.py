"""The player's round history (GET /api/games/history: paginated, filtered by game and UTC dates,
the caller's own rounds only) and rounds in the recent actions (GET /api/actions/recent/{id}: one
action per round, its bet and its payout together)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from economy.services import wallet_grant
from games.models import GameRound
from games.services import Decision, Draw, round_play, round_settle_open

HISTORY = "/api/games/history"


def fund(user: Any, gold: int = 1_000_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, game: str, bet: int, payout: int, key: str, *, live: bool = False) -> GameRound:
    def decide(draw: Draw) -> Decision:
        return Decision(
            payout=payout,
            inputs={},
            outcome={},
            subtype="test_play",
            open_until=timezone.now() + timedelta(minutes=1) if live else None,
        )

    return round_play(user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint=key, decide=decide).round


@pytest.mark.django_db
def test_the_history_lists_the_callers_rounds_newest_first_with_the_contract_fields(auth_client: APIClient) -> None:
    # Given a player's win, draw and loss, a live round still running, and another player's round
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    win = play(user, "rps", 100, 191, "win")
    draw = play(user, "rps", 100, 100, "draw")
    loss = play(user, "slot", 100, 40, "loss")
    live = play(user, "crash", 50, 0, "live", live=True)
    other = UserFactory()
    fund(other)
    play(other, "rps", 100, 191, "theirs")
    # When the player reads their history
    response = auth_client.get(HISTORY)
    # Then they see their four rounds, newest first, each in the contract's shape
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 4 and (body["limit"], body["offset"]) == (20, 0)
    assert [item["id"] for item in body["items"]] == [live.pk, loss.pk, draw.pk, win.pk]
    by_id = {item["id"]: item for item in body["items"]}
    assert {key: by_id[win.pk][key] for key in ("game_type", "action_type", "amount", "result")} == {
        "game_type": "rps",
        "action_type": "WIN",
        "amount": 91,
        "result": "win",
    }
    assert (by_id[win.pk]["bet_amount"], by_id[win.pk]["win_amount"]) == (100, 191)
    assert (by_id[draw.pk]["action_type"], by_id[draw.pk]["amount"], by_id[draw.pk]["result"]) == ("DRAW", 0, "draw")
    assert (by_id[loss.pk]["action_type"], by_id[loss.pk]["amount"], by_id[loss.pk]["result"]) == ("BET", -60, "lose")
    assert (by_id[live.pk]["action_type"], by_id[live.pk]["result"], by_id[live.pk]["status"]) == ("BET", None, "open")
    assert by_id[win.pk]["created_at"].endswith("Z")


@pytest.mark.django_db
def test_the_history_pages_with_limit_and_offset_in_a_bounded_number_of_queries(auth_client: APIClient) -> None:
    # Given 7 rounds
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    rounds = [play(user, "rps", 10 + index, 0, f"r{index}") for index in range(7)]
    newest_first = [round_.pk for round_ in reversed(rounds)]
    # When the client pages 3 at a time
    pages = []
    for offset in (0, 3, 6):
        with CaptureQueriesContext(connection) as queries:
            body = auth_client.get(f"{HISTORY}?limit=3&offset={offset}").json()
        pages.append(body)
        # the caller (token check), the count and the page: a page costs the same however many rounds
        assert len([query for query in queries if "games_gameround" in query["sql"]]) == 2
    # Then the pages are consecutive and the total is every round
    assert [item["id"] for page in pages for item in page["items"]] == newest_first
    assert [page["total"] for page in pages] == [7, 7, 7]
    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    # And a limit above the maximum reads as the maximum, past the end is an empty page
    assert auth_client.get(f"{HISTORY}?limit=1000").json()["limit"] == 100
    assert auth_client.get(f"{HISTORY}?offset=50").json()["items"] == []


@pytest.mark.django_db
def test_the_history_filters_by_game_and_by_utc_dates_both_included(auth_client: APIClient) -> None:
    # Given rounds on three days (one a second before midnight UTC)
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user)
    with time_machine.travel(datetime(2030, 3, 1, 12, tzinfo=UTC), tick=False):
        first = play(user, "rps", 10, 0, "d1")
    with time_machine.travel(datetime(2030, 3, 2, 23, 59, 59, tzinfo=UTC), tick=False):
        late = play(user, "slot", 10, 0, "d2")
    with time_machine.travel(datetime(2030, 3, 3, 0, 0, 0, tzinfo=UTC), tick=False):
        next_day = play(user, "rps", 10, 0, "d3")

    def ids(query: str) -> list[int]:
        response = auth_client.get(f"{HISTORY}?{query}")
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["items"]]

    # Then
    assert ids("game=rps") == [next_day.pk, first.pk]
    assert ids("game_type=slot") == [late.pk]
    assert ids("date_from=2030-03-02") == [next_day.pk, late.pk]
    assert ids("date_to=2030-03-02") == [late.pk, first.pk]
    assert ids("date_from=2030-03-02&date_to=2030-03-02") == [late.pk]
    assert ids("game=rps&date_from=2030-03-02") == [next_day.pk]
    assert auth_client.get(f"{HISTORY}?game=rps&date_to=2030-03-02").json()["total"] == 1
    # and the calendar's ends are bounds like any other date
    assert ids("date_from=0001-01-01&date_to=9999-12-31") == [next_day.pk, late.pk, first.pk]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("game=poker", "game"),
        ("game_type=ROULETTE", "game_type"),
        ("game=rps&game_type=slot", "game_type"),
        ("date_from=yesterday", "date_from"),
        ("date_to=2030-02-30", "date_to"),
        ("date_from=2030-03-02&date_to=2030-03-01", "date_to"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999", "offset"),
    ],
)
def test_an_invalid_filter_is_a_validation_error(auth_client: APIClient, query: str, field: str) -> None:
    response = auth_client.get(f"{HISTORY}?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["fields"]


@pytest.mark.django_db
def test_the_history_needs_a_login(api_client: APIClient) -> None:
    assert api_client.get(HISTORY).status_code == 401


# --- Rounds in the recent actions ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_round_is_one_recent_action_typed_by_its_net_effect(auth_client: APIClient) -> None:
    # Given a win, a draw, a loss and a live round settled later with a win, and another player's round
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    win = play(user, "rps", 100, 191, "win")
    draw = play(user, "rps", 100, 100, "draw")
    loss = play(user, "slot", 100, 0, "loss")
    live = play(user, "crash", 100, 0, "live", live=True)
    later = play(user, "rps", 10, 0, "later")
    round_settle_open(
        round_id=live.pk, settle=lambda round_: Decision(payout=250, inputs={}, outcome={}, subtype="test")
    )
    other = UserFactory()
    fund(other)
    play(other, "rps", 100, 191, "theirs")
    # When the player reads their recent actions
    actions = auth_client.get(f"/api/actions/recent/{other.pk}?limit=10").json()
    # Then each round is one action (its bet and payout together), dated by its bet, newest first
    rounds = [action for action in actions if action["reference"].startswith("round:")]
    assert [action["reference"] for action in rounds] == [
        f"round:{later.pk}",
        f"round:{live.pk}",
        f"round:{loss.pk}",
        f"round:{draw.pk}",
        f"round:{win.pk}",
    ]
    summary = {action["reference"]: (action["action_type"], action["amount"], action["game_type"]) for action in rounds}
    assert summary == {
        f"round:{later.pk}": ("GAME_BET", -10, "rps"),
        f"round:{live.pk}": ("GAME_WIN", 150, "crash"),
        f"round:{loss.pk}": ("GAME_BET", -100, "slot"),
        f"round:{draw.pk}": ("GAME_DRAW", 0, "rps"),
        f"round:{win.pk}": ("GAME_WIN", 91, "rps"),
    }
    # and the other actions are still there, and nothing of the other player's
    assert actions[-1]["action_type"] == "ADMIN_ADJUSTMENT" and len(actions) == 6
