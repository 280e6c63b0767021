"""``GET /api/public/events``: no login, no player's data, cached with an ETag (304), refreshed at
once when staff change an event, limited per client IP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from events.selectors import public_events_cache_seconds
from events.services import event_join, event_save, event_set_active
from events.tests.factories import event_with

PUBLIC = "/api/public/events"
PUBLIC_FIELDS = {
    "id",
    "title",
    "description",
    "event_type",
    "status",
    "start_date",
    "end_date",
    "is_active",
    "rewards",
    "requirements",
    "requirement_list",
    "image_url",
    "priority",
    "participation_count",
}


@pytest.fixture
def throttle_rate(settings: Any) -> Any:
    def set_rate(rate: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public_events": rate},
        }

    return set_rate


@pytest.mark.django_db
def test_anyone_sees_running_and_upcoming_events_without_any_players_data(api_client: Any) -> None:
    # Given a running event two players joined, an upcoming one, an ended and a switched-off one
    now = timezone.now()
    running = event_with({"amount_bet": 1000}, title="Bet week", priority=3)
    for site_id in ("alice01", "bobby02"):
        event_join(user=UserFactory(site_id=site_id, nickname=f"nick-{site_id}"), event_id=running.pk)
    upcoming = event_with(
        {"rounds_played": 5},
        title="Soon",
        priority=1,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=3),
    )
    event_with({"rounds_played": 5}, title="Over", starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=1))
    event_with({"rounds_played": 5}, title="Hidden", is_active=False)

    # When someone without a login asks (both path forms)
    response = api_client.get(PUBLIC)
    assert api_client.get(PUBLIC + "/").content == response.content

    # Then they see the two, with only the event's own fields (a count, never who)
    assert response.status_code == 200, response.content
    body = response.json()
    assert [(item["id"], item["status"]) for item in body] == [(running.pk, "running"), (upcoming.pk, "upcoming")]
    for item in body:
        assert set(item) == PUBLIC_FIELDS
    assert body[0]["participation_count"] == 2
    assert body[0]["requirements"] == {"amount_bet": 1000}
    text = response.content.decode()
    for personal in ("alice01", "bobby02", "nick-", "user_participation", "user_id", "progress"):
        assert personal not in text
    assert response["ETag"].startswith('"')


@pytest.mark.django_db
def test_the_etag_answers_304_while_the_page_is_the_same(api_client: Any) -> None:
    event_with({"rounds_played": 5})
    first = api_client.get(PUBLIC)
    etag = first["ETag"]

    again = api_client.get(PUBLIC, HTTP_IF_NONE_MATCH=etag)
    other = api_client.get(PUBLIC, HTTP_IF_NONE_MATCH='"something-else"')

    assert (again.status_code, again.content, again["ETag"]) == (304, b"", etag)
    assert (other.status_code, other.content) == (200, first.content)


@pytest.mark.django_db
def test_the_page_is_cached_and_a_staff_change_shows_at_once(
    api_client: Any, staff_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # Given a cached page
    event = event_with({"rounds_played": 5}, title="Old title")
    first = api_client.get(PUBLIC)
    # When a player joins (no staff change), the cached page is served (its count refreshes within the TTL)
    event_join(user=UserFactory(), event_id=event.pk)
    cached = api_client.get(PUBLIC, HTTP_IF_NONE_MATCH=first["ETag"])
    assert cached.status_code == 304

    # When staff rename the event through the back office's service
    event.title = "New title"
    with django_capture_on_commit_callbacks(execute=True):
        event_save(actor=staff_user, event=event, requirements=None, reason="typo")

    # Then the next request sees it at once, under a new ETag
    after = api_client.get(PUBLIC, HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200
    assert after.json()[0]["title"] == "New title"
    assert after.json()[0]["participation_count"] == 1
    assert after["ETag"] != first["ETag"]

    # And switching it off removes it at once
    with django_capture_on_commit_callbacks(execute=True):
        event_set_active(actor=staff_user, event_id=event.pk, is_active=False, reason="pulled")
    assert api_client.get(PUBLIC).json() == []


@pytest.mark.django_db
def test_the_cache_never_outlives_the_next_start_or_end_of_an_event(settings: Any) -> None:
    settings.PUBLIC_EVENTS_CACHE_SECONDS = 30
    now = timezone.now()
    ending = event_with({"rounds_played": 1}, starts_at=now - timedelta(days=1), ends_at=now + timedelta(seconds=5))
    far = event_with({"rounds_played": 1}, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=1))

    assert public_events_cache_seconds([far], now) == 30
    assert public_events_cache_seconds([far, ending], now) == 6


@pytest.mark.django_db
def test_the_public_page_is_limited_per_client_ip(api_client: Any, throttle_rate: Any) -> None:
    # Given a limit of 3 a minute
    throttle_rate("3/minute")
    event_with({"rounds_played": 5})

    # When one address asks 4 times, and another once
    answers = [api_client.get(PUBLIC, REMOTE_ADDR="203.0.113.7") for _ in range(4)]
    elsewhere = api_client.get(PUBLIC, REMOTE_ADDR="198.51.100.9")

    # Then the fourth is 429 in the error envelope with Retry-After; the other address is served
    assert [response.status_code for response in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.json()["error"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    assert elsewhere.status_code == 200
