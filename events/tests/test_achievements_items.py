"""Reward items (games.services.inventory, fed by ``reward_granted``): the gacha items an
achievement, an event or a mission names land in the player's inventory; an unknown code is
skipped, an item already owned counts as an unpaid duplicate."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from economy.models import LedgerEntry
from events.services import event_claim, event_join
from events.tests.factories import AchievementFactory, event_with
from events.tests.test_achievements_api import fund, play
from games.models import GachaBanner, GachaItem, InventoryItem

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _shipped_games(db: Any) -> None:
    from django.apps import apps

    from games import defaults

    defaults.install(apps)


def banner(code: str, *, sort_order: int = 0, is_active: bool = True) -> GachaBanner:
    return GachaBanner.objects.create(
        code=code,
        name=code.title(),
        cost_single=10,
        cost_ten=90,
        sort_order=sort_order,
        is_active=is_active,
        updated_at=timezone.now(),
    )


def item(on: GachaBanner, code: str, *, is_active: bool = True) -> GachaItem:
    return GachaItem.objects.create(banner=on, rarity="rare", code=code, name=code.title(), is_active=is_active)


def owned(user: Any) -> dict[str, tuple[str, int | None, int]]:
    return {
        row.item.code: (row.source, row.round_id, row.duplicates)
        for row in InventoryItem.objects.filter(user=user).select_related("item")
    }


def test_an_unlock_puts_its_items_in_the_inventory_and_skips_unknown_codes(
    user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given an achievement paying gold, a known item twice and a code no item has
    shop = banner("reward-shop")
    item(shop, "ruby-ring")
    fund(user)
    AchievementFactory(
        threshold=1, reward_gold=50, reward_gems=0, reward_items=["ruby-ring", "no-such-item", "ruby-ring"]
    )
    # When the player unlocks it
    with caplog.at_level(logging.WARNING, logger="games.services.inventory"):
        play(user, "unlock")
    # Then the item is theirs once (the second copy a duplicate), with no round, and the gold paid
    assert owned(user) == {"ruby-ring": ("reward", None, 1)}
    assert [(e.currency, e.delta) for e in LedgerEntry.objects.filter(wallet_id=user.pk, reason="achievement")] == [
        ("gold", 50)
    ]
    # And the unknown code was logged, not fatal
    assert "no-such-item" in caplog.text


def test_an_item_already_owned_counts_as_a_duplicate_and_pays_nothing(user: Any) -> None:
    # Given a player who owns an item from a gacha pull
    shop = banner("reward-shop")
    charm = item(shop, "lucky-coin")
    fund(user)
    pull = play(user, "pull", game="gacha").round
    InventoryItem.objects.create(user=user, item=charm, round=pull, acquired_at=timezone.now())
    balances_before = list(LedgerEntry.objects.filter(wallet_id=user.pk).values_list("id", flat=True))
    AchievementFactory(threshold=1, reward_gold=0, reward_gems=0, reward_xp=0, reward_items=["lucky-coin"])
    # When an achievement rewarding the same item unlocks
    play(user, "unlock")
    # Then the gacha row stays as it was, one duplicate more, and no currency moved for it
    assert owned(user) == {"lucky-coin": ("gacha", pull.pk, 1)}
    new_entries = LedgerEntry.objects.filter(wallet_id=user.pk).exclude(id__in=balances_before)
    assert set(new_entries.values_list("reason", flat=True)) <= {"game_bet", "game_win"}  # the round's own postings


def test_a_code_several_banners_share_resolves_to_the_active_item_of_the_first_banner(user: Any) -> None:
    first, second, retired = banner("first", sort_order=1), banner("second", sort_order=2), banner("old", sort_order=0)
    item(retired, "twin", is_active=False)
    wanted = item(first, "twin")
    item(second, "twin")
    fund(user)
    AchievementFactory(threshold=1, reward_items=["twin"])

    play(user, "unlock")

    assert list(InventoryItem.objects.filter(user=user).values_list("item_id", flat=True)) == [wanted.pk]


def test_an_events_reward_items_land_in_the_inventory_when_claimed(user: Any) -> None:
    item(banner("reward-shop"), "event-badge")
    fund(user)
    event = event_with({"rounds_played": 1}, reward_gold=10, reward_items=["event-badge"])
    event_join(user=user, event_id=event.pk)
    play(user, "complete")
    assert owned(user) == {}  # completing pays nothing yet

    event_claim(user=user, event_id=event.pk)

    assert owned(user) == {"event-badge": ("reward", None, 0)}


def test_the_inventory_api_lists_a_reward_item_without_a_round(user: Any, auth_client: APIClient) -> None:
    item(banner("reward-shop"), "api-badge")
    fund(user)
    AchievementFactory(threshold=1, reward_items=["api-badge"])
    play(user, "unlock")

    answer = auth_client.get("/api/games/inventory")

    assert answer.status_code == 200
    body = answer.json()
    entries = body["items"] if isinstance(body, dict) and "items" in body else body["results"]
    assert [(entry["code"], entry["round_id"]) for entry in entries] == [("api-badge", None)]
