"""Items players receive as a reward: an achievement, an event or a mission names gacha item
codes in its reward (``reward_items``), and the reward's ``reward_granted`` event carries them
(``items``). :func:`inventory_reward_add` puts them in the player's inventory, inside the
transaction that paid the reward (it is called by the ``reward_granted`` subscriber in
``games.subscribers``, so games imports nothing of events).

- A code is a :class:`~games.models.GachaItem` code. Codes are unique per banner, so a code
  several banners share resolves to one item: an active one first, then the banner placed first
  (``sort_order``, id), then the item placed first. A code that names no item is logged and
  skipped: the currencies of the reward are paid all the same.
- A new item is a row with ``source`` "reward" and no round. An item the player already owns
  counts one more in ``duplicates`` and pays nothing: a gacha duplicate converts to currency
  because the player paid for the pull; a reward's duplicate was free.
- One statement, whatever the number of items: ``INSERT … ON CONFLICT (user, item) DO UPDATE SET
  duplicates = duplicates + …``, so two rewards of the same item committing at once still count
  exactly (the unique key decides which one creates the row).

Exactly once: every emitter of ``reward_granted`` emits it once per grant, in the grant's
transaction (the achievement's unlock, the event's or the mission's claim, each keyed in the
ledger), so the subscriber runs once per grant and rolls back with it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils import timezone

from games.models import GachaItem, InventoryItem

logger = logging.getLogger(__name__)

_UPSERT_CONFLICT = "ON CONFLICT (user_id, item_id) DO UPDATE SET duplicates = t.duplicates + excluded.duplicates + 1"


@dataclass(frozen=True)
class InventoryReward:
    """What one reward put in the inventory (codes, in the order given)."""

    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def reward_item_ids(codes: Iterable[str]) -> dict[str, int]:
    """The item each code names (see the module docstring for a code several banners share)."""
    wanted = {code for code in codes if isinstance(code, str) and code}
    if not wanted:
        return {}
    rows = (
        GachaItem.objects.filter(code__in=wanted)
        .order_by("code", "-is_active", "banner__sort_order", "banner_id", "sort_order", "id")
        .values_list("code", "id")
    )
    found: dict[str, int] = {}
    for code, item_id in rows:
        found.setdefault(code, item_id)
    return found


def inventory_reward_add(*, user_id: int, item_codes: Iterable[object], source: str = "") -> InventoryReward:
    """Give the player the items ``item_codes`` name (a code twice: the item once, then one
    duplicate). A helper: runs in the reward's transaction and opens none."""
    codes = [code for code in item_codes if isinstance(code, str) and code]
    ids = reward_item_ids(codes)
    unknown = [code for code in codes if code not in ids]
    if unknown:
        logger.warning("reward items skipped, no such item: %s (player %s, %s)", unknown, user_id, source or "reward")
    counts = Counter(ids[code] for code in codes if code in ids)
    if not counts:
        return InventoryReward(unknown=unknown)
    # Only to report what was new: the upsert below counts right even if this read is stale.
    owned = set(
        InventoryItem.objects.filter(user_id=user_id, item_id__in=list(counts)).values_list("item_id", flat=True)
    )
    now = timezone.now()
    rows = sorted(counts.items())  # a fixed order: concurrent rewards lock the same rows in the same order
    params: list[Any] = []
    for item_id, count in rows:
        params += [user_id, item_id, None, InventoryItem.Source.REWARD.value, count - 1, now]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
    sql = (
        # Only placeholders are formatted in; every value is a parameter.
        "INSERT INTO games_inventoryitem AS t (user_id, item_id, round_id, source, duplicates, acquired_at) "  # noqa: S608
        f"VALUES {values} {_UPSERT_CONFLICT}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    added: list[str] = []
    duplicates: list[str] = []
    for code in codes:
        if code not in ids:
            continue
        if ids[code] in owned:
            duplicates.append(code)
        else:
            added.append(code)
            owned.add(ids[code])
    return InventoryReward(added=added, duplicates=duplicates, unknown=unknown)
