"""Reads of games/ shared by views, the admin and other apps: the player's fairness state and a
round as the verifier reads it. Typed, no writes (a player who never played has no seed yet and
is shown the hash of none: the seed is created by the first round or the first rotation)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from casino.copies import ProcessCopy
from casino.db import column_name, one_or_none
from economy.selectors import wallet_vip_tier
from games.enums import Game, RoundResult, RoundStatus
from games.fairness import GachaRarity, gacha_expected_pulls_to_top, gacha_odds
from games.models import (
    FairnessSeed,
    GachaBanner,
    GachaPity,
    GameDailyLimit,
    GameRound,
    InventoryItem,
    PlayerGameDay,
    PlayerGameStats,
    SlotTableVersion,
)


def active_seed(*, user_id: int) -> FairnessSeed | None:
    return one_or_none(FairnessSeed.objects.filter(user_id=user_id, revealed_at__isnull=True))


def last_revealed_seed(*, user_id: int) -> FairnessSeed | None:
    return one_or_none(
        FairnessSeed.objects.filter(user_id=user_id, revealed_at__isnull=False).order_by("-revealed_at", "-id")
    )


def fairness_state(*, user_id: int, current: FairnessSeed | None = None) -> dict[str, Any]:
    """``GET /api/games/fairness``: the hash of the seed in use (never the seed), the client seed,
    the next nonce and the last revealed seed (with its hash, so a player can check it)."""
    seed = current or active_seed(user_id=user_id)
    previous = last_revealed_seed(user_id=user_id)
    return {
        "server_seed_hash": seed.server_seed_hash if seed else None,
        "client_seed": seed.client_seed if seed else None,
        "nonce": seed.next_nonce if seed else 0,
        "previous": (
            {
                "server_seed": previous.server_seed,
                "server_seed_hash": previous.server_seed_hash,
                "client_seed": previous.client_seed,
                "last_nonce": previous.next_nonce - 1,
                "revealed_at": previous.revealed_at,
            }
            if previous
            else None
        ),
    }


def round_for_player(*, user_id: int, round_id: int) -> GameRound | None:
    return one_or_none(GameRound.objects.select_related("seed").filter(pk=round_id, user_id=user_id))


def _expanded_inputs(round_: GameRound) -> dict[str, Any]:
    """The round's inputs with any configuration it names by reference written out (a slot
    round names its table version; the verifier needs the strips and the paytable)."""
    inputs = dict(round_.inputs)
    version_id = inputs.get("table_version")
    if round_.game == "slot" and version_id is not None:
        version = one_or_none(SlotTableVersion.objects.filter(pk=version_id))
        if version is not None:
            inputs["reel_strips"] = version.reel_strips
            inputs["paytable"] = version.paytable
    return inputs


def round_public(round_: GameRound) -> dict[str, Any]:
    """A round as ``GET /api/games/rounds/{id}`` shows it and ``tools/verify_round.py`` reads it.

    While the round is open its outcome is withheld (a live crash round's crash point); the
    server seed is shown once the player has rotated it (before that, only its hash)."""
    seed = round_.seed
    is_open = round_.status == RoundStatus.OPEN
    return {
        "id": round_.pk,
        "game": round_.game,
        "status": round_.status,
        "result": round_.result or None,
        "currency": round_.currency,
        "bet_amount": round_.bet_amount,
        "payout": round_.payout,
        "created_at": round_.created_at,
        "settled_at": round_.settled_at,
        "fairness": {
            "server_seed_hash": seed.server_seed_hash,
            "server_seed": seed.server_seed if seed.is_revealed else None,
            "client_seed": round_.client_seed,
            "nonce": round_.nonce,
        },
        "inputs": _expanded_inputs(round_),
        "outcome": None if is_open else round_.outcome,
    }


# --- History and statistics (GET /api/games/history, GET /api/games/stats/me) -----------------

# A round in the history, in the earlier system's words (its game_history.action_type): a round
# that paid more than its bet is a WIN, one that paid the bet back a DRAW, and any other (a loss,
# a partial payback, a live crash round still running) the BET the player placed.
HISTORY_ACTION_TYPES: dict[str, str] = {RoundResult.WIN: "WIN", RoundResult.DRAW: "DRAW", RoundResult.LOSE: "BET"}
_HISTORY_FIELDS = ("id", "game", "status", "result", "currency", "bet_amount", "payout", "created_at", "settled_at")


def round_history(
    *, user_id: int, game: str | None = None, date_from: date | None = None, date_to: date | None = None
) -> QuerySet[GameRound]:
    """The player's rounds, newest first (``round_user_created_idx``, or ``round_user_game_idx``
    with a game), optionally of one game and between two UTC dates, both included."""
    rounds = GameRound.objects.filter(user_id=user_id).only(*_HISTORY_FIELDS).order_by("-created_at", "-id")
    if game:
        rounds = rounds.filter(game=game)
    if date_from is not None:
        rounds = rounds.filter(created_at__gte=datetime.combine(date_from, time.min, tzinfo=UTC))
    if date_to is not None and date_to < date.max:  # date.max: no upper bound (and no day after it)
        rounds = rounds.filter(created_at__lt=datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC))
    return rounds


def round_history_item(round_: GameRound) -> dict[str, Any]:
    """One history row: ``amount`` is the round's net effect on the balance (payout - bet)."""
    return {
        "id": round_.pk,
        "game_type": round_.game,
        "action_type": HISTORY_ACTION_TYPES.get(round_.result, "BET"),
        "amount": round_.payout - round_.bet_amount,
        "result": round_.result or None,
        "status": round_.status,
        "currency": round_.currency,
        "bet_amount": round_.bet_amount,
        "win_amount": round_.payout,
        "created_at": round_.created_at,
        "settled_at": round_.settled_at,
    }


