#!/usr/bin/env python3
"""Verify Casino Club game rounds yourself. Standard library only, Python 3.11+.

    python tools/verify_round.py round.json [more.json ...]
    python tools/verify_round.py --base-url https://casino.example --token <access JWT> 123 [124 ...]

(The token may also come from the CASINO_ACCESS_TOKEN environment variable, which keeps it out
of your shell history.) A JSON file holds one round, a list of rounds, or {"items": [...]}, each
shaped like GET /api/games/rounds/{id}.

This script deliberately shares no code with the server: a checker that imports the code it
checks inherits its bugs. It is written from the published rules alone:

  1. The server committed to sha256(server_seed) before you played; once you rotate your seed
     the old one is revealed, and this script checks the hash first.
  2. Randomness: HMAC-SHA256 keyed with the server seed's hex text, over the message
     "client_seed:nonce:cursor". Every 32-byte block is cut into eight 32-bit big-endian
     numbers u; one u stands for the fraction u / 2**32, and picking one of N things with it
     means floor(u * N / 2**32) -- done below with integers only: (u * N) >> 32.
  3. Each game turns those numbers into its outcome (see the check_* functions), and the
     payout follows from the bet: slot floor(bet * multiplier); rock-paper-scissors a win
     floor(bet * multiplier), a draw the bet back, a loss 0; crash floor(bet * m) when the
     cash-out multiplier m is at most the crash point, else 0; gacha pays items, not coins.

Exit status: 0 every round checked out; 1 at least one mismatch (wrong seed, outcome or
payout); 2 something could not be checked (seed not revealed yet, round still running,
unreadable input or network error) and nothing mismatched.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import hmac
import json
import math
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

VERIFIED = "verified"
MISMATCH = "mismatch"
UNVERIFIABLE = "unverifiable"

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_UNVERIFIABLE = 2

TWO_POW_32 = 1 << 32
TWO_POW_52 = 1 << 52


class BadRound(Exception):
    """The round JSON lacks something this script needs (or holds the wrong type)."""


# --------------------------------------------------------------------------------------------
# The random numbers of a round


def outcome_block(server_seed: str, client_seed: str, nonce: int, cursor: int) -> bytes:
    """One 32-byte block: HMAC-SHA256 with the seed's text as key over "client_seed:nonce:cursor"."""
    message = ":".join((client_seed, str(nonce), str(cursor))).encode("utf-8")
    return hmac.digest(server_seed.encode("ascii"), message, "sha256")


def uniform_ints(server_seed: str, client_seed: str, nonce: int, how_many: int) -> list[int]:
    """The round's first `how_many` 32-bit numbers, 8 per block, blocks taken with cursor 0, 1, 2, ..."""
    numbers: list[int] = []
    blocks_needed = (how_many + 7) // 8
    for cursor in range(blocks_needed):
        block = outcome_block(server_seed, client_seed, nonce, cursor)
        numbers.extend(int(block[i : i + 4].hex(), 16) for i in range(0, 32, 4))
    return numbers[:how_many]


def uniform_floats(server_seed: str, client_seed: str, nonce: int, how_many: int) -> list[float]:
    """The same numbers as fractions of 2**32 (what the server calls its fair floats)."""
    return [number / TWO_POW_32 for number in uniform_ints(server_seed, client_seed, nonce, how_many)]


def pick(number: int, choices: int) -> int:
    """floor(number / 2**32 * choices), in integers."""
    return (number * choices) >> 32


# --------------------------------------------------------------------------------------------
# Each game's outcome, recomputed


def crash_hundredths(server_seed: str, client_seed: str, nonce: int) -> int:
    """The crash point in hundredths of a multiplier (2.31 -> 231).

    The first 13 hex digits (52 bits) of block 0 give X = n / 2**52; the crash point is
    floor(99 / (1 - X)) / 100, and never below 1.00. Worked with exact fractions.
    """
    n = int(outcome_block(server_seed, client_seed, nonce, 0).hex()[:13], 16)
    one_minus_x = 1 - Fraction(n, TWO_POW_52)
    hundredths = int(Fraction(99) / one_minus_x)  # int() truncates, which is floor for positives
    return hundredths if hundredths > 100 else 100


def computer_move(server_seed: str, client_seed: str, nonce: int) -> str:
    """Rock-paper-scissors: the first number picks one of rock, paper, scissors."""
    (number,) = uniform_ints(server_seed, client_seed, nonce, 1)
    return ("rock", "paper", "scissors")[pick(number, 3)]


