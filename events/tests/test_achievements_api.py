"""The achievements a player sees (events/achievement_selectors.py, events/api achievements
section): the catalogue and the caller's progress, hidden achievements that never leak, and the
inbox entry an unlock writes — all through real rounds (games.services.round_play)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from accounts.tokens import tokens_issue
from economy.models import LedgerEntry
from economy.services import wallet_grant
from events.models import AchievementProgress
from events.tests.factories import AchievementFactory
from games.services import Decision, Draw, round_play
from realtime.models import Notification

pytestmark = pytest.mark.django_db

CATALOGUE = "/api/games/achievements"
MINE = "/api/games/achievements/my"
INBOX = "/api/notification/list"


@pytest.fixture(autouse=True)
def _shipped_games(db: Any) -> None:
    """The games' configuration (a transaction=True test elsewhere may have emptied it)."""
    from django.apps import apps

    from games import defaults

    defaults.install(apps)


def fund(user: Any) -> None:
    wallet_grant(user=user, bundle={"gold": 100_000}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}")


def play(user: Any, key: str, *, game: str = "rps", bet: int = 10, payout: int = 0) -> Any:
    """One settled round of the player through the games' engine (``decide``: a fixed payout)."""

    def decide(draw: Draw) -> Decision:
        return Decision(payout=payout, inputs={}, outcome={}, subtype="test")

    return round_play(user=user, game=game, bet_amount=bet, idempotency_key=key, fingerprint="f", decide=decide)


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_issue(user=user).access}")
    return client


def test_the_catalogue_lists_what_can_be_unlocked_with_its_threshold_and_reward(auth_client: APIClient) -> None:
    # Given two achievements, one limited to the slots with an item in its reward, and one switched off
    AchievementFactory(code="rounds-3", title="Three", metric="rounds_played", threshold=3, reward_gems=5, sort_order=2)
    AchievementFactory(
        code="first-spin",
        title="First spin",
        description="Spin once.",
        icon="slot",
        metric="rounds_played",
        game="slot",
        threshold=1,
        reward_gold=100,
        reward_gems=0,
        reward_xp=10,
        reward_items=["lucky-horseshoe"],
        sort_order=1,
    )
    AchievementFactory(code="retired", is_active=False)
    # When a player reads the catalogue
    answer = auth_client.get(CATALOGUE)
    # Then it lists the active ones in display order, each with what counts and what it pays
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert [item["code"] for item in items] == ["first-spin", "rounds-3"]
    first = items[0]
    assert {key: first[key] for key in first if key != "id"} == {
        "code": "first-spin",
        "title": "First spin",
        "description": "Spin once.",
        "icon": "slot",
        "metric": "rounds_played",
        "game": "slot",
        "threshold": 1,
        "hidden": False,
        "rewards": {"gold": 100, "gems": 0, "xp": 10, "items": ["lucky-horseshoe"]},
    }
    assert items[1]["game"] is None


def test_my_achievements_carry_the_callers_progress_and_a_summary(user: Any, auth_client: APIClient) -> None:
    # Given achievements for 2 and 5 rounds, and a player who played 3 rounds
    fund(user)
    two = AchievementFactory(code="rounds-2", metric="rounds_played", threshold=2, sort_order=1)
    AchievementFactory(code="rounds-5", metric="rounds_played", threshold=5, sort_order=2)
    AchievementFactory(code="won-1", metric="rounds_won", threshold=1, sort_order=3)
    for index in range(3):
        play(user, f"r{index}")
    # When they read their achievements
    answer = auth_client.get(MINE)
    # Then each carries their progress (frozen at the threshold once unlocked) and the summary counts
    assert answer.status_code == 200
    body = answer.json()
    mine = {item["code"]: item for item in body["items"]}
    unlocked_at = AchievementProgress.objects.get(achievement=two, user=user).unlocked_at
    assert (mine["rounds-2"]["progress"], mine["rounds-2"]["threshold"], mine["rounds-2"]["unlocked"]) == (2, 2, True)
    assert mine["rounds-2"]["unlocked_at"] == unlocked_at.isoformat().replace("+00:00", "Z")
    assert (mine["rounds-5"]["progress"], mine["rounds-5"]["unlocked"], mine["rounds-5"]["unlocked_at"]) == (
        3,
        False,
        None,
    )
    assert (mine["won-1"]["progress"], mine["won-1"]["unlocked"]) == (0, False)  # nothing counted yet: 0
    assert body["summary"] == {"unlocked": 1, "total": 3, "hidden_remaining": 0}
    # And another player sees none of that progress
    other = client_for(UserFactory()).get(MINE).json()
    assert [item["progress"] for item in other["items"]] == [0, 0, 0]
    assert other["summary"]["unlocked"] == 0