# Rarities the earlier client counts as gacha "rare" and "ultra rare" wins.
GACHA_RARE: tuple[str, ...] = ("rare",)
GACHA_ULTRA_RARE: tuple[str, ...] = ("epic", "legendary")

# What PlayerGameStats cannot hold: the best crash cash-out multiplier (from a won crash round's
# inputs: the live cash-out's multiplier, else the auto cash-out target) and the gacha pulls of
# rare and ultra rare items (from the rounds' outcomes). One pass over the player's settled crash
# and gacha rounds (``round_user_game_idx``); malformed values count as nothing, never a 500.
_ROUND_EXTRAS = r"""
SELECT MAX(CASE WHEN game = 'crash' AND result = 'win' AND multiplier ~ '^[0-9]{1,12}(\.[0-9]{1,8})?$'
                THEN multiplier::numeric END),
       COALESCE(SUM(rare), 0), COALESCE(SUM(ultra_rare), 0)
FROM (
    SELECT game, result,
           COALESCE(inputs ->> 'cashout_multiplier', inputs ->> 'auto_cashout_multiplier') AS multiplier,
           (SELECT COUNT(*) FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(outcome -> 'pulls') = 'array' THEN outcome -> 'pulls' ELSE '[]' END) p
            WHERE p ->> 'rarity' = ANY(%(rare)s)) AS rare,
           (SELECT COUNT(*) FROM jsonb_array_elements(
                CASE WHEN jsonb_typeof(outcome -> 'pulls') = 'array' THEN outcome -> 'pulls' ELSE '[]' END) p
            WHERE p ->> 'rarity' = ANY(%(ultra_rare)s)) AS ultra_rare
    FROM games_gameround
    WHERE user_id = %(user_id)s AND game IN ('crash', 'gacha') AND status = 'settled'
) rounds
"""


def _percent(part: int, whole: int) -> float:
    return round(100 * part / whole, 2) if whole else 0.0


