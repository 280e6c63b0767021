"""The configuration the games ship with, installed by migration ``0002_default_configuration``
(so every database, production's included, starts playable) and restorable by staff.

Plain data only; :func:`install` writes what is missing through the migration's historical
models and never overwrites what staff have changed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# game -> GameConfig fields. The RPS multiplier 1.91 gives an RTP of 97%: a win (1/3) pays
# 1.91 x bet and a draw (1/3) returns the bet, (1.91 + 1) / 3 = 0.97. See games/services/rps.py.
GAME_CONFIGS: dict[str, dict[str, Any]] = {
    "slot": {"min_bet": 10, "max_bet": 10_000},
    "crash": {"min_bet": 10, "max_bet": 10_000},
    "rps": {"min_bet": 10, "max_bet": 5_000, "win_multiplier": Decimal("1.91")},
    "gacha": {"min_bet": 1, "max_bet": 10**9},
}

# (game, vip tier) -> rounds (gacha: pulls) per UTC day.
DAILY_LIMITS: dict[tuple[str, str], int] = {
    # gacha: pulls per UTC day (a 10-pull counts 10): a STANDARD player gets three 10-pulls a day.
    ("gacha", "STANDARD"): 30,
    ("gacha", "PREMIUM"): 60,
    ("gacha", "VIP"): 100,
}

# Slots: symbols (code, name, emoji, sort order), reel weights {reel: {symbol: weight}}, paytable
# (symbol, count, multiplier, is_jackpot). The earlier system's six symbols; 32 stops per reel
# (32,768 equally likely stop combinations). Exactly, by enumeration (games.fairness.slot_rtp):
# RTP 3935/4096 = 96.0693%, hit frequency 1207/4096 = 29.47% (every hit pays at least 1.5x the
# bet), jackpot (three sevens) 1/4096. Every multiplier is a multiple of 0.5, so bet x multiplier
# is whole, and the RTP exact, for every even bet (payouts floor bet x multiplier). docs/games.md.
SLOT_SYMBOLS: list[tuple[str, str, str, int]] = [
    ("cherry", "Cherry", "🍒", 1),
    ("lemon", "Lemon", "🍋", 2),
    ("orange", "Orange", "🍊", 3),
    ("grape", "Grape", "🍇", 4),
    ("diamond", "Diamond", "💎", 5),
    ("seven", "Seven", "7️⃣", 6),
]
SLOT_REEL_WEIGHTS: dict[int, dict[str, int]] = {
    0: {"cherry": 8, "lemon": 7, "orange": 6, "grape": 5, "diamond": 4, "seven": 2},
    1: {"cherry": 7, "lemon": 7, "orange": 6, "grape": 6, "diamond": 4, "seven": 2},
    2: {"cherry": 6, "lemon": 8, "orange": 7, "grape": 6, "diamond": 3, "seven": 2},
}
SLOT_PAYTABLE: list[tuple[str, int, Decimal, bool]] = [
    ("cherry", 1, Decimal("1.5"), False),
    ("cherry", 2, Decimal("2.5"), False),
    ("cherry", 3, Decimal("10"), False),
    ("lemon", 3, Decimal("8"), False),
    ("orange", 3, Decimal("11"), False),
    ("grape", 3, Decimal("15"), False),
    ("diamond", 2, Decimal("3"), False),
    ("diamond", 3, Decimal("40"), False),
    ("seven", 2, Decimal("8"), False),
    ("seven", 3, Decimal("250"), True),
]

# Gacha banners: code -> banner fields plus "rarities" [(rarity, rank, weight, duplicate_value)]
# and "items" [(code, name, rarity, sort order)]. Filled by the gacha work.
GACHA_BANNERS: dict[str, dict[str, Any]] = {
    # Rarity weights per mille: legendary 0.6%, epic 5.1%, rare 30%, common 64.3%; the legendary is
    # guaranteed by the 90th pull (with pity, one pull in ~69.7 is legendary: E[pulls] = (1 -
    # 0.994**90) / 0.006). A single pull costs 100 gold and a 10-pull 900, against the 1,000 gold
    # sign-up bonus; a duplicate converts to gold (paid as the round's payout).
    "casino-classics": {
        "name": "Casino Classics",
        "description": "Chips, charms and trophies from the casino floor. A legendary by the 90th pull at the latest.",
        "is_active": True,
        "currency": "gold",
        "cost_single": 100,
        "cost_ten": 900,
        "pity_threshold": 90,
        "duplicate_currency": "gold",
        "sort_order": 0,
        "rarities": [
            ("legendary", 0, 6, 500),
            ("epic", 1, 51, 100),
            ("rare", 2, 300, 25),
            ("common", 3, 643, 10),
        ],
        "items": [
            ("golden-dragon", "Golden Dragon", "legendary", 0),
            ("royal-flush-crown", "Royal Flush Crown", "legendary", 1),
            ("diamond-dice", "Diamond Dice", "epic", 0),
            ("lucky-seven-trophy", "Lucky Seven Trophy", "epic", 1),
            ("platinum-chip", "Platinum Chip", "epic", 2),
            ("silver-roulette-wheel", "Silver Roulette Wheel", "rare", 0),
            ("velvet-top-hat", "Velvet Top Hat", "rare", 1),
            ("jade-lucky-cat", "Jade Lucky Cat", "rare", 2),
            ("ace-of-spades", "Ace of Spades", "rare", 3),
            ("red-chip", "Red Chip", "common", 0),
            ("green-chip", "Green Chip", "common", 1),
            ("cherry-charm", "Cherry Charm", "common", 2),
            ("lucky-horseshoe", "Lucky Horseshoe", "common", 3),
            ("four-leaf-clover", "Four-Leaf Clover", "common", 4),
        ],
    },
}


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
