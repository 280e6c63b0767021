"""Reads of the gacha and the inventory: a banner as its pulls draw from it and as its odds are
published (one object for both), the banners open now (kept per process), the player's pulls
today, pity and owned items. Typed, no writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from casino.copies import ProcessCopy
from casino.db import column_name
from economy.selectors import wallet_vip_tier
from games.enums import Game
from games.fairness import GachaRarity, gacha_expected_pulls_to_top, gacha_odds
from games.models import GachaBanner, GachaPity, GameDailyLimit, InventoryItem, PlayerGameDay


@dataclass(frozen=True)
class GachaItemSpec:
    id: int
    code: str
    name: str
    rarity: str
    image_url: str


@dataclass(frozen=True)
class GachaRaritySpec:
    """A rarity as the draw reads it: its weight, its rank (0 = the top rarity, the one pity
    guarantees), what a duplicate of it converts to, and its active items' codes in draw order."""

    code: str
    rank: int
    weight: int
    duplicate_value: int
    items: tuple[str, ...]


@dataclass(frozen=True)
class GachaBannerSpec:
    """One banner as a pull draws from it AND as its odds are published: both read this object,
    built from the same rows (rarities by rank, active items by (sort_order, id)), so the odds the
    player is shown are the odds the draw uses. A rarity without an active item is left out of
    both (it could not give anything)."""

    id: int
    code: str
    name: str
    description: str
    currency: str
    cost_single: int
    cost_ten: int
    pity_threshold: int
    duplicate_currency: str
    rarities: tuple[GachaRaritySpec, ...]  # top rarity first
    items: Mapping[str, GachaItemSpec]  # active items by code

    def cost(self, pull_count: int) -> int:
        """The price of a single pull or of a 10-pull (the only two a player may buy)."""
        return {1: self.cost_single, 10: self.cost_ten}[pull_count]

    def draw_rarities(self) -> list[GachaRarity]:
        """The rarities in the shape ``games.fairness.gacha_pulls`` and ``gacha_odds`` take."""
        return [{"code": rarity.code, "weight": rarity.weight, "items": list(rarity.items)} for rarity in self.rarities]

    def odds(self) -> dict[str, Fraction]:
        """P(rarity) of one pull without pity: weight / total weight."""
        return gacha_odds(self.draw_rarities())

    def expected_pulls_to_top(self, *, pity_before: int = 0) -> Fraction:
        """E[pulls up to and including the next top-rarity pull], pity included (exact)."""
        return gacha_expected_pulls_to_top(
            self.draw_rarities(), pity_threshold=self.pity_threshold, pity_before=pity_before
        )

    def duplicate_value(self, rarity: str) -> int:
        return next(spec.duplicate_value for spec in self.rarities if spec.code == rarity)


def gacha_banner_spec(banner: GachaBanner) -> GachaBannerSpec:
    """The banner's draw configuration. Reads ``banner.rarities`` and ``banner.items`` with
    ``.all()`` and orders in Python, so a prefetched banner costs no further query."""
    items = sorted((item for item in banner.items.all() if item.is_active), key=lambda item: (item.sort_order, item.pk))
    rarities = []
    for rarity in sorted(banner.rarities.all(), key=lambda rarity: rarity.rank):
        codes = tuple(item.code for item in items if item.rarity == rarity.rarity)
        if codes:
            rarities.append(
                GachaRaritySpec(
                    code=rarity.rarity,
                    rank=rarity.rank,
                    weight=rarity.weight,
                    duplicate_value=rarity.duplicate_value,
                    items=codes,
                )
            )
    drawable = {rarity.code for rarity in rarities}
    return GachaBannerSpec(
        id=banner.pk,
        code=banner.code,
        name=banner.name,
        description=banner.description,
        currency=banner.currency,
        cost_single=banner.cost_single,
        cost_ten=banner.cost_ten,
        pity_threshold=banner.pity_threshold,
        duplicate_currency=banner.duplicate_currency,
        rarities=tuple(rarities),
        items={
            item.code: GachaItemSpec(
                id=item.pk, code=item.code, name=item.name, rarity=item.rarity, image_url=item.image_url
            )
            for item in items
            if item.rarity in drawable
        },
    )


@dataclass(frozen=True)
class _ActiveBanner:
    starts_at: datetime | None
    ends_at: datetime | None
    spec: GachaBannerSpec


def _active_banners_load() -> tuple[_ActiveBanner, ...]:
    banners = (
        GachaBanner.objects.filter(is_active=True).prefetch_related("rarities", "items").order_by("sort_order", "id")
    )
    return tuple(_ActiveBanner(banner.starts_at, banner.ends_at, gacha_banner_spec(banner)) for banner in banners)


# Kept per process (casino.copies; banners, rarities and items are watched in games/apps.py): a pull
# reads none of the three tables. The windows are checked when used.
_active_banners = ProcessCopy("games.gacha_banners", _active_banners_load)


def gacha_banners_open(*, code: str | None = None, now: datetime | None = None) -> list[GachaBannerSpec]:
    """The banners a player may pull now (active, within their window, with something to draw),
    in display order; ``code``: that one only. From the process's copy of the active banners."""
    now = now or timezone.now()
    return [
        banner.spec
        for banner in _active_banners.get()
        if (banner.starts_at is None or banner.starts_at <= now)
        and (banner.ends_at is None or now < banner.ends_at)
        and (code is None or banner.spec.code == code)
        and banner.spec.rarities
    ]


