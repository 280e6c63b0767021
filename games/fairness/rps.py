"""Rock-paper-scissors: the computer's move from the round's first fair float.

    computer = ("rock", "paper", "scissors")[floor(f0 * 3)]
    paper beats rock, scissors beat paper, rock beats scissors
    payout: win floor(bet * win_multiplier), draw the bet back, lose 0

Since f0 = k / 2**32 and 2**32 = 3 * 1431655765 + 1, rock comes up for one more k than paper
or scissors: P(rock) = 1431655766 / 2**32, P(paper) = P(scissors) = 1431655765 / 2**32.
The exact return to player of a choice is therefore

    RTP = P(computer = the move it beats) * win_multiplier + P(computer = choice)

which is (win_multiplier + 1) / 3 up to 2**-32; win_multiplier 1.91 gives 97%.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Literal

from games.fairness.payouts import check_bet, multiplier_fraction, payout_amount
from games.fairness.rng import FLOAT_DENOMINATOR, fair_floats, scaled_floor

RpsResult = Literal["win", "lose", "draw"]

RPS_MOVES: tuple[str, str, str] = ("rock", "paper", "scissors")
# Each move beats the one before it in RPS_MOVES (cyclically).
BEATS: dict[str, str] = {"rock": "scissors", "paper": "rock", "scissors": "paper"}


def rps_move(fraction: float) -> str:
    """("rock", "paper", "scissors")[floor(fraction * 3)]."""
    return RPS_MOVES[scaled_floor(fraction, len(RPS_MOVES))]


def rps_computer_move(server_seed: str, client_seed: str, nonce: int) -> str:
    """The computer's move of a round: rps_move of its first fair float."""
    (first,) = fair_floats(server_seed, client_seed, nonce, 1)
    return rps_move(first)


def rps_result(player: str, computer: str) -> RpsResult:
    """The player's result: "win", "lose" or "draw". Unknown moves are a ValueError."""
    for move in (player, computer):
        if move not in BEATS:
            raise ValueError(f"a move is one of {RPS_MOVES}, got {move!r}")
    if player == computer:
        return "draw"
    return "win" if BEATS[player] == computer else "lose"


def rps_payout(bet: int, result: str, win_multiplier: Decimal) -> int:
    """win floor(bet * win_multiplier), draw the bet (a refund), lose 0."""
    check_bet(bet)
    if result == "win":
        return payout_amount(bet, win_multiplier)
    if result == "draw":
        return bet
    if result == "lose":
        return 0
    raise ValueError(f"a result is win, lose or draw, got {result!r}")


def rps_move_probabilities() -> dict[str, Fraction]:
    """The exact probability of each computer move: #{k < 2**32 : floor(3k / 2**32) = i} / 2**32."""
    probabilities: dict[str, Fraction] = {}
    for index, move in enumerate(RPS_MOVES):
        # floor(3k / 2**32) >= i  iff  k >= ceil(i * 2**32 / 3)
        start = -((-index * FLOAT_DENOMINATOR) // 3)
        end = -((-(index + 1) * FLOAT_DENOMINATOR) // 3)
        probabilities[move] = Fraction(end - start, FLOAT_DENOMINATOR)
    return probabilities


def rps_rtp(win_multiplier: Decimal, player_choice: str) -> Fraction:
    """Exact return to player (as a multiple of the stake, before flooring the payout) of a choice."""
    if player_choice not in BEATS:
        raise ValueError(f"a move is one of {RPS_MOVES}, got {player_choice!r}")
    probabilities = rps_move_probabilities()
    multiplier = multiplier_fraction(win_multiplier)
    return probabilities[BEATS[player_choice]] * multiplier + probabilities[player_choice]
