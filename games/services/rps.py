"""Rock-paper-scissors: one round through the engine (:func:`games.services.rounds.round_play`).

The computer's move comes from the round's first fair float (``games.fairness.rps_move``):

    computer = ("rock", "paper", "scissors")[floor(f0 * 3)]
    win  -> floor(bet * win_multiplier)      (GameConfig.win_multiplier of "rps")
    draw -> the bet back
    lose -> 0

Each result has probability 1/3 (up to 2**-32, see ``games/fairness/rps.py``), so

    RTP = (win_multiplier + 1) / 3,   and win_multiplier = 1.91 gives exactly 97%.

The player's choice is one of rock, paper, scissors, in any letter case (``"Rock"`` and
``"ROCK"`` are read as ``"rock"``; the round records the lower-case move). Anything else —
another word, surrounding spaces, a number, null, a missing choice — is ``invalid_choice`` and
is refused before the engine runs: no round, no nonce, no ledger entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from accounts.models import User
from games.defaults import GAME_CONFIGS
from games.exceptions import InvalidChoice
from games.fairness import RPS_MOVES, rps_move, rps_payout, rps_result
from games.models import GameRound
from games.services.rounds import Decision, Draw, round_play

GAME = "rps"
SUBTYPE = "rps_play"
DEFAULT_WIN_MULTIPLIER: Decimal = GAME_CONFIGS[GAME]["win_multiplier"]

# What the player's screen shows under the result (a small {code, severity, message}).
FEEDBACK: dict[str, dict[str, str]] = {
    "win": {"code": "rps.win", "severity": "success", "message": "You win!"},
    "draw": {"code": "rps.draw", "severity": "info", "message": "A draw: your bet is returned."},
    "lose": {"code": "rps.loss", "severity": "loss", "message": "The computer wins this one."},
}


def rps_choice_parse(choice: object) -> str:
    """The player's move in lower case, or ``invalid_choice``."""
    if isinstance(choice, str) and choice.lower() in RPS_MOVES:
        return choice.lower()
    raise InvalidChoice(choices=list(RPS_MOVES))


def rps_decider(choice: str, win_multiplier: Decimal | None, *, bet: int) -> Callable[[Draw], Decision]:
    """The pure decision of a round for ``bet`` (a validated whole number) and the player's
    ``choice`` (already parsed). ``win_multiplier`` None: the configuration's of the round
    (``draw.config``), so the round is decided and recorded with the multiplier read in its own
    transaction. No database access: ``manage.py simulate_rtp`` calls it with throwaway seeds."""
    if choice not in RPS_MOVES:
        raise ValueError(f"a move is one of {RPS_MOVES}, got {choice!r}")

    def decide(draw: Draw) -> Decision:
        multiplier = win_multiplier
        if multiplier is None:
            multiplier = draw.config.win_multiplier or DEFAULT_WIN_MULTIPLIER
        (first,) = draw.floats(1)
        computer = rps_move(first)
        result = rps_result(choice, computer)
        payout = rps_payout(bet, result, multiplier)
        return Decision(
            payout=payout,
            # The verifier reads the multiplier as a decimal string (docs/fairness.md).
            inputs={"choice": choice, "win_multiplier": format(multiplier.normalize(), "f")},
            outcome={"computer_choice": computer, "result": result},
            subtype=SUBTYPE,
            event={"player_choice": choice, "computer_choice": computer},
        )

    return decide


@dataclass(frozen=True)
class RpsPlay:
    """A played (or replayed) round and the player's balance in its currency afterwards."""

    round: GameRound
    player_choice: str
    computer_choice: str
    result: str
    balance: int
    replayed: bool


def _fingerprint(choice: str, bet_amount: object) -> str:
    canonical = json.dumps({"game": GAME, "choice": choice, "bet_amount": bet_amount}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def rps_play(*, user: User, choice: object, bet_amount: object, idempotency_key: str) -> RpsPlay:
    """Play one round (the engine owns the transaction and every refusal but the choice's).
    A retry with the same ``idempotency_key`` and request returns the first round."""
    move = rps_choice_parse(choice)

    def decide(draw: Draw) -> Decision:
        # round_play decides only after bet_check accepted the bet as a whole number.
        assert isinstance(bet_amount, int)
        return rps_decider(move, None, bet=bet_amount)(draw)

    played = round_play(
        user=user,
        game=GAME,
        bet_amount=bet_amount,
        idempotency_key=idempotency_key,
        fingerprint=_fingerprint(move, bet_amount),
        decide=decide,
    )
    round_ = played.round
    outcome: dict[str, Any] = round_.outcome
    return RpsPlay(
        round=round_,
        player_choice=str(round_.inputs.get("choice", move)),
        computer_choice=str(outcome["computer_choice"]),
        result=round_.result,
        balance=played.balances.get(round_.currency, 0),
        replayed=played.replayed,
    )


def rps_feedback(result: str) -> dict[str, str]:
    return FEEDBACK.get(result, FEEDBACK["lose"])
