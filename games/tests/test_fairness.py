"""games.fairness: the golden vectors, the exact math (RTP, odds, the crash curve) and the
statistics of the draws. Pure functions, no database; the statistical tests use fixed seeds, so
they are deterministic, and each states the bound it checks.

Chi-square critical values come from the Wilson-Hilferty approximation (scipy is not installed):
chi2_{1-alpha}(k) ~= k * (1 - 2/(9k) + z_{1-alpha} * sqrt(2/(9k)))**3, with alpha = 0.001
(z = 3.090232); e.g. k = 2 -> 14.1 (table 13.82), k = 5 -> 20.8 (table 20.52): slightly lenient."""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from games import fairness
from games.fairness import GachaRarity, PayRule
from games.fairness.crash import crash_hundredths_from_n

GOLDEN = json.loads((Path(__file__).parent / "golden_vectors.json").read_text(encoding="utf-8"))
TWO_POW_32 = 2**32
Z_999 = 3.090232  # the standard normal's 0.999 quantile


def chi_square_critical(degrees: int, z: float = Z_999) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile for `degrees` degrees of freedom."""
    ratio = 2 / (9 * degrees)
    return degrees * (1 - ratio + z * math.sqrt(ratio)) ** 3


def chi_square(observed: Counter[Any], expected_probability: dict[Any, Fraction], draws: int) -> float:
    return sum(
        (observed.get(key, 0) - draws * float(p)) ** 2 / (draws * float(p))
        for key, p in expected_probability.items()
        if p > 0
    )


def banner_rarities() -> list[GachaRarity]:
    return [
        GachaRarity(code=rarity["code"], weight=rarity["weight"], items=rarity["items"])
        for rarity in GOLDEN["gacha"]["rarities"]
    ]


# --- Golden vectors ---------------------------------------------------------------------------


def test_wilson_hilferty_matches_the_chi_square_table() -> None:
    # Given the published 0.999 quantiles for 2 and 5 degrees of freedom
    # When the approximation computes them
    # Then it is within 3% of the table (so the critical values below mean what they say)
    assert chi_square_critical(2) == pytest.approx(13.816, rel=0.03)
    assert chi_square_critical(5) == pytest.approx(20.515, rel=0.03)
    assert chi_square_critical(8) == pytest.approx(26.124, rel=0.03)


@pytest.mark.parametrize("vector", GOLDEN["seeds"])
def test_seed_hash_reproduces_the_golden_commitment(vector: dict[str, str]) -> None:
    assert fairness.seed_hash(vector["server_seed"]) == vector["server_seed_hash"]


@pytest.mark.parametrize("vector", GOLDEN["outcome_bytes"])
def test_outcome_bytes_reproduce_the_golden_hmac(vector: dict[str, Any]) -> None:
    # Given fixed seeds, nonce and cursor
    # When the outcome bytes are computed
    block = fairness.outcome_bytes(vector["server_seed"], vector["client_seed"], vector["nonce"], vector["cursor"])
    # Then they are the HMAC-SHA256 recorded (and checked with openssl) in the vectors
    assert block.hex() == vector["hex"]


@pytest.mark.parametrize("vector", GOLDEN["fair_floats"])
def test_fair_floats_reproduce_the_golden_floats(vector: dict[str, Any]) -> None:
    floats = fairness.fair_floats(vector["server_seed"], vector["client_seed"], vector["nonce"], vector["count"])
    assert floats == vector["floats"]
    assert [int(f * TWO_POW_32) for f in floats] == vector["uint32"]


def test_fair_floats_are_the_big_endian_words_of_successive_cursors() -> None:
    # Given a vector that spans three cursors (20 floats)
    vector = GOLDEN["fair_floats"][1]
    seeds = (vector["server_seed"], vector["client_seed"], vector["nonce"])
    # When the 32-bit words of cursors 0, 1, 2 are read directly
    words = []
    for cursor in range(3):
        block = fairness.outcome_bytes(*seeds, cursor)
        words += [int.from_bytes(block[i : i + 4], "big") for i in range(0, 32, 4)]
    # Then the floats are those words / 2**32, in order, and a prefix of a longer draw
    assert vector["uint32"] == words[:20]
    assert fairness.fair_floats(*seeds, 5) == vector["floats"][:5]


@pytest.mark.parametrize("vector", GOLDEN["crash"])
def test_crash_point_reproduces_the_golden_vector(vector: dict[str, Any]) -> None:
    seeds = (vector["server_seed"], vector["client_seed"], vector["nonce"])
    assert fairness.crash_point_hundredths(*seeds) == vector["crash_point_hundredths"]
    assert fairness.crash_point(*seeds) == Decimal(vector["crash_point"])
    assert str(fairness.crash_point(*seeds)) == vector["crash_point"]


def test_the_golden_crash_vectors_include_an_instant_crash() -> None:
    assert "1.00" in {vector["crash_point"] for vector in GOLDEN["crash"]}


@pytest.mark.parametrize("vector", GOLDEN["rps"])
def test_rps_reproduces_the_golden_vector(vector: dict[str, Any]) -> None:
    move = fairness.rps_computer_move(vector["server_seed"], vector["client_seed"], vector["nonce"])
    assert move == vector["computer_choice"]
    assert fairness.rps_result(vector["choice"], move) == vector["result"]


@pytest.mark.parametrize("vector", GOLDEN["slot"]["spins"])
def test_slot_spin_reproduces_the_golden_vector(vector: dict[str, Any]) -> None:
    # Given the golden reel strips and paytable
    paytable = [PayRule.from_mapping(rule) for rule in GOLDEN["slot"]["paytable"]]
    # When the spin is recomputed
    spin = fairness.slot_spin(
        vector["server_seed"], vector["client_seed"], vector["nonce"], GOLDEN["slot"]["reel_strips"], paytable
    )
    # Then stops, payline, multiplier and jackpot flag are the recorded ones
    assert spin.stops == vector["stops"]
    assert spin.symbols == vector["symbols"]
    assert spin.multiplier == Decimal(vector["multiplier"])
    assert spin.is_jackpot is vector["is_jackpot"]


@pytest.mark.parametrize("vector", GOLDEN["gacha"]["batches"])
def test_gacha_pulls_reproduce_the_golden_batch(vector: dict[str, Any]) -> None:
    pulls = fairness.gacha_pulls(
        vector["server_seed"],
        vector["client_seed"],
        vector["nonce"],
        pull_count=vector["pull_count"],
        rarities=banner_rarities(),
        pity_threshold=vector["pity_threshold"],
        pity_before=vector["pity_before"],
    )
    assert [{"rarity": p.rarity, "item": p.item, "pity": p.pity} for p in pulls] == vector["pulls"]
    assert fairness.gacha_pity_after(pulls, vector["pity_before"]) == vector["pity_after"]


def test_the_golden_gacha_vectors_include_a_pull_forced_by_pity() -> None:
    # Given the batch that starts 85 pulls after the last legendary (threshold 90)
    forced = [pull for pull in GOLDEN["gacha"]["batches"][1]["pulls"] if pull["pity"]]
    # Then its fifth pull (the 90th) was forced to the top rarity
    assert forced == [GOLDEN["gacha"]["batches"][1]["pulls"][4]]
    assert forced[0]["rarity"] == "legendary"


# --- Seeds, floats, picks --------------------------------------------------------------------


def test_new_server_seed_is_64_hex_characters_and_never_repeats() -> None:
    seeds = {fairness.new_server_seed() for _ in range(100)}
    assert len(seeds) == 100
    assert all(len(seed) == 64 and int(seed, 16) >= 0 for seed in seeds)


def test_scaled_floor_is_exact_where_float_multiplication_rounds() -> None:
    # Given the largest fair float and a size where f * size in floating point overshoots the floor
    largest = (TWO_POW_32 - 1) / TWO_POW_32
    size = 2**53 + 7
    exact = ((TWO_POW_32 - 1) * size) // TWO_POW_32
    assert math.floor(largest * size) != exact
    # When the index is drawn
    # Then it is the mathematical floor
    assert fairness.scaled_floor(largest, size) == exact


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), True])
def test_a_pick_refuses_a_float_outside_the_unit_interval(bad: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        fairness.rps_move(bad)


@pytest.mark.parametrize("weights", [[], [0, 0], [1, -1, 3], [1.5, 2], [True, 1]])
def test_weighted_index_refuses_weights_that_are_not_non_negative_integers_with_a_positive_sum(
    weights: list[Any],
) -> None:
    with pytest.raises(ValueError, match="weights"):
        fairness.weighted_index(0.5, weights)


def test_weighted_index_follows_the_cumulative_boundaries_and_skips_zero_weights() -> None:
    # Given weights 2, 0, 1 (total 3): r = floor(f * 3) is 0, 1 -> index 0; 2 -> index 2
    weights = [2, 0, 1]
    # When floats on each side of the boundaries are drawn
    picks = [fairness.weighted_index(f, weights) for f in (0.0, 0.33, 0.6666, 0.6667, 0.99999)]
    # Then the zero-weight index never comes up
    assert picks == [0, 0, 0, 2, 2]


def test_weighted_index_chi_square_over_100000_draws_is_below_the_critical_value() -> None:
    # Given weights summing to 100 and 10^5 fair floats
    weights = [1, 2, 3, 4, 10, 0, 80]
    draws = 100_000
    floats = fairness.fair_floats("weighted-index-seed", "stats", 0, draws)
    # When each float picks an index
    observed = Counter(fairness.weighted_index(f, weights) for f in floats)
    expected = {i: Fraction(w, 100) for i, w in enumerate(weights)}
    # Then the zero weight is never drawn and the counts fit the weights (6 outcomes: 5 degrees of freedom)
    assert observed[5] == 0
    assert chi_square(observed, expected, draws) < chi_square_critical(5)


# --- Crash ------------------------------------------------------------------------------------


def test_crash_p_of_reaching_2x_over_100000_rounds_is_within_3_sigma_of_0_495() -> None:
    # Given 10^5 rounds of one seed pair (nonces 0 .. 99999)
    rounds = 100_000
    # When their crash points are computed
    reached = sum(1 for nonce in range(rounds) if fairness.crash_point_hundredths("crash-stat-seed", "c", nonce) >= 200)
    # Then the share reaching 2.00 is 0.99 / 2 within three standard deviations
    p = 0.495
    sigma = math.sqrt(p * (1 - p) / rounds)
    assert abs(reached / rounds - p) <= 3 * sigma


def test_crash_count_formula_matches_every_n_of_a_small_space() -> None:
    # Given a 12-bit version of the crash formula (the real one uses 52 bits)
    bits = 12
    points = sorted(crash_hundredths_from_n(n, bits) for n in range(2**bits))
    # When the rounds reaching each target are counted over every n
    # Then exactly floor(99 * 2**bits / T) of them reach T, for every target above 1.00
    for target in range(101, 3000):
        assert len(points) - bisect.bisect_left(points, target) == (99 * 2**bits) // target
    # And every round reaches 1.00
    assert min(points) == 100


@pytest.mark.parametrize("target", [101, 150, 200, 231, 1000, 12345, 100_000, 10**9])
def test_crash_rtp_is_0_99_to_within_2_to_the_minus_52_times_the_target(target: int) -> None:
    rtp = fairness.crash_rtp(target)
    assert rtp <= Fraction(99, 100)
    assert Fraction(99, 100) - rtp < Fraction(target, 100) / 2**52


def test_crash_rtp_over_every_target_up_to_1000x_is_0_99() -> None:
    # Given every target from 1.01 to 1000.00 (T hundredths)
    for target in range(101, 100_001):
        # When the exact RTP of cashing out there is computed
        rtp = fairness.crash_rtp(target)
        # Then it is 0.99 short by less than the 2**-52 grain of the draw
        assert 0 <= Fraction(99, 100) - rtp < Fraction(target, 100 * 2**52)


def test_crash_rtp_is_exactly_0_99_when_the_target_divides_the_draw_space() -> None:
    # 128 and 198 divide 99 * 2**52, so the floor drops nothing
    assert fairness.crash_rtp(128) == Fraction(99, 100)
    assert fairness.crash_rtp(198) == Fraction(99, 100)


def test_a_target_of_1_00_always_returns_the_stake() -> None:
    assert fairness.crash_win_probability(100) == 1
    assert fairness.crash_rtp(100) == 1


def test_crash_multiplier_curve_starts_at_1_00_and_grows_as_exp_0_00006_t() -> None:
    assert fairness.crash_multiplier_at(0) == 100
    assert fairness.crash_multiplier_at(1000) == math.floor(100 * math.exp(0.06))  # 106
    assert fairness.crash_multiplier_at(11_552) == 199  # ln 2 / 0.00006 = 11552.45...
    assert fairness.crash_multiplier_at(11_553) == 200
    assert fairness.crash_time_ms(200) == 11_553


def test_crash_time_is_the_first_ms_the_floored_curve_reaches_every_point_up_to_1000x() -> None:
    # Given every crash point from 1.00 to 1000.00
    multiplier_at = fairness.crash_multiplier_at
    for point in range(100, 100_001):
        # When its crash time is computed
        ms = fairness.crash_time_ms(point)
        # Then the curve has reached the point at that ms and not one ms earlier
        assert multiplier_at(ms) >= point
        assert ms == 0 or multiplier_at(ms - 1) < point


def test_crash_time_handles_the_largest_possible_crash_point() -> None:
    largest = 99 * 2**52  # n = 2**52 - 1
    ms = fairness.crash_time_ms(largest)
    assert fairness.crash_multiplier_at(ms) >= largest > fairness.crash_multiplier_at(ms - 1)


def test_crash_payout_pays_the_whole_stake_times_the_multiplier_at_or_below_the_crash() -> None:
    assert fairness.crash_payout(100, 231, 231) == 231  # stake x 2.31, not only the profit
    assert fairness.crash_payout(100, 232, 231) == 0
    assert fairness.crash_payout(7, 153, 500) == 10  # floor(7 x 1.53 = 10.71)


@pytest.mark.parametrize(("text", "hundredths"), [("1.00", 100), ("2.31", 231), ("2", 200), ("10.5", 1050)])
def test_decimal_multipliers_convert_to_hundredths_and_back(text: str, hundredths: int) -> None:
    assert fairness.decimal_to_hundredths(Decimal(text)) == hundredths
    assert fairness.hundredths_to_decimal(hundredths) == Decimal(text)


def test_a_multiplier_with_three_decimals_is_refused() -> None:
    with pytest.raises(ValueError, match="two decimal places"):
        fairness.decimal_to_hundredths(Decimal("2.315"))


# --- Rock-paper-scissors ----------------------------------------------------------------------


def first_k_with_move(move: str) -> int:
    """Binary search over k in [0, 2**32) for the first k whose float rps_move maps to `move` or later."""
    rank = fairness.RPS_MOVES.index(move)
    low, high = 0, TWO_POW_32
    while low < high:
        middle = (low + high) // 2
        if fairness.RPS_MOVES.index(fairness.rps_move(middle / TWO_POW_32)) >= rank:
            high = middle
        else:
            low = middle + 1
    return low


def test_rps_move_probabilities_are_the_counts_of_32_bit_words_per_move() -> None:
    # Given the boundaries rps_move itself draws (found by binary search over every word)
    paper_from, scissors_from = first_k_with_move("paper"), first_k_with_move("scissors")
    counts = {"rock": paper_from, "paper": scissors_from - paper_from, "scissors": TWO_POW_32 - scissors_from}
    # Then the published probabilities are exactly those counts / 2**32 (rock has one more word)
    assert fairness.rps_move_probabilities() == {move: Fraction(n, TWO_POW_32) for move, n in counts.items()}
    assert counts == {"rock": 1_431_655_766, "paper": 1_431_655_765, "scissors": 1_431_655_765}


@pytest.mark.parametrize("choice", ["rock", "paper", "scissors"])
def test_rps_rtp_for_a_multiplier_of_1_91_is_97_percent_exactly_up_to_the_draw_grain(choice: str) -> None:
    # Given the exact move probabilities and a win multiplier of 1.91
    probabilities = fairness.rps_move_probabilities()
    beaten = {"rock": "scissors", "paper": "rock", "scissors": "paper"}[choice]
    # When the RTP is computed
    rtp = fairness.rps_rtp(Decimal("1.91"), choice)
    # Then it is P(win) x 1.91 + P(draw) x 1 exactly, which is 97% to within 2**-31
    assert rtp == probabilities[beaten] * Fraction(191, 100) + probabilities[choice]
    assert abs(rtp - Fraction(97, 100)) < Fraction(1, 2**31)


@pytest.mark.parametrize(
    ("player", "computer", "result"),
    [("rock", "scissors", "win"), ("rock", "paper", "lose"), ("paper", "paper", "draw"), ("scissors", "paper", "win")],
)
def test_rps_result_and_payout(player: str, computer: str, result: str) -> None:
    assert fairness.rps_result(player, computer) == result
    expected = {"win": 194, "draw": 100, "lose": 0}[result]
    assert fairness.rps_payout(100, result, Decimal("1.94")) == expected


def test_rps_refuses_an_unknown_move() -> None:
    with pytest.raises(ValueError, match="move"):
        fairness.rps_result("lizard", "rock")


# --- Slots ------------------------------------------------------------------------------------


def golden_paytable() -> list[PayRule]:
    return [PayRule.from_mapping(rule) for rule in GOLDEN["slot"]["paytable"]]


def test_slot_evaluate_picks_the_highest_multiplier_then_the_longer_match() -> None:
    # Given cherry x1 pays 0.5, x2 pays 2, x3 pays 5, and a second "cherry x1" line also paying 2
    paytable = [*golden_paytable(), PayRule(symbol="cherry", count=1, multiplier=Decimal(2))]
    # When two cherries show from the left
    win = fairness.slot_evaluate(["cherry", "cherry", "lemon"], paytable)
    # Then the 2x tie goes to the longer match
    assert win.rule == paytable[1]
    assert win.multiplier == Decimal(2)
    # And a cherry that does not start the line pays nothing
    assert fairness.slot_evaluate(["lemon", "cherry", "cherry"], paytable).multiplier == 0


def test_slot_stops_take_one_float_per_reel() -> None:
    assert fairness.slot_stops([0.0, 0.5, 0.999], [8, 8, 10]) == [0, 4, 9]
    with pytest.raises(ValueError, match="one float per reel"):
        fairness.slot_stops([0.1, 0.2], [8, 8, 8])


def test_slot_payout_floors_bet_times_multiplier_exactly() -> None:
    assert fairness.slot_payout(3, Decimal("0.5")) == 1
    assert fairness.slot_payout(100, Decimal("0")) == 0
    # 28 significant digits would round this product up to 10**30 + 1; it floors to 10**30
    assert fairness.payout_amount(10**30, Decimal("1.0000000000000000000000000000009")) == 10**30


def test_slot_rtp_matches_brute_force_enumeration_of_every_stop() -> None:
    # Given small strips (3 x 4 x 5 stops) and the golden paytable
    strips = [
        ["cherry", "seven", "lemon"],
        ["cherry", "lemon", "seven", "cherry"],
        ["seven", "cherry", "lemon", "diamond", "cherry"],
    ]
    paytable = golden_paytable()
    # When every stop combination is evaluated one by one
    payouts = Fraction(0)
    hits = jackpots = 0
    per_rule: Counter[int] = Counter()
    for stops in itertools.product(*(range(len(strip)) for strip in strips)):
        win = fairness.slot_evaluate([strip[s] for strip, s in zip(strips, stops, strict=True)], paytable)
        payouts += Fraction(win.multiplier)
        hits += win.multiplier > 0
        jackpots += win.is_jackpot
        if win.rule is not None:
            per_rule[paytable.index(win.rule)] += 1
    # Then slot_rtp's counted enumeration gives exactly the same figures
    math_ = fairness.slot_rtp(strips, paytable)
    assert math_.combinations == 60
    assert math_.rtp == payouts / 60
    assert math_.hit_frequency == Fraction(hits, 60)
    assert math_.jackpot_probability == Fraction(jackpots, 60) == Fraction(1, 60)
    assert [stats.probability for stats in math_.rules] == [Fraction(per_rule[i], 60) for i in range(len(paytable))]
    assert sum(stats.rtp_contribution for stats in math_.rules) == math_.rtp


def test_slot_rtp_of_a_hand_computed_table() -> None:
    # Two reels of (a, b): "a a" has probability 1/4 and pays 4, so the RTP is exactly 1
    math_ = fairness.slot_rtp([["a", "b"], ["b", "a"]], [PayRule(symbol="a", count=2, multiplier=Decimal(4))])
    assert math_.rtp == 1
    assert math_.hit_frequency == Fraction(1, 4)


def test_slot_rtp_enumerates_three_64_stop_strips_by_symbol_counts() -> None:
    # Given 3 strips of 64 stops over 6 symbols (262,144 stop combinations)
    symbols = ["cherry", "lemon", "orange", "grape", "diamond", "seven"]
    strips = [[symbols[(i * (reel + 1)) % 6] for i in range(64)] for reel in range(3)]
    # When the RTP is computed (216 symbol combinations are evaluated, not 262,144)
    math_ = fairness.slot_rtp(strips, golden_paytable())
    # Then it counts every combination
    assert math_.combinations == 64**3
    assert 0 < math_.rtp < 10


def test_a_pay_rule_needs_a_positive_count_and_a_non_negative_multiplier() -> None:
    with pytest.raises(ValueError, match="count"):
        PayRule(symbol="seven", count=0, multiplier=Decimal(5))
    with pytest.raises(ValueError, match="negative"):
        PayRule(symbol="seven", count=3, multiplier=Decimal(-1))


# --- Gacha ------------------------------------------------------------------------------------


def test_gacha_rarity_and_item_chi_square_over_100000_draws_without_pity() -> None:
    # Given the golden banner (legendary 6, epic 51, rare 943 per 1000) and a pity that never fires
    rarities = banner_rarities()
    draws = 100_000
    # When 10^5 pulls are drawn
    pulls = fairness.gacha_pulls(
        "gacha-stat-seed", "stats", 0, pull_count=draws, rarities=rarities, pity_threshold=10**9, pity_before=0
    )
    # Then rarities and items fit the published odds (2 and 8 degrees of freedom)
    rarity_counts = Counter(pull.rarity for pull in pulls)
    item_counts = Counter(pull.item for pull in pulls)
    assert chi_square(rarity_counts, fairness.gacha_odds(rarities), draws) < chi_square_critical(2)
    item_odds = fairness.gacha_item_odds(rarities)
    assert len(item_odds) == 9
    assert chi_square(item_counts, item_odds, draws) < chi_square_critical(8)
    assert not any(pull.pity for pull in pulls)


def test_no_simulated_player_goes_past_the_pity() -> None:
    # Given 500 players pulling 10 at a time, 20 batches each, on a 0.6% legendary with pity 90
    rarities = banner_rarities()
    threshold = 90
    longest_drought = forced = tops = total = 0
    for player in range(500):
        counter = 0
        drought = 0
        for nonce in range(20):
            pulls = fairness.gacha_pulls(
                f"player-{player}",
                "client",
                nonce,
                pull_count=10,
                rarities=rarities,
                pity_threshold=threshold,
                pity_before=counter,
            )
            for pull in pulls:
                total += 1
                drought = 0 if pull.rarity == "legendary" else drought + 1
                longest_drought = max(longest_drought, drought)
                assert pull.pity_counter_after == drought
                forced += pull.pity
                tops += pull.rarity == "legendary"
            counter = fairness.gacha_pity_after(pulls, counter)
    # Then nobody ever made 90 pulls without a legendary, and pity did fire
    assert longest_drought <= threshold - 1
    assert forced > 0
    # And the legendary share matches the exact expectation for 200 pulls from a counter of 0
    # (forward over the counter distribution), within 4 binomial sigmas (pity only narrows it)
    p = float(fairness.gacha_odds(rarities)["legendary"])
    distribution = [1.0] + [0.0] * (threshold - 1)
    expected_tops = 0.0
    for _ in range(200):
        top_now = sum(q if c + 1 >= threshold else q * p for c, q in enumerate(distribution))
        expected_tops += top_now
        shifted = [0.0] * threshold
        shifted[0] = top_now
        for c, q in enumerate(distribution[: threshold - 1]):
            shifted[c + 1] += q * (1 - p)
        distribution = shifted
    rate = expected_tops / 200
    assert abs(tops / total - rate) < 4 * math.sqrt(rate * (1 - rate) / total)
    # ... which is below the long-run rate 1 / E[K], since the last cycle of each player is cut short
    assert rate < float(fairness.gacha_top_rate_with_pity(rarities, pity_threshold=threshold))


@pytest.mark.parametrize(("threshold", "before"), [(90, 0), (90, 60), (90, 89), (90, 200), (1, 0), (10, 3)])
def test_gacha_expected_pulls_closed_form_matches_the_backward_dp(threshold: int, before: int) -> None:
    # Given the banner's top-rarity chance p
    rarities = banner_rarities()
    p = fairness.gacha_odds(rarities)["legendary"]
    # When E[pulls to the top] is computed backwards over the counter states:
    # E(c) = 1 if c + 1 >= threshold (forced) else 1 + (1 - p) * E(c + 1)
    expected_from: dict[int, Fraction] = {}
    for counter in range(max(threshold, before + 1), -1, -1):
        if counter + 1 >= threshold:
            expected_from[counter] = Fraction(1)
        else:
            expected_from[counter] = 1 + (1 - p) * expected_from[counter + 1]
    # Then the closed form agrees exactly
    closed = fairness.gacha_expected_pulls_to_top(rarities, pity_threshold=threshold, pity_before=before)
    assert closed == expected_from[before]


def test_gacha_odds_come_from_the_weights() -> None:
    assert fairness.gacha_odds(banner_rarities()) == {
        "legendary": Fraction(6, 1000),
        "epic": Fraction(51, 1000),
        "rare": Fraction(943, 1000),
    }


def test_gacha_refuses_a_rarity_without_items_and_a_zero_pull_count() -> None:
    empty = [GachaRarity(code="legendary", weight=1, items=[])]
    with pytest.raises(ValueError, match="no items"):
        fairness.gacha_pulls("s", "c", 0, pull_count=1, rarities=empty, pity_threshold=90, pity_before=0)
    with pytest.raises(ValueError, match="pull_count"):
        fairness.gacha_pulls("s", "c", 0, pull_count=0, rarities=banner_rarities(), pity_threshold=90, pity_before=0)