def gacha_pulls_today(*, user_id: int) -> tuple[int | None, int]:
    """(the player's daily pull limit for their VIP tier or None, the pulls counted today)."""
    limits = dict(GameDailyLimit.objects.filter(game=Game.GACHA).values_list("vip_tier", "limit"))
    limit = limits.get(wallet_vip_tier(user_id=user_id)) if limits else None
    used = PlayerGameDay.objects.filter(user_id=user_id, game=Game.GACHA, day=timezone.now().date()).values_list(
        "units", flat=True
    )
    return limit, next(iter(used), 0)


def gacha_codes_owned(*, user_id: int, banner: GachaBannerSpec) -> set[str]:
    """The codes of the banner's items (the ones a pull can draw) the player owns: what a pull
    calls new or a duplicate. Written out (every pull reads it; the ORM compiled its join on
    each call), by the item keys of the banner's process copy."""
    return items_owned(user_id=user_id, item_codes=gacha_item_codes(banner))


def items_owned(*, user_id: int, item_codes: Mapping[int, str]) -> set[str]:
    """Which of ``item_codes`` (codes by item key) the player owns."""
    if not item_codes:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(inventory_owned_sql(len(item_codes)), [user_id, *item_codes])
        return {item_codes[item_id] for (item_id,) in cursor.fetchall()}


def gacha_item_codes(banner: GachaBannerSpec) -> dict[int, str]:
    """The banner's items (the ones a pull can draw): their codes by item key."""
    return {item.id: code for code, item in banner.items.items()}


def inventory_owned_sql(count: int) -> str:
    """``SELECT`` of the item keys a player owns among ``count`` of them (parameters: the
    player, then the keys)."""
    quote = connection.ops.quote_name
    item, user = column_name(InventoryItem, "item"), column_name(InventoryItem, "user")
    return (
        f"SELECT {item} FROM {quote(InventoryItem._meta.db_table)}"  # noqa: S608 - names from the models
        f" WHERE {user} = %s AND {item} IN ({', '.join(['%s'] * count)})"
    )


def gacha_banner_public(spec: GachaBannerSpec, *, pity_counter: int) -> dict[str, Any]:
    """A banner as ``GET /api/games/gacha/config`` shows it: prices, pity, and the odds computed
    with ``games.fairness.gacha_odds`` from the rows the draw uses."""
    odds = spec.odds()
    return {
        "code": spec.code,
        "name": spec.name,
        "description": spec.description,
        "currency": spec.currency,
        "cost_single": spec.cost_single,
        "cost_ten": spec.cost_ten,
        "pity_threshold": spec.pity_threshold,
        "pity_counter": pity_counter,
        "pulls_to_guarantee": max(1, spec.pity_threshold - pity_counter),
        "expected_pulls_to_top": float(spec.expected_pulls_to_top()),
        "duplicate_currency": spec.duplicate_currency,
        "rarities": [
            {
                "rarity": rarity.code,
                "rank": rarity.rank,
                "weight": rarity.weight,
                "odds": float(odds[rarity.code]),
                "odds_exact": str(odds[rarity.code]),
                "duplicate_value": rarity.duplicate_value,
                "items": [
                    {"code": code, "name": spec.items[code].name, "image_url": spec.items[code].image_url}
                    for code in rarity.items
                ],
            }
            for rarity in spec.rarities
        ],
    }


def gacha_config(*, user_id: int) -> dict[str, Any]:
    """``GET /api/games/gacha/config``: every open banner with its odds, prices and the player's
    pity counter, the player's pulls left today, and (for the existing client) the default
    banner's ``cost_single``, ``cost_ten`` and ``rarity_table`` ([[rarity, probability], ...])."""
    specs = gacha_banners_open()
    pity = dict(
        GachaPity.objects.filter(user_id=user_id, banner_id__in=[spec.id for spec in specs]).values_list(
            "banner_id", "pulls_since_top"
        )
    )
    banners = [gacha_banner_public(spec, pity_counter=pity.get(spec.id, 0)) for spec in specs]
    limit, used = gacha_pulls_today(user_id=user_id)
    default = banners[0] if banners else None
    return {
        "default_banner": default["code"] if default else None,
        "currency": default["currency"] if default else None,
        "cost_single": default["cost_single"] if default else None,
        "cost_ten": default["cost_ten"] if default else None,
        "pity_threshold": default["pity_threshold"] if default else None,
        "pity_counter": default["pity_counter"] if default else 0,
        "rarity_table": [[rarity["rarity"], rarity["odds"]] for rarity in default["rarities"]] if default else [],
        "daily_limit": limit,
        "pulls_today": used,
        "pulls_left_today": None if limit is None else max(0, limit - used),
        "banners": banners,
    }


def gacha_inventory(*, user_id: int, banner: str | None = None, rarity: str | None = None) -> QuerySet[InventoryItem]:
    """The player's items, newest first (``GET /api/games/inventory``)."""
    items = InventoryItem.objects.filter(user_id=user_id).select_related("item__banner").order_by("-acquired_at", "-id")
    if banner:
        items = items.filter(item__banner__code=banner)
    if rarity:
        items = items.filter(item__rarity=rarity)
    return items
