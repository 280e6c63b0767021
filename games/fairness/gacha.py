"""Gacha: rarity and item draws with a hard pity, and the exact odds published from the same rows.

A banner's rarities are listed TOP RARITY FIRST, each {code, weight, items}. A batch of
`pull_count` pulls draws `fair_floats(count=2 * pull_count)`; pull k (0-based) uses floats 2k
and 2k+1:

    counter  = pulls since the last top-rarity pull (before the batch: pity_before)
    rarity   = rarities[0] (forced, pity=True)          if counter + 1 >= pity_threshold
               rarities[weighted_index(f_2k, weights)]  otherwise
    item     = rarity.items[floor(f_2k+1 * len(items))]
    counter  = 0 after a top-rarity pull (forced or drawn), counter + 1 otherwise

So with a threshold of 90 no player ever makes 90 pulls in a row without the top rarity.

Odds without pity: P(rarity) = weight / sum(weights); P(item) = P(rarity) / len(items).
With pity, the number K of pulls up to and including the next top-rarity pull, starting from a
counter c, is a geometric draw cut at M = max(1, threshold - c) (the forced pull):

    E[K] = sum_{j=0}^{M-1} q**j = (1 - q**M) / p        p = P(top), q = 1 - p   (M when p = 0)

in closed form, exactly; the long-run share of top-rarity pulls is then 1 / E[K] from c = 0
(renewal: every top pull resets the counter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypedDict

from games.fairness.rng import fair_floats, scaled_floor, weighted_index, weights_total


class GachaRarity(TypedDict):
    """One rarity of a banner: its code, its integer weight and its item codes (in draw order)."""

    code: str
    weight: int
    items: Sequence[str]


@dataclass(frozen=True)
class GachaPull:
    """One pull: the rarity, the item, whether pity forced it, and the pity counter after it."""

    index: int
    rarity: str
    item: str
    pity: bool
    pity_counter_after: int


def gacha_pulls(
    server_seed: str,
    client_seed: str,
    nonce: int,
    *,
    pull_count: int,
    rarities: Sequence[GachaRarity],
    pity_threshold: int,
    pity_before: int,
) -> list[GachaPull]:
    """The pulls of one batch; ``gacha_pity_after`` gives the counter to store after it."""
    _check_positive("pull_count", pull_count)
    _check_positive("pity_threshold", pity_threshold)
    if isinstance(pity_before, bool) or not isinstance(pity_before, int) or pity_before < 0:
        raise ValueError(f"pity_before must be a non-negative integer, got {pity_before!r}")
    weights = _check_rarities(rarities)

    floats = fair_floats(server_seed, client_seed, nonce, 2 * pull_count)
    counter = pity_before
    pulls: list[GachaPull] = []
    for index in range(pull_count):
        rarity_float, item_float = floats[2 * index], floats[2 * index + 1]
        forced = counter + 1 >= pity_threshold
        rarity_index = 0 if forced else weighted_index(rarity_float, weights)
        rarity = rarities[rarity_index]
        item = rarity["items"][scaled_floor(item_float, len(rarity["items"]))]
        counter = 0 if rarity_index == 0 else counter + 1
        pulls.append(GachaPull(index=index, rarity=rarity["code"], item=item, pity=forced, pity_counter_after=counter))
    return pulls


def gacha_pity_after(pulls: Sequence[GachaPull], pity_before: int) -> int:
    """The pity counter after a batch (pity_before when the batch is empty)."""
    return pulls[-1].pity_counter_after if pulls else pity_before


def gacha_odds(rarities: Sequence[GachaRarity]) -> dict[str, Fraction]:
    """P(rarity) of one pull without pity: weight / sum(weights), keyed by rarity code."""
    weights = _check_rarities(rarities)
    total = sum(weights)
    return {rarity["code"]: Fraction(rarity["weight"], total) for rarity in rarities}


def gacha_item_odds(rarities: Sequence[GachaRarity]) -> dict[str, Fraction]:
    """P(item) of one pull without pity: P(its rarity) / len(items) (summed if an item repeats)."""
    odds = gacha_odds(rarities)
    item_odds: dict[str, Fraction] = {}
    for rarity in rarities:
        share = odds[rarity["code"]] / len(rarity["items"])
        for item in rarity["items"]:
            item_odds[item] = item_odds.get(item, Fraction(0)) + share
    return item_odds


def gacha_expected_pulls_to_top(
    rarities: Sequence[GachaRarity], *, pity_threshold: int, pity_before: int = 0
) -> Fraction:
    """E[pulls up to and including the next top-rarity pull], exact closed form (see the module doc)."""
    _check_positive("pity_threshold", pity_threshold)
    top = gacha_odds(rarities)[rarities[0]["code"]]
    forced_at = max(1, pity_threshold - pity_before)
    if top == 0:
        return Fraction(forced_at)
    return (1 - (1 - top) ** forced_at) / top


def gacha_top_rate_with_pity(rarities: Sequence[GachaRarity], *, pity_threshold: int) -> Fraction:
    """The long-run share of pulls that are top rarity, pity included: 1 / E[K] from a counter of 0."""
    return 1 / gacha_expected_pulls_to_top(rarities, pity_threshold=pity_threshold, pity_before=0)


def _check_rarities(rarities: Sequence[GachaRarity]) -> list[int]:
    if not rarities:
        raise ValueError("a banner has at least one rarity")
    for rarity in rarities:
        if isinstance(rarity["items"], str) or len(rarity["items"]) == 0:
            raise ValueError(f"rarity {rarity['code']!r} has no items")
    weights = [rarity["weight"] for rarity in rarities]
    weights_total(weights)
    return weights


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
