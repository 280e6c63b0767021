"""The gacha's pure decision (games.services.gacha.gacha_decider) over the shipped banner: the
draw follows the published odds (chi-square over 10^5 pulls), no player ever goes past the pity,
duplicates convert, and the animation names the best of the batch. No database: the banner is
built from games/defaults.py, as simulate_rtp builds it from the rows."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import pytest

from games.defaults import GACHA_BANNERS
from games.fairness import gacha_item_odds, gacha_odds
from games.gacha_selectors import GachaBannerSpec, GachaItemSpec, GachaRaritySpec
from games.models import GameConfig
from games.services import Decision, Draw, gacha_decider

SERVER_SEED = "5f3a" * 16
CONFIG = GameConfig(game="gacha", currency="gold")


def shipped_banner(*, duplicate_currency: str = "gold") -> GachaBannerSpec:
    code, spec = next(iter(GACHA_BANNERS.items()))
    items = sorted(spec["items"], key=lambda item: item[3])
    return GachaBannerSpec(
        id=1,
        code=code,
        name=spec["name"],
        description="",
        currency=spec["currency"],
        cost_single=spec["cost_single"],
        cost_ten=spec["cost_ten"],
        pity_threshold=spec["pity_threshold"],
        duplicate_currency=duplicate_currency,
        rarities=tuple(
            GachaRaritySpec(
                code=rarity,
                rank=rank,
                weight=weight,
                duplicate_value=value,
                items=tuple(item[0] for item in items if item[2] == rarity),
            )
            for rarity, rank, weight, value in sorted(spec["rarities"], key=lambda row: row[1])
        ),
        items={
            item_code: GachaItemSpec(id=index, code=item_code, name=name, rarity=rarity, image_url="")
            for index, (item_code, name, rarity, _) in enumerate(items)
        },
    )


def pull(
    banner: GachaBannerSpec, nonce: int, *, count: int = 10, pity: int = 0, owned: frozenset[str] = frozenset()
) -> Decision:
    decide = gacha_decider(banner=banner, pull_count=count, pity_before=pity, owned=owned)
    return decide(Draw(server_seed=SERVER_SEED, client_seed="stats", nonce=nonce, config=CONFIG))


def chi_square_critical(degrees: int, z: float = 3.0902) -> float:
    """Wilson-Hilferty: the chi-square quantile for df=k at the normal quantile z (3.0902: the
    0.999 quantile, a false alarm in 1 of 1000 seeds — and the seed here is fixed)."""
    k = degrees
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def test_the_shipped_banner_is_what_the_brief_promises() -> None:
    banner = shipped_banner()
    odds = gacha_odds(banner.draw_rarities())
    assert odds == {
        "legendary": Fraction(6, 1000),
        "epic": Fraction(51, 1000),
        "rare": Fraction(300, 1000),
        "common": Fraction(643, 1000),
    }
    assert banner.pity_threshold == 90
    # a new player (1,000 gold sign-up bonus) can afford ten singles or a 10-pull at a discount
    assert banner.cost_single * 10 <= 1000 and banner.cost_ten < 10 * banner.cost_single
    # with pity, one legendary in about 70 pulls: E = (1 - 0.994^90) / 0.006
    assert math.isclose(float(banner.expected_pulls_to_top()), (1 - 0.994**90) / 0.006)


def test_a_hundred_thousand_pulls_follow_the_published_odds() -> None:
    # Given the shipped banner and 10^4 ten-pulls from a counter of 0 (never forced: 0 + 10 < 90)
    banner = shipped_banner()
    rarities = Counter[str]()
    items = Counter[str]()
    # When they are drawn
    for nonce in range(10_000):
        for drawn in pull(banner, nonce).outcome["pulls"]:
            assert not drawn["pity"]
            rarities[drawn["rarity"]] += 1
            items[drawn["item"]] += 1
    total = sum(items.values())
    assert total == 100_000
    # Then the rarities and the items are within the chi-square critical value of the published odds
    for observed, expected_odds in (
        (rarities, gacha_odds(banner.draw_rarities())),
        (items, gacha_item_odds(banner.draw_rarities())),
    ):
        statistic = sum(
            (observed[key] - total * float(p)) ** 2 / (total * float(p)) for key, p in expected_odds.items()
        )
        assert statistic < chi_square_critical(len(expected_odds) - 1), (statistic, observed)


def test_no_simulated_player_goes_past_the_pity() -> None:
    # Given 100 players pulling 30 ten-pulls each on the shipped banner (pity 90), their counter
    # carried from pull to pull as the service carries it
    banner = shipped_banner()
    forced = 0
    longest = 0
    for player in range(100):
        counter, since_top = 0, 0
        for batch in range(30):
            decision = pull(banner, player * 1000 + batch, pity=counter)
            assert decision.inputs["pity_before"] == counter
            for drawn in decision.outcome["pulls"]:
                since_top += 1
                # a pull is forced exactly when it is the 90th since the last legendary
                assert drawn["pity"] == (since_top == banner.pity_threshold)
                forced += drawn["pity"]
                if drawn["rarity"] == "legendary":
                    longest = max(longest, since_top)
                    since_top = 0
                assert since_top < banner.pity_threshold
            counter = decision.outcome["pity_after"]
            assert counter == since_top
    # Then nobody waited more than 90 pulls for a legendary, and pity did fire
    assert longest <= banner.pity_threshold
    assert forced > 0


def test_the_pity_forces_the_top_rarity_on_the_threshold_pull() -> None:
    banner = shipped_banner()
    decision = pull(banner, 7, count=1, pity=banner.pity_threshold - 1)
    (drawn,) = decision.outcome["pulls"]
    assert (drawn["rarity"], drawn["pity"]) == ("legendary", True)
    assert decision.outcome["pity_after"] == 0
    assert decision.outcome["animation_type"] == "pity"


def test_a_duplicate_converts_to_its_rarity_value_and_is_new_once_in_a_batch() -> None:
    # Given a player who owns every item but the first common
    banner = shipped_banner()
    first_common = banner.rarities[-1].items[0]
    owned = frozenset(banner.items) - {first_common}
    # When they pull ten-pulls until that common shows up
    for nonce in range(200):
        decision = pull(banner, nonce, owned=owned)
        codes = [drawn["item"] for drawn in decision.outcome["pulls"]]
        if codes.count(first_common) >= 2:
            break
    else:
        pytest.fail("no batch drew the first common twice")
    # Then only its first draw is new, every other pull converts to its rarity's value, and the
    # payout is the sum (duplicates in gold, the price's currency)
    pulls = decision.outcome["pulls"]
    assert [drawn["is_new"] for drawn in pulls] == [
        drawn["item"] == first_common and codes.index(first_common) == index for index, drawn in enumerate(pulls)
    ]
    for drawn in pulls:
        expected = 0 if drawn["is_new"] else banner.duplicate_value(drawn["rarity"])
        assert drawn["duplicate_value"] == expected
    assert decision.payout == decision.outcome["duplicate_total"] == sum(d["duplicate_value"] for d in pulls) > 0


def test_duplicates_in_another_currency_are_not_the_round_payout() -> None:
    banner = shipped_banner(duplicate_currency="gems")
    decision = pull(banner, 3, owned=frozenset(banner.items))
    assert decision.outcome["duplicate_total"] > 0
    assert decision.outcome["duplicate_currency"] == "gems"
    assert decision.payout == 0


def test_the_animation_names_the_best_of_the_batch() -> None:
    banner = shipped_banner()
    seen = {}
    for nonce in range(300):
        decision = pull(banner, nonce)
        rarities = {drawn["rarity"] for drawn in decision.outcome["pulls"]}
        expected = "legendary" if "legendary" in rarities else "epic" if "epic" in rarities else "normal"
        assert decision.outcome["animation_type"] == expected
        seen[expected] = True
    assert set(seen) == {"legendary", "epic", "normal"}


def test_the_round_json_carries_what_the_verifier_reads() -> None:
    banner = shipped_banner()
    decision = pull(banner, 11, pity=5)
    assert {"banner", "pull_count", "pity_threshold", "pity_before", "rarities"} <= set(decision.inputs)
    assert decision.inputs["rarities"][0] == {"code": "legendary", "weight": 6, "items": list(banner.rarities[0].items)}
    assert {"pulls", "pity_after"} <= set(decision.outcome)
    assert all({"rarity", "item", "pity"} <= set(drawn) for drawn in decision.outcome["pulls"])
    assert decision.subtype == "gacha_pull"


@pytest.mark.parametrize("count", [0, 2, 9, 11, 100])
def test_the_decider_sells_only_single_and_ten_pulls(count: int) -> None:
    with pytest.raises(ValueError):
        gacha_decider(banner=shipped_banner(), pull_count=count, pity_before=0)