def rps_outcome_for(player: str, computer: str) -> str:
    """Moves in the order rock, paper, scissors: each one beats the move just before it."""
    order = ["rock", "paper", "scissors"]
    if player not in order or computer not in order:
        raise BadRound(f"unknown move {player!r} or {computer!r}")
    return {0: "draw", 1: "win", 2: "lose"}[(order.index(player) - order.index(computer)) % 3]


def spin_reels(
    server_seed: str, client_seed: str, nonce: int, reel_strips: list[list[str]], paytable: list[dict[str, Any]]
) -> dict[str, Any]:
    """Slots: number i stops reel i; the payline is the symbol at each stop; best rule wins.

    A rule pays when the first `count` reels from the left show its symbol. Among the rules
    that pay, the highest multiplier wins, then the larger count, then the rule listed first.
    """
    numbers = uniform_ints(server_seed, client_seed, nonce, len(reel_strips))
    stops = [pick(number, len(strip)) for number, strip in zip(numbers, reel_strips, strict=True)]
    symbols = [strip[stop] for strip, stop in zip(reel_strips, stops, strict=True)]
    ranked = sorted(paytable, key=lambda rule: (-Decimal(str(rule["multiplier"])), -int(rule["count"])))
    for rule in ranked:
        count = int(rule["count"])
        if count <= len(symbols) and symbols[:count] == [rule["symbol"]] * count:
            return {
                "stops": stops,
                "symbols": symbols,
                "multiplier": Decimal(str(rule["multiplier"])),
                "is_jackpot": bool(rule.get("is_jackpot", False)),
            }
    return {"stops": stops, "symbols": symbols, "multiplier": Decimal(0), "is_jackpot": False}


