"""``manage.py simulate_rtp``: plays rounds through each game's own pure decider and prints the
measured RTP with its 99% confidence interval next to the declared one; ``--through-database``
plays through the real services for a throwaway player and leaves nothing behind."""

from __future__ import annotations

import re
from fractions import Fraction
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from casino.models import AuditLog
from economy.models import LedgerEntry, Wallet
from games.fairness import PayRule, slot_rtp
from games.management.commands.simulate_rtp import gacha_longrun_shares
from games.models import (
    FairnessSeed,
    GameDailyLimit,
    GameRound,
    InventoryItem,
    PlayerGameDay,
    PlayerGameStats,
)
from games.services.slots import slot_table_current
from games.tests.factories import game_config_change
from realtime.models import OutboxEvent

MEASURED = re.compile(
    r"measured (?P<label>RTP|duplicate return) \((?P<how>[a-z ]+)\): (?P<mean>[\d.]+)% \+- (?P<half>[\d.]+)% "
    r"\(99% CI (?P<low>-?[\d.]+)% \.\. (?P<high>[\d.]+)%\) over (?P<rounds>[\d,]+) rounds"
)


def simulate(*args: str) -> str:
    out = StringIO()
    call_command("simulate_rtp", *args, stdout=out)
    return out.getvalue()


def measured(output: str, how: str = "pure decider") -> dict[str, Any]:
    for match in MEASURED.finditer(output):
        if match["how"] == how:
            return {**match.groupdict(), "rounds": int(match["rounds"].replace(",", ""))}
    raise AssertionError(f"no measured line ({how}) in:\n{output}")


def declared_percent(output: str) -> float:
    match = re.search(r"declared (?:RTP|duplicate return): ([\d.]+)%", output)
    assert match, output
    return float(match[1])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("game", "args", "declared"),
    [
        ("slot", [], None),
        ("rps", ["--choice", "paper"], None),
        ("crash", ["--target", "2.00"], 99.0),
        ("crash", ["--target", "37.5"], 99.0),
        ("gacha", ["--pull-count", "10"], None),
    ],
)
def test_a_run_prints_the_declared_and_the_measured_rtp_with_its_interval(
    game: str, args: list[str], declared: float | None
) -> None:
    # When 3,000 rounds are simulated with a fixed seed
    output = simulate("--game", game, "--rounds", "3000", "--seed", "proof", *args)

    # Then the declared figure, the measurement with its interval, the hit rate and the time are printed
    line = measured(output)
    assert line["rounds"] == 3000
    mean, half = float(line["mean"]), float(line["half"])
    assert float(line["low"]) == pytest.approx(mean - half, abs=1e-3)
    assert float(line["high"]) == pytest.approx(mean + half, abs=1e-3)
    assert half > 0
    if declared is not None:
        assert declared_percent(output) == declared
    assert re.search(r"^hit frequency \(pays anything\): [\d.]+%", output, re.M)
    assert re.search(r"^time: [\d.]+ s \([\d,]+ rounds/s\)", output, re.M)
    assert "declared within the 99% interval: " in output


@pytest.mark.django_db
def test_rps_declares_the_exact_rtp_of_the_live_multiplier_and_the_seeded_run_falls_within_it() -> None:
    output = simulate("--game", "rps", "--rounds", "20000", "--seed", "rps-proof")

    assert declared_percent(output) == pytest.approx(97.0, abs=0.001)
    line = measured(output)
    assert abs(float(line["mean"]) - 97.0) <= float(line["half"])
    assert "declared within the 99% interval: yes" in output


@pytest.mark.django_db
def test_the_slot_declares_the_exact_rtp_of_the_live_table() -> None:
    version = slot_table_current()
    exact = slot_rtp(version.reel_strips, [PayRule.from_mapping(rule) for rule in version.paytable]).rtp

    output = simulate("--game", "slot", "--rounds", "5000", "--seed", "slot-proof")

    assert f"exact, slot table v{version.pk}" in output
    assert declared_percent(output) == pytest.approx(float(exact) * 100, abs=5e-5)


