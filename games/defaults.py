"""The configuration the games ship with, installed by migration ``0002_default_configuration``
(so every database, production's included, starts playable) and restorable by staff.

Plain data only; :func:`install` writes what is missing through the migration's historical
models and never overwrites what staff have changed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# game -> GameConfig fields. The RPS multiplier 1.94 gives an RTP of 97%: a win (1/3) pays
# 1.94 x bet and a draw (1/3) returns the bet, (1.94 + 1) / 3 = 0.98. See games/services/rps.py.
GAME_CONFIGS: dict[str, dict[str, Any]] = {
    "slot": {"min_bet": 10, "max_bet": 10_000},
    "crash": {"min_bet": 10, "max_bet": 10_000},
    "rps": {"min_bet": 10, "max_bet": 5_000, "win_multiplier": Decimal("1.94")},
    "gacha": {"min_bet": 1, "max_bet": 10**9},
}

# (game, vip tier) -> rounds (gacha: pulls) per UTC day.
DAILY_LIMITS: dict[tuple[str, str], int] = {}

# Slots: symbols (code, name, emoji, sort order), reel weights {reel: {symbol: weight}}, paytable
# (symbol, count, multiplier, is_jackpot). Filled by the slots work.
SLOT_SYMBOLS: list[tuple[str, str, str, int]] = []
SLOT_REEL_WEIGHTS: dict[int, dict[str, int]] = {}
SLOT_PAYTABLE: list[tuple[str, int, Decimal, bool]] = []

# Gacha banners: code -> banner fields plus "rarities" [(rarity, rank, weight, duplicate_value)]
# and "items" [(code, name, rarity, sort order)]. Filled by the gacha work.
GACHA_BANNERS: dict[str, dict[str, Any]] = {}


def install(apps: Any) -> None:
    """Create what is missing (idempotent; existing rows are left as staff set them)."""
    from django.utils import timezone

    now = timezone.now()
    GameConfig = apps.get_model("games", "GameConfig")
    for game, fields in GAME_CONFIGS.items():
        GameConfig.objects.get_or_create(game=game, defaults={**fields, "updated_at": now})
    GameDailyLimit = apps.get_model("games", "GameDailyLimit")
    for (game, tier), limit in DAILY_LIMITS.items():
        GameDailyLimit.objects.get_or_create(game=game, vip_tier=tier, defaults={"limit": limit})
    _install_slot(apps)
    _install_gacha(apps, now)


def _install_slot(apps: Any) -> None:
    SlotSymbol = apps.get_model("games", "SlotSymbol")
    SlotReelWeight = apps.get_model("games", "SlotReelWeight")
    SlotPayRule = apps.get_model("games", "SlotPayRule")
    if SlotSymbol.objects.exists():
        return
    symbols = {}
    for code, name, emoji, order in SLOT_SYMBOLS:
        symbols[code] = SlotSymbol.objects.create(code=code, name=name, emoji=emoji, sort_order=order)
    for reel, weights in SLOT_REEL_WEIGHTS.items():
        for code, weight in weights.items():
            SlotReelWeight.objects.create(reel=reel, symbol=symbols[code], weight=weight)
    for code, count, multiplier, is_jackpot in SLOT_PAYTABLE:
        SlotPayRule.objects.create(symbol=symbols[code], count=count, multiplier=multiplier, is_jackpot=is_jackpot)


def _install_gacha(apps: Any, now: Any) -> None:
    GachaBanner = apps.get_model("games", "GachaBanner")
    GachaRarityWeight = apps.get_model("games", "GachaRarityWeight")
    GachaItem = apps.get_model("games", "GachaItem")
    for code, spec in GACHA_BANNERS.items():
        if GachaBanner.objects.filter(code=code).exists():
            continue
        fields = {key: value for key, value in spec.items() if key not in ("rarities", "items")}
        banner = GachaBanner.objects.create(code=code, updated_at=now, **fields)
        for rarity, rank, weight, duplicate_value in spec["rarities"]:
            GachaRarityWeight.objects.create(
                banner=banner, rarity=rarity, rank=rank, weight=weight, duplicate_value=duplicate_value
            )
        for item_code, name, rarity, order in spec["items"]:
            GachaItem.objects.create(banner=banner, code=item_code, name=name, rarity=rarity, sort_order=order)