def game_stats_for_player(*, user_id: int) -> dict[str, Any]:
    """``GET /api/games/stats/me``: the totals over every game and one breakdown per game (every
    game, with zeros for one never played), from ``PlayerGameStats`` (kept by each round) plus
    :data:`_ROUND_EXTRAS` when the player has played crash or gacha. Definitions:

    * ``total_games_played`` = ``total_bets`` = settled rounds (the earlier API's two names for
      the count of bets; the amounts are ``total_bet_amount`` and ``total_won_amount``);
    * ``win_rate`` = wins / plays as a percentage with 2 decimals (0-100; a draw is a play, not a
      win), as the earlier API served it;
    * ``total_profit`` = payouts - bets; ``overall_max_win`` = the largest payout of a won round;
    * ``spins``/``bets`` and ``ties`` repeat ``plays`` and ``draws`` under the names the client
      reads for some games; ``highest_multiplier`` = crash's ``max_multiplier`` (null: none)."""
    rows = {row.game: row for row in PlayerGameStats.objects.filter(user_id=user_id)}
    breakdown: dict[str, dict[str, Any]] = {}
    for game in Game.values:
        row = rows.get(game)
        plays = row.plays if row else 0
        wins = row.wins if row else 0
        draws = row.draws if row else 0
        total_bet = row.total_bet if row else 0
        total_won = row.total_won if row else 0
        breakdown[game] = {
            "plays": plays,
            "spins": plays,
            "bets": plays,
            "wins": wins,
            "losses": row.losses if row else 0,
            "draws": draws,
            "ties": draws,
            "win_rate": _percent(wins, plays),
            "max_win": row.max_win if row else 0,
            "total_bet": total_bet,
            "total_won": total_won,
            "net_profit": total_won - total_bet,
            "current_win_streak": row.current_win_streak if row else 0,
            "best_win_streak": row.best_win_streak if row else 0,
            "updated_at": row.updated_at if row else None,
        }
    max_multiplier: Decimal | None = None
    rare = ultra_rare = 0
    if any(rows.get(game) for game in (Game.CRASH, Game.GACHA)):
        with connection.cursor() as cursor:
            cursor.execute(
                _ROUND_EXTRAS, {"user_id": user_id, "rare": list(GACHA_RARE), "ultra_rare": list(GACHA_ULTRA_RARE)}
            )
            max_multiplier, rare, ultra_rare = cursor.fetchone()
    breakdown[Game.CRASH]["max_multiplier"] = float(max_multiplier) if max_multiplier is not None else None
    breakdown[Game.GACHA]["rare_wins"] = int(rare)
    breakdown[Game.GACHA]["ultra_rare_wins"] = int(ultra_rare)

    played = [row for row in rows.values() if row.plays]
    total_plays = sum(row.plays for row in played)
    total_wins = sum(row.wins for row in played)
    total_bet = sum(row.total_bet for row in played)
    total_won = sum(row.total_won for row in played)
    latest = max(played, key=lambda row: row.updated_at, default=None)
    return {
        "user_id": user_id,
        "total_games_played": total_plays,
        "total_bets": total_plays,
        "total_wins": total_wins,
        "total_losses": sum(row.losses for row in played),
        "total_draws": sum(row.draws for row in played),
        "win_rate": _percent(total_wins, total_plays),
        "total_bet_amount": total_bet,
        "total_won_amount": total_won,
        "total_profit": total_won - total_bet,
        "overall_max_win": max((row.max_win for row in played), default=0),
        "highest_multiplier": breakdown[Game.CRASH]["max_multiplier"],
        "current_win_streak": latest.current_win_streak if latest else 0,
        "best_win_streak": max((row.best_win_streak for row in played), default=0),
        "updated_at": latest.updated_at if latest else None,
        "game_breakdown": breakdown,
    }


# --- gacha, inventory ----------------------------------------------------------------------------


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