def test_a_hidden_achievement_never_leaks_until_the_player_unlocks_it(user: Any, auth_client: APIClient) -> None:
    # Given a secret achievement (2 rounds) next to a visible one
    fund(user)
    AchievementFactory(code="visible", title="Visible one", threshold=50)
    AchievementFactory(
        code="secret-marathon",
        title="Secret Marathon",
        description="Whisper whisper",
        metric="rounds_played",
        threshold=2,
        is_hidden=True,
        reward_items=["mystery-box"],
    )
    # When the player has not unlocked it (one round played: progress is counted all the same)
    play(user, "one")
    catalogue, mine = auth_client.get(CATALOGUE), auth_client.get(MINE)
    # Then neither answer says anything about it but that one secret remains
    for answer in (catalogue, mine):
        assert answer.status_code == 200
        text = answer.content.decode()
        assert "secret" not in text.lower() and "Whisper" not in text and "mystery-box" not in text
    assert [item["code"] for item in catalogue.json()["items"]] == ["visible"]
    assert mine.json()["summary"] == {"unlocked": 0, "total": 1, "hidden_remaining": 1}

    # When they unlock it
    play(user, "two")
    catalogue, mine = auth_client.get(CATALOGUE), auth_client.get(MINE)
    # Then it shows, marked hidden, to them only
    secret = next(item for item in mine.json()["items"] if item["code"] == "secret-marathon")
    assert (secret["title"], secret["hidden"], secret["unlocked"], secret["progress"]) == (
        "Secret Marathon",
        True,
        True,
        2,
    )
    assert "secret-marathon" in [item["code"] for item in catalogue.json()["items"]]
    assert mine.json()["summary"] == {"unlocked": 1, "total": 2, "hidden_remaining": 0}
    stranger = client_for(UserFactory())
    assert "Secret" not in stranger.get(CATALOGUE).content.decode()
    assert "Secret" not in stranger.get(MINE).content.decode()


def test_an_achievement_switched_off_stays_in_the_list_of_those_who_unlocked_it(
    user: Any, auth_client: APIClient
) -> None:
    fund(user)
    achievement = AchievementFactory(code="early-bird", threshold=1)
    play(user, "one")
    achievement.is_active = False
    achievement.save(update_fields=["is_active"])

    mine = auth_client.get(MINE).json()
    assert [(item["code"], item["unlocked"]) for item in mine["items"]] == [("early-bird", True)]
    assert client_for(UserFactory()).get(MINE).json()["items"] == []


def test_an_unlock_lands_in_the_inbox_once_and_progress_on_the_way_does_not(user: Any, auth_client: APIClient) -> None:
    # Given an achievement for 3 rounds paying 7 gems
    fund(user)
    AchievementFactory(code="rounds-3", title="Three in a row", threshold=3, reward_gems=7, reward_gold=0)
    # When the player plays 2 rounds, then 3 more
    play(user, "a")
    play(user, "b")
    before = auth_client.get(INBOX).json()
    for key in ("c", "d", "e"):
        play(user, key)
    after = auth_client.get(INBOX).json()
    # Then nothing was written on the way, and one unlock notification (plus the reward's) after
    assert [item["kind"] for item in before["items"]] == ["staff_grant"]  # the test's funding only
    kinds = sorted(item["kind"] for item in after["items"])
    assert kinds == ["achievement_unlocked", "reward_achievement", "staff_grant"]
    unlocked = next(item for item in after["items"] if item["kind"] == "achievement_unlocked")
    assert unlocked["title"] == "Achievement unlocked"
    assert "Three in a row" in unlocked["body"]
    assert after["unread"] == before["unread"] + 2
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="achievement").count() == 1
    assert Notification.objects.filter(user=user, kind="achievement_unlocked").count() == 1


def test_achievements_need_a_login(api_client: APIClient) -> None:
    assert api_client.get(CATALOGUE).status_code == 401
    assert api_client.get(MINE).status_code == 401
    assert api_client.get(MINE + "/").status_code == 401  # both slash forms are served