def draw_gacha(server_seed: str, client_seed: str, nonce: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """Gacha: pull k uses numbers 2k (the rarity) and 2k+1 (the item within the rarity).

    Rarities are listed top first. A pull is forced to the top rarity when the pulls since the
    last top one, plus this one, reach the pity threshold; otherwise the rarity number r =
    floor(u * total weight / 2**32) lands in the first rarity whose running weight total
    exceeds r. The item is picked evenly among the rarity's items.
    """
    pull_count = int(inputs["pull_count"])
    threshold = int(inputs["pity_threshold"])
    since_top = int(inputs["pity_before"])
    rarities = inputs["rarities"]
    running_totals: list[int] = []
    for rarity in rarities:
        running_totals.append((running_totals[-1] if running_totals else 0) + int(rarity["weight"]))
    numbers = uniform_ints(server_seed, client_seed, nonce, 2 * pull_count)
    pulls = []
    for k in range(pull_count):
        rarity_number, item_number = numbers[2 * k], numbers[2 * k + 1]
        forced = since_top + 1 >= threshold
        # bisect_right finds the first running total above the drawn number (zero weights skipped)
        which = 0 if forced else bisect.bisect_right(running_totals, pick(rarity_number, running_totals[-1]))
        items = rarities[which]["items"]
        pulls.append({"rarity": rarities[which]["code"], "item": items[pick(item_number, len(items))], "pity": forced})
        since_top = 0 if which == 0 else since_top + 1
    return {"pulls": pulls, "pity_after": since_top}


def floor_times(bet: int, multiplier: Decimal) -> int:
    """floor(bet * multiplier) with exact fractions."""
    return math.floor(Fraction(multiplier) * bet)


# --------------------------------------------------------------------------------------------
# Checking one round


@dataclass
class RoundReport:
    """What was checked for one round, line by line, and the verdict."""

    title: str
    lines: list[str] = field(default_factory=list)
    mismatches: int = 0
    unverifiable_reason: str = ""

    @property
    def status(self) -> str:
        if self.mismatches:
            return MISMATCH
        if self.unverifiable_reason:
            return UNVERIFIABLE
        return VERIFIED

    def compare(self, what: str, served: object, recomputed: object) -> None:
        if served == recomputed:
            self.lines.append(f"  [ok]       {what}: {_show(recomputed)}")
        else:
            self.mismatches += 1
            self.lines.append(f"  [MISMATCH] {what}: the round says {_show(served)}, recomputed {_show(recomputed)}")

    def note(self, text: str) -> None:
        self.lines.append(f"  [note]     {text}")

    def cannot_verify(self, reason: str) -> None:
        self.unverifiable_reason = reason
        self.lines.append(f"  [--]       {reason}")

    def render(self) -> str:
        verdict = {
            VERIFIED: "VERIFIED: the outcome and the payout follow from the seeds",
            MISMATCH: f"MISMATCH: {self.mismatches} check(s) failed",
            UNVERIFIABLE: "NOT VERIFIABLE YET",
        }[self.status]
        return "\n".join([self.title, *self.lines, f"  => {verdict}", ""])


def verify_round(round_data: dict[str, Any]) -> RoundReport:
    """Check one round's JSON; never raises for bad data (the report says what was wrong)."""
    title = (
        f"Round {round_data.get('id', '?')} ({round_data.get('game', '?')}, {round_data.get('status', '?')},"
        f" bet {round_data.get('bet_amount', '?')} {round_data.get('currency', '')}, payout {round_data.get('payout')})"
    )
    report = RoundReport(title=title)
    try:
        _verify_into(report, round_data)
    except (BadRound, KeyError, TypeError, ValueError, IndexError, InvalidOperation) as error:
        report.cannot_verify(f"the round JSON is not in the expected shape: {error!r}")
    return report


def _verify_into(report: RoundReport, round_data: dict[str, Any]) -> None:
    fairness = round_data["fairness"]
    server_seed = fairness.get("server_seed")
    committed_hash = str(fairness["server_seed_hash"]).lower()
    if not server_seed:
        report.cannot_verify(
            "the server seed is not revealed yet: rotate your seed (POST /api/games/fairness/rotate), "
            "then run this again"
        )
        return
    if not isinstance(server_seed, str):
        raise BadRound("server_seed is not a string")
    revealed_hash = hashlib.sha256(server_seed.encode("ascii")).hexdigest()
    report.compare("sha256(server_seed) = server_seed_hash", committed_hash, revealed_hash)

    client_seed = fairness["client_seed"]
    nonce = fairness["nonce"]
    if not isinstance(client_seed, str) or not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 0:
        raise BadRound("client_seed must be a string and nonce a non-negative integer")
    bet = _whole_number(round_data["bet_amount"], "bet_amount")
    game = round_data["game"]
    inputs = round_data["inputs"]
    outcome = round_data.get("outcome")
    if game == "crash":
        _check_crash(report, round_data, server_seed, client_seed, nonce, bet, inputs, outcome)
        return
    if outcome is None:
        report.cannot_verify("the round has no outcome yet")
        return
    if game == "slot":
        _check_slot(report, round_data, server_seed, client_seed, nonce, bet, inputs, outcome)
    elif game == "rps":
        _check_rps(report, round_data, server_seed, client_seed, nonce, bet, inputs, outcome)
    elif game == "gacha":
        _check_gacha(report, server_seed, client_seed, nonce, inputs, outcome)
    else:
        report.cannot_verify(f"unknown game {game!r}")


def _check_slot(
    report: RoundReport,
    round_data: dict[str, Any],
    server_seed: str,
    client_seed: str,
    nonce: int,
    bet: int,
    inputs: dict[str, Any],
    outcome: dict[str, Any],
) -> None:
    spin = spin_reels(server_seed, client_seed, nonce, inputs["reel_strips"], inputs["paytable"])
    report.compare("reel stops", list(outcome["stops"]), spin["stops"])
    report.compare("symbols on the payline", list(outcome["symbols"]), spin["symbols"])
    report.compare("multiplier", Decimal(str(outcome["multiplier"])), spin["multiplier"])
    report.compare("jackpot", bool(outcome["is_jackpot"]), spin["is_jackpot"])
    report.compare("payout = floor(bet x multiplier)", round_data["payout"], floor_times(bet, spin["multiplier"]))


def _check_rps(
    report: RoundReport,
    round_data: dict[str, Any],
    server_seed: str,
    client_seed: str,
    nonce: int,
    bet: int,
    inputs: dict[str, Any],
    outcome: dict[str, Any],
) -> None:
    move = computer_move(server_seed, client_seed, nonce)
    report.compare("computer's move", outcome["computer_choice"], move)
    result = rps_outcome_for(inputs["choice"], move)
    report.compare(f"result for the player's {inputs['choice']}", outcome["result"], result)
    expected = {"win": floor_times(bet, Decimal(str(inputs["win_multiplier"]))), "draw": bet, "lose": 0}[result]
    report.compare(f"payout ({result})", round_data["payout"], expected)


def _check_crash(
    report: RoundReport,
    round_data: dict[str, Any],
    server_seed: str,
    client_seed: str,
    nonce: int,
    bet: int,
    inputs: dict[str, Any],
    outcome: dict[str, Any] | None,
) -> None:
    point = crash_hundredths(server_seed, client_seed, nonce)
    served_point = None if outcome is None else outcome.get("crash_point")
    if served_point is None:
        report.cannot_verify("the round is still running: its crash point is published when it is over")
        return
    report.compare("crash point", Decimal(str(served_point)), Decimal(point).scaleb(-2))
    chosen = inputs.get("cashout_multiplier")
    source = "cash-out"
    if chosen is None:
        chosen, source = inputs.get("auto_cashout_multiplier"), "auto cash-out target"
    if chosen is None:
        report.note("no cash-out: the stake rode until the crash")
        report.compare("payout", round_data["payout"], 0)
        return
    multiplier = Decimal(str(chosen))
    won = multiplier * 100 <= point
    expected = floor_times(bet, multiplier) if won else 0
    verdict = "at or below the crash point: wins" if won else "above the crash point: loses"
    report.compare(f"payout ({source} {multiplier} {verdict})", round_data["payout"], expected)


def _check_gacha(
    report: RoundReport, server_seed: str, client_seed: str, nonce: int, inputs: dict[str, Any], outcome: dict[str, Any]
) -> None:
    drawn = draw_gacha(server_seed, client_seed, nonce, inputs)
    served_pulls = outcome["pulls"]
    report.compare("number of pulls", len(served_pulls), len(drawn["pulls"]))
    for k, (served, mine) in enumerate(zip(served_pulls, drawn["pulls"], strict=False)):
        report.compare(
            f"pull {k + 1}",
            (served["rarity"], served["item"], _how_drawn(bool(served["pity"]))),
            (mine["rarity"], mine["item"], _how_drawn(mine["pity"])),
        )
    report.compare("pity counter after the batch", outcome["pity_after"], drawn["pity_after"])
    report.note("payout not checked: a gacha pays items (duplicates convert by your inventory), not coins")


def _how_drawn(pity: bool) -> str:
    return "forced by pity" if pity else "drawn"


def _whole_number(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRound(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return " / ".join(_show(part) for part in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --------------------------------------------------------------------------------------------
# Getting rounds


def rounds_from_file(path: str) -> list[dict[str, Any]]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        data = data["items"]
    rounds = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in rounds):
        raise BadRound(f"{path}: expected a round object or a list of them")
    return rounds


def round_from_api(base_url: str, token: str, round_id: str, timeout: float = 15.0) -> dict[str, Any]:
    if urllib.parse.urlparse(base_url).scheme not in {"http", "https"}:
        raise BadRound(f"--base-url must be an http(s) URL, got {base_url!r}")
    if not round_id.isdigit():
        raise BadRound(f"a round id is a number, got {round_id!r}")
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked to be http(s) above)
        f"{base_url.rstrip('/')}/api/games/rounds/{round_id}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only, above)
        data = json.loads(response.read().decode("utf-8"))
    if not isinstance(data, dict):
        raise BadRound(f"round {round_id}: the API answered {type(data).__name__}, not an object")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Recompute Casino Club game rounds from their revealed seeds (standard library only).",
        epilog="Exit status: 0 all verified, 1 a mismatch, 2 something could not be verified.",
    )
    parser.add_argument("rounds", nargs="+", help="round JSON file(s) ('-' for stdin), or round ids with --base-url")
    parser.add_argument("--base-url", help="the casino's address, e.g. https://casino.example")
    parser.add_argument("--token", help="your access JWT (default: $CASINO_ACCESS_TOKEN)")
    args = parser.parse_args(argv)

    reports: list[RoundReport] = []
    problems = 0
    for source in args.rounds:
        try:
            if args.base_url:
                token = args.token or os.environ.get("CASINO_ACCESS_TOKEN", "")
                if not token:
                    parser.error("--base-url needs --token (or CASINO_ACCESS_TOKEN)")
                rounds = [round_from_api(args.base_url, token, source)]
            else:
                rounds = rounds_from_file(source)
        except (OSError, ValueError, BadRound, urllib.error.URLError) as error:
            problems += 1
            _say(f"{source}: could not read the round: {error}\n\n")
            continue
        for round_data in rounds:
            report = verify_round(round_data)
            reports.append(report)
            _say(report.render() + "\n")

    statuses = [report.status for report in reports]
    counts = {status: statuses.count(status) for status in (VERIFIED, MISMATCH, UNVERIFIABLE)}
    _say(
        f"{counts[VERIFIED]} verified, {counts[MISMATCH]} mismatched, "
        f"{counts[UNVERIFIABLE] + problems} not verifiable\n"
    )
    if counts[MISMATCH]:
        return EXIT_MISMATCH
    if counts[UNVERIFIABLE] or problems:
        return EXIT_UNVERIFIABLE
    return EXIT_OK


def _say(text: str) -> None:
    sys.stdout.write(text)


if __name__ == "__main__":
    sys.exit(main())
