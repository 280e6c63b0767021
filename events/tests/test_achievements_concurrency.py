"""An achievement unlocks exactly once even when the rounds that cross its threshold run in
parallel: one reward in the ledger, one unlock notification, one unlock pushed, one item."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from economy.models import LedgerEntry
from events.models import AchievementProgress
from events.tests.factories import AchievementFactory
from events.tests.test_achievements_api import fund, play
from games.models import GachaBanner, GachaItem, InventoryItem
from realtime.models import Notification
from realtime.tests.outbox import announced


@pytest.mark.django_db(transaction=True)
def test_20_parallel_rounds_cross_the_threshold_once(user: Any, parallel: Any) -> None:
    # Given an achievement for 10 rounds paying gems and an item, and a funded player
    from django.apps import apps

    from games import defaults

    defaults.install(apps)  # a transaction=True test: the shipped games may have been emptied
    banner = GachaBanner.objects.create(
        code="parallel", name="Parallel", cost_single=10, cost_ten=90, updated_at=timezone.now()
    )
    GachaItem.objects.create(banner=banner, rarity="rare", code="parallel-charm", name="Parallel Charm")
    fund(user)
    achievement = AchievementFactory(
        code="rounds-10", threshold=10, reward_gems=9, reward_gold=0, reward_items=["parallel-charm"]
    )

    # When 20 rounds of the player run at once
    results = parallel(20, lambda index: play(user, f"p{index}"))

    # Then every round settled, and the achievement unlocked once, frozen at its threshold
    assert [result for result in results if isinstance(result, Exception)] == []
    progress = AchievementProgress.objects.get(achievement=achievement, user=user)
    assert (progress.value, progress.target) == (10, 10) and progress.unlocked_at is not None
    # And it paid once, told the player once and pushed one unlock
    rewards = LedgerEntry.objects.filter(wallet_id=user.pk, reason="achievement")
    assert [(entry.currency, entry.delta) for entry in rewards] == [("gems", 9)]
    assert Notification.objects.filter(user=user, kind="achievement_unlocked").count() == 1
    assert Notification.objects.filter(user=user, kind="reward_achievement").count() == 1
    pushed = [e for e in announced(types=("achievement_progress",)) if e.data["unlocked_now"]]
    assert len(pushed) == 1
    # And the item is in the inventory once, not as a duplicate
    owned = InventoryItem.objects.get(user=user)
    assert (owned.item.code, owned.source, owned.round_id, owned.duplicates) == ("parallel-charm", "reward", None, 0)
