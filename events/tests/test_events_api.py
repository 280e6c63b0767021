"""The player's events API (docs/live-ops.md § Events): the lists and the detail carry the
contract's fields with the caller's own participation, join is idempotent, a claim pays once, and
progress cannot be sent by a client."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from economy.enums import LedgerReason
from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from events.models import EventParticipation, EventProgress
from events.services import event_join
from events.tests.factories import event_with
from games.services import Decision, Draw, round_play

EVENT_FIELDS = {
    "id",
    "title",
    "description",
    "event_type",
    "status",
    "start_date",
    "end_date",
    "is_active",
    "created_at",
    "rewards",
    "requirements",
    "requirement_list",
    "image_url",
    "priority",
    "participation_count",
    "user_participation",
}


def fund(user: Any, gold: int = 100_000) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, key: str, *, game: str = "rps", bet: int = 10) -> Any:
    def decide(draw: Draw) -> Decision:
        return Decision(payout=0, inputs={}, outcome={}, subtype="test")

    return round_play(user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint="f", decide=decide)


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


# --- reading events ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_event_list_carries_the_contract_fields_and_only_the_callers_own_progress(auth_client: Any) -> None:
    # Given an event the caller joined and advanced, which another player joined too
    user = auth_client.user
    fund(user)
    event = event_with(
        [("amount_bet", "", 100), ("rounds_played", "slot", 2)],
        title="Spring bets",
        reward_gold=700,
        reward_gems=5,
        reward_xp=40,
        reward_items=["lucky-charm"],
        priority=9,
        image_url="https://cdn.example.com/spring.png",
    )
    event_join(user=user, event_id=event.pk)
    other = UserFactory()
    event_join(user=other, event_id=event.pk)
    play(user, "r1", bet=30)

    # When the caller lists the events (through the client's slash-stripping proxy and without it)
    for path in ("/api/events", "/api/events/"):
        response = auth_client.get(path)

        # Then the event has every field the client reads, with the caller's own progress
        assert response.status_code == 200, response.content
        [item] = response.json()
        assert set(item) == EVENT_FIELDS
        assert (item["id"], item["title"], item["event_type"], item["status"], item["priority"]) == (
            event.pk,
            "Spring bets",
            "challenge",
            "running",
            9,
        )
        assert item["rewards"] == {"gold": 700, "gems": 5, "exp": 40, "xp": 40, "items": ["lucky-charm"]}
        assert item["requirements"] == {"amount_bet": 100, "rounds_played:slot": 2}
        assert [(r["key"], r["metric"], r["game"], r["target"]) for r in item["requirement_list"]] == [
            ("amount_bet", "amount_bet", "", 100),
            ("rounds_played:slot", "rounds_played", "slot", 2),
        ]
        assert item["participation_count"] == 2
        assert item["start_date"].endswith("Z") and item["end_date"].endswith("Z")
        participation = item["user_participation"]
        assert participation["joined"] is True
        assert participation["progress"] == {"amount_bet": 30, "rounds_played:slot": 0}
        assert (participation["completed"], participation["claimed"], participation["progress_version"]) == (
            False,
            False,
            1,
        )


@pytest.mark.django_db
def test_a_player_who_has_not_joined_sees_an_empty_participation(auth_client: Any) -> None:
    event_with({"rounds_played": 3})
    [item] = auth_client.get("/api/events").json()
    assert item["user_participation"] == {
        "joined": False,
        "progress": {},
        "completed": False,
        "claimed": False,
        "progress_version": 0,
        "joined_at": None,
        "completed_at": None,
        "claimed_at": None,
    }


@pytest.mark.django_db
def test_the_list_shows_running_and_upcoming_events_and_active_only_running_ones(auth_client: Any) -> None:
    # Given a running, an upcoming, an ended and a switched-off event
    now = timezone.now()
    running = event_with({"rounds_played": 1}, title="running", priority=1)
    upcoming = event_with(
        {"rounds_played": 1},
        title="upcoming",
        priority=5,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=2),
    )
    ended = event_with(
        {"rounds_played": 1}, title="ended", starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=1)
    )
    switched_off = event_with({"rounds_played": 1}, title="off", is_active=False)

    # When the player reads the list, the running ones and one of each
    listed = auth_client.get("/api/events/").json()
    active = auth_client.get("/api/events/active").json()

    # Then the list is running and upcoming by priority, active only the running one
    assert [(item["title"], item["status"]) for item in listed] == [("upcoming", "upcoming"), ("running", "running")]
    assert [item["id"] for item in active] == [running.pk]
    # And the detail shows an ended event (its reward may still be claimed) but not a switched-off one
    assert auth_client.get(f"/api/events/{ended.pk}").json()["status"] == "ended"
    assert auth_client.get(f"/api/events/{upcoming.pk}/").json()["id"] == upcoming.pk
    off = auth_client.get(f"/api/events/{switched_off.pk}")
    assert (off.status_code, off.json()["error"]) == (404, "event_not_found")
    assert auth_client.get("/api/events/999999").json()["error"] == "event_not_found"


@pytest.mark.django_db
def test_the_event_list_reads_one_query_whatever_its_length(auth_client: Any) -> None:
    # Given many events, each with requirements, the caller in all of them
    user = auth_client.user
    for index in range(12):
        event = event_with({"rounds_played": 3, "amount_bet": 100}, title=f"event {index}")
        event_join(user=user, event_id=event.pk)

    # When the list is read twice
    with CaptureQueriesContext(connection) as first:
        response = auth_client.get("/api/events")
    with CaptureQueriesContext(connection) as again:
        second = auth_client.get("/api/events")

    # Then the first read loads the process's copies (the events, their requirements, the
    # participation counts) and the caller's participations with progress (one LEFT JOIN); the
    # second reads only the caller's participations (plus authentication's own reads)
    assert response.status_code == 200 and len(response.json()) == 12
    assert second.json() == response.json()
    loaded = [q["sql"] for q in first.captured_queries if '"events_' in q["sql"]]
    assert len(loaded) == 4, loaded
    event_queries = [q["sql"] for q in again.captured_queries if '"events_' in q["sql"]]
    assert len(event_queries) == 1 and "events_eventparticipation" in event_queries[0], event_queries


@pytest.mark.django_db
def test_participation_counts_are_refreshed_after_their_age_limit(auth_client: Any, monkeypatch: Any) -> None:
    from events import selectors

    event = event_with({"rounds_played": 3})
    event_join(user=UserFactory(), event_id=event.pk)
    assert [item["participation_count"] for item in auth_client.get("/api/events").json()] == [1]

    # A join does not reload the counts at once ...
    event_join(user=auth_client.user, event_id=event.pk)
    [item] = auth_client.get("/api/events").json()
    assert (item["participation_count"], item["user_participation"]["joined"]) == (1, True)

    # ... they are counted again once older than PARTICIPATION_COUNTS_SECONDS
    monkeypatch.setattr(selectors._participation_counts, "max_age", 0.0)
    assert [item["participation_count"] for item in auth_client.get("/api/events").json()] == [2]


@pytest.mark.django_db
def test_the_lists_need_a_login(api_client: Any) -> None:
    for path in ("/api/events", "/api/events/active", "/api/events/1"):
        response = api_client.get(path)
        assert (response.status_code, response.json()["error"]) == (401, "not_authenticated"), path


# --- joining ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_joining_twice_answers_the_same_participation_and_creates_one(auth_client: Any) -> None:
    event = event_with({"rounds_played": 3, "amount_bet": 50})

    first = auth_client.post("/api/events/join", {"event_id": event.pk}, format="json")
    second = auth_client.post("/api/events/join/", {"event_id": event.pk}, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    body = first.json()
    assert body["joined"] is True and body["event_id"] == event.pk and body["user_id"] == auth_client.user.pk
    assert body["progress"] == {"rounds_played": 0, "amount_bet": 0}
    assert (body["completed"], body["claimed"], body["claimed_rewards"], body["progress_version"]) == (
        False,
        False,
        False,
        0,
    )
    assert EventParticipation.objects.filter(event=event).count() == 1
    assert EventProgress.objects.filter(participation__event=event).count() == 2


@pytest.mark.django_db
def test_join_refusals(auth_client: Any) -> None:
    now = timezone.now()
    upcoming = event_with({"rounds_played": 1}, starts_at=now + timedelta(hours=1), ends_at=now + timedelta(days=1))
    off = event_with({"rounds_played": 1}, is_active=False)

    cases = [
        ({"event_id": upcoming.pk}, 409, "event_not_open"),
        ({"event_id": off.pk}, 404, "event_not_found"),
        ({"event_id": 999_999}, 404, "event_not_found"),
        ({"event_id": "abc"}, 400, "validation_error"),
        ({}, 400, "validation_error"),
    ]
    for body, status, code in cases:
        response = auth_client.post("/api/events/join", body, format="json")
        assert (response.status_code, response.json()["error"]) == (status, code), body
    assert not EventParticipation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_joins_of_one_player_create_one_participation(user: Any, parallel: Any) -> None:
    # Given an event with two requirements
    event = event_with({"rounds_played": 3, "amount_bet": 50})
    access = tokens_issue(user=user).access

    def join(_index: int) -> tuple[int, dict[str, Any]]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        response = client.post("/api/events/join", {"event_id": event.pk}, format="json")
        return response.status_code, response.json()

    # When the player joins 20 times at once
    results = parallel(20, join)

    # Then one participation (with one progress row per requirement), one 201, the rest the same body
    assert not [r for r in results if isinstance(r, Exception)], results
    assert Counter(status for status, _ in results) == {201: 1, 200: 19}
    assert len({body["id"] for _, body in results}) == 1
    assert EventParticipation.objects.filter(event=event, user=user).count() == 1
    assert EventProgress.objects.filter(participation__event=event).count() == 2


# --- claiming ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_completed_event_is_claimed_once_with_the_contract_fields(auth_client: Any) -> None:
    # Given a player who completed an event
    user = auth_client.user
    fund(user, 1000)
    event = event_with({"rounds_played": 2}, reward_gold=500, reward_gems=3, reward_xp=25, reward_items=["lucky-charm"])
    auth_client.post("/api/events/join", {"event_id": event.pk}, format="json")
    not_yet = auth_client.post(f"/api/events/claim/{event.pk}")
    play(user, "a")
    play(user, "b")

    # When they claim
    response = auth_client.post(f"/api/events/claim/{event.pk}", HTTP_IDEMPOTENCY_KEY="claim-1")

    # Then the reward is paid through the ledger and the answer has the contract's fields
    assert (not_yet.status_code, not_yet.json()["error"]) == (409, "not_completed")
    assert response.status_code == 200, response.content
    body = response.json()
    gold = 1000 - 20 + 500
    assert body["rewards"] == {"gold": 500, "gems": 3, "exp": 25, "xp": 25, "items": ["lucky-charm"]}
    assert body["reward_items"] == [
        {"type": "gold", "amount": 500},
        {"type": "gems", "amount": 3},
        {"type": "exp", "amount": 25},
        {"type": "item", "amount": 1, "code": "lucky-charm"},
    ]
    assert (body["awarded_gold"], body["new_balance"], body["cyber_token_balance"], body["claimed"]) == (
        500,
        gold,
        gold,
        True,
    )
    assert Wallet.objects.get(pk=user.pk).gold == gold
    # And a retry with the same key replays the answer; a new claim is refused
    replay = auth_client.post(f"/api/events/claim/{event.pk}", HTTP_IDEMPOTENCY_KEY="claim-1")
    again = auth_client.post(f"/api/events/claim/{event.pk}", HTTP_IDEMPOTENCY_KEY="claim-2")
    assert (replay.status_code, replay.json()) == (200, body)
    assert (again.status_code, again.json()["error"]) == (409, "reward_already_claimed")
    assert (
        LedgerEntry.objects.filter(wallet_id=user.pk, reason=LedgerReason.EVENT_REWARD).count() == 3
    )  # gold, gems, xp
    # And the list now shows it claimed
    [item] = auth_client.get("/api/events").json()
    assert (item["user_participation"]["completed"], item["user_participation"]["claimed"]) == (True, True)


@pytest.mark.django_db
def test_claim_refusals(auth_client: Any) -> None:
    event = event_with({"rounds_played": 1})
    cases = [(event.pk, 409, "not_joined"), (999_999, 404, "event_not_found")]
    for event_id, status, code in cases:
        response = auth_client.post(f"/api/events/claim/{event_id}")
        assert (response.status_code, response.json()["error"]) == (status, code)


@pytest.mark.django_db(transaction=True)
def test_hundred_parallel_claims_pay_once(user: Any, parallel: Any) -> None:
    # Given a player who completed an event
    fund(user, 1000)
    event = event_with({"rounds_played": 1}, reward_gold=500)
    event_join(user=user, event_id=event.pk)
    play(user, "done")
    access = tokens_issue(user=user).access

    def claim(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return client.post(f"/api/events/claim/{event.pk}", HTTP_IDEMPOTENCY_KEY=f"k{index}").status_code

    # When 100 claims arrive at once, each with its own key
    results = parallel(100, claim)

    # Then exactly one pays
    assert Counter(results) == {200: 1, 409: 99}, results
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason=LedgerReason.EVENT_REWARD).count() == 1
    assert Wallet.objects.get(pk=user.pk).gold == 1000 - 10 + 500


# --- progress comes from the server -----------------------------------------------------------


@pytest.mark.django_db
def test_a_client_cannot_send_progress_and_nothing_changes(auth_client: Any) -> None:
    # Given a joined event
    event = event_with({"rounds_played": 3})
    event_join(user=auth_client.user, event_id=event.pk)
    before = list(EventProgress.objects.values("value"))

    # When the earlier client sends progress, whatever the verb and body
    answers = [
        auth_client.put(f"/api/events/progress/{event.pk}", {"progress": {"rounds_played": 99}}, format="json"),
        auth_client.patch(f"/api/events/progress/{event.pk}/", {"progress": {"rounds_played": 99}}, format="json"),
        auth_client.post(f"/api/events/progress/{event.pk}", {"rounds_played": 3}, format="json"),
        auth_client.put("/api/events/progress/999999", {}, format="json"),
    ]

    # Then every one is refused with the clear code, and no progress moved
    for response in answers:
        assert (response.status_code, response.json()["error"]) == (405, "progress_is_server_side")
    assert list(EventProgress.objects.values("value")) == before
    participation = EventParticipation.objects.get(event=event)
    assert (participation.progress_version, participation.completed_at) == (0, None)
    claim = auth_client.post(f"/api/events/claim/{event.pk}")
    assert claim.json()["error"] == "not_completed"


@pytest.mark.django_db
def test_ids_beyond_the_database_range_are_not_found_never_a_server_error(auth_client: Any) -> None:
    huge = 10**20
    answers = [
        auth_client.get(f"/api/events/{huge}"),
        auth_client.post(f"/api/events/claim/{huge}"),
        auth_client.post("/api/events/join", {"event_id": huge}, format="json"),
    ]
    for response in answers:
        assert response.status_code in (400, 404), (response.status_code, response.content)
        assert response.json()["error"] in ("event_not_found", "validation_error")