@pytest.mark.django_db
def test_the_same_seed_reproduces_the_same_measurement_and_another_seed_does_not() -> None:
    first = measured(simulate("--game", "crash", "--rounds", "2000", "--seed", "one"))
    again = measured(simulate("--game", "crash", "--rounds", "2000", "--seed", "one"))
    other = measured(simulate("--game", "crash", "--rounds", "2000", "--seed", "two"))

    assert first == again
    assert first != other


@pytest.mark.django_db
def test_gacha_reports_rarity_frequencies_against_the_published_odds_and_never_passes_the_pity() -> None:
    output = simulate("--game", "gacha", "--rounds", "500", "--seed", "gacha-proof")

    assert "rarity frequencies over 5,000 pulls" in output
    for rarity in ("legendary", "epic", "rare", "common"):
        assert re.search(rf"^  {rarity} +measured [\d.]+% \+- [\d.]+%; published [\d.]+% without pity", output, re.M)
    longest = re.search(r"the longest run without legendary was (\d+) pulls \(threshold (\d+)", output)
    assert longest and int(longest[1]) < int(longest[2])
    assert "duplicate return" in output


def test_the_long_run_shares_with_pity_sum_to_one_and_give_the_top_rarity_one_in_expected_pulls() -> None:
    odds = {"top": Fraction(1, 100), "mid": Fraction(9, 100), "low": Fraction(90, 100)}
    expected_pulls = Fraction(40)  # with a pity that cuts the geometric 100 down to 40

    shares = gacha_longrun_shares(odds, "top", expected_pulls)

    assert sum(shares.values()) == 1
    assert shares["top"] == Fraction(1, 40)
    assert shares["mid"] / shares["low"] == Fraction(9, 90)  # the drawn pulls keep the published ratio


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["--game", "crash", "--target", "0.5"],
        ["--game", "crash", "--target", "lots"],
        ["--game", "rps", "--choice", "lizard"],
        ["--game", "rps", "--rounds", "0"],
        ["--game", "rps", "--bet", "-5"],
    ],
)
def test_invalid_options_are_a_command_error(args: list[str]) -> None:
    with pytest.raises(CommandError):
        simulate(*args)


TABLES = (User, Wallet, LedgerEntry, GameRound, FairnessSeed, PlayerGameStats, PlayerGameDay, InventoryItem, AuditLog)


def row_counts() -> dict[str, int]:
    counts = {model.__name__: model.objects.count() for model in TABLES}
    counts["OutboxEvent"] = OutboxEvent.objects.count()
    counts["GameDailyLimit"] = GameDailyLimit.objects.count()
    return counts


@pytest.mark.django_db(transaction=True)
def test_through_the_database_plays_the_real_service_and_leaves_no_rows_behind() -> None:
    # Given the shipped gacha with its daily pull limits (30 pulls a day for a standard player)
    before = row_counts()
    assert before["GameDailyLimit"] > 0

    # When 6 ten-pulls (60 pulls, past the daily limit) are played through the real service
    output = simulate("--game", "gacha", "--rounds", "100", "--seed", "db", "--through-database", "6")

    # Then they were played, paid for and verified against their seeds ...
    line = measured(output, how="through the service")
    assert line["rounds"] == 6
    assert "verified against their seeds: all (6/6)" in output
    assert "daily limit row(s) of gacha lifted inside the transaction" in output
    assert "rolled back" in output
    # ... and nothing of it persists: no player, wallet, ledger entry, round, seed, stats, event or limit change
    assert row_counts() == before


@pytest.mark.django_db
def test_a_refused_round_through_the_database_is_a_command_error_and_keeps_nothing() -> None:
    game_config_change("rps", is_enabled=False)
    rounds_before = GameRound.objects.count()

    with pytest.raises(CommandError, match="game_disabled"):
        simulate("--game", "rps", "--rounds", "10", "--through-database", "3")

    assert GameRound.objects.count() == rounds_before
    assert not User.objects.filter(site_id__startswith="simrtp").exists()
