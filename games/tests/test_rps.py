"""Rock-paper-scissors (games/services/rps.py, POST /api/games/rps/play): the computer's move from
the fair bytes, a win paying the configured multiplier (RTP 97%), a draw refunding; every refusal
changing nothing; retries and parallel plays exactly once; rounds the stand-alone verifier
recomputes."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections import Counter
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from games.defaults import GAME_CONFIGS
from games.exceptions import InvalidChoice
from games.fairness import RPS_MOVES, fair_floats, rps_move, rps_result, rps_rtp
from games.models import GameConfig, GameRound, PlayerGameStats
from games.services import Draw, rps_choice_parse, rps_decider
from realtime.models import OutboxEvent

PLAY = "/api/games/rps/play"
VERIFIER_PATH = Path(__file__).resolve().parents[2] / "tools" / "verify_round.py"


def fund(user: Any, gold: int) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def gold_of(user: Any) -> int:
    return Wallet.objects.get(pk=user.pk).gold


def play(client: APIClient, body: Any, key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(PLAY, body, format="json", **headers)


def load_verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_round_for_rps", VERIFIER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- The game's math (pure) ---------------------------------------------------------------------


def test_the_shipped_multiplier_gives_an_rtp_of_exactly_97_percent() -> None:
    # Given the shipped multiplier
    multiplier = GAME_CONFIGS["rps"]["win_multiplier"]
    # Then (m + 1) / 3 is 97% exactly, and the exact RTP of every choice (the moves' probabilities
    # are k / 2**32, rock one k more likely) is within 2**-31 of it
    assert (Fraction(multiplier) + 1) / 3 == Fraction(97, 100)
    for choice in RPS_MOVES:
        assert abs(rps_rtp(multiplier, choice) - Fraction(97, 100)) < Fraction(1, 2**31)


def test_the_measured_rtp_over_100000_decided_rounds_is_within_the_99_percent_interval() -> None:
    # Given the pure decider with a fixed seed (deterministic), a bet whose wins pay a whole number
    multiplier = Decimal("1.91")
    bet = 100
    config = GameConfig(game="rps", win_multiplier=multiplier)
    deciders = {choice: rps_decider(choice, multiplier, bet=bet) for choice in RPS_MOVES}
    seed = "5f" * 32
    rounds = 100_000
    # When 10^5 rounds are decided, cycling through the choices
    returns: list[float] = []
    results: Counter[str] = Counter()
    for nonce in range(rounds):
        choice = RPS_MOVES[nonce % 3]
        decision = deciders[choice](Draw(server_seed=seed, client_seed="rtp", nonce=nonce, config=config))
        returns.append(decision.payout / bet)
        results[decision.outcome["result"]] += 1
    # Then the mean return is within 2.576 standard errors of 97%, and each result within 3 sigma of 1/3
    mean = sum(returns) / rounds
    variance = sum((value - mean) ** 2 for value in returns) / (rounds - 1)
    assert abs(mean - 0.97) < 2.576 * math.sqrt(variance / rounds)
    sigma = math.sqrt(rounds * (1 / 3) * (2 / 3))
    for result in ("win", "lose", "draw"):
        assert abs(results[result] - rounds / 3) < 3 * sigma


def test_the_decider_pays_a_floored_multiple_on_a_win_the_bet_on_a_draw_and_nothing_on_a_loss() -> None:
    # Given a fixed seed, find one nonce of each result for "rock"
    config = GameConfig(game="rps", win_multiplier=Decimal("1.91"))
    decide = rps_decider("rock", None, bet=15)
    seen: dict[str, Any] = {}
    nonce = 0
    while len(seen) < 3:
        decision = decide(Draw(server_seed="ab" * 32, client_seed="c", nonce=nonce, config=config))
        seen.setdefault(decision.outcome["result"], decision)
        nonce += 1
    # Then the computer's move is rps_move of the first fair float, and the payouts follow the result
    assert {result: decision.payout for result, decision in seen.items()} == {"win": 28, "draw": 15, "lose": 0}
    for decision in seen.values():
        assert decision.inputs == {"choice": "rock", "win_multiplier": "1.91"}
        assert rps_result("rock", decision.outcome["computer_choice"]) == decision.outcome["result"]
    first = fair_floats("ab" * 32, "c", 0, 1)[0]
    assert decide(Draw(server_seed="ab" * 32, client_seed="c", nonce=0, config=config)).outcome[
        "computer_choice"
    ] == rps_move(first)


@pytest.mark.parametrize("choice", ["rock", "Paper", "SCISSORS"])
def test_a_move_is_read_in_any_letter_case(choice: str) -> None:
    assert rps_choice_parse(choice) == choice.lower()


@pytest.mark.parametrize("choice", ["lizard", " rock", "rock ", "", None, 1, 0, True, ["rock"], {"rock": 1}, "ROCK!"])
def test_anything_but_a_move_is_an_invalid_choice(choice: object) -> None:
    with pytest.raises(InvalidChoice):
        rps_choice_parse(choice)


# --- Playing through the API --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_round_answers_the_contract_fields_and_moves_the_balance_by_its_net(auth_client: APIClient) -> None:
    # Given a funded player
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    # When they play rock for 100
    response = play(auth_client, {"choice": "rock", "bet_amount": 100}, key="r1")
    # Then the answer has the contract's fields, consistent with the round and the ledger
    assert response.status_code == 200, response.json()
    body = response.json()
    round_ = GameRound.objects.get(pk=body["round_id"])
    assert body["success"] is True
    assert body["player_choice"] == "rock"
    assert body["computer_choice"] in RPS_MOVES
    assert body["result"] == rps_result("rock", body["computer_choice"]) == round_.result
    assert body["win_amount"] == {"win": 191, "draw": 100, "lose": 0}[body["result"]] == round_.payout
    assert body["net_change"] == body["win_amount"] - 100
    assert body["balance"] == gold_of(user) == 1000 - 100 + body["win_amount"]
    assert body["feedback"]["code"] in {"rps.win", "rps.draw", "rps.loss"} and body["message"]
    assert body["win_multiplier"] == "1.91" and body["replayed"] is False
    assert round_.inputs == {"choice": "rock", "win_multiplier": "1.91"}
    assert round_.outcome == {"computer_choice": body["computer_choice"], "result": body["result"]}
    # and the player's screen got a game_event rps_play with both moves
    event = OutboxEvent.objects.filter(user_id=user.pk, type="game_event").latest("id")
    assert event.data["subtype"] == "rps_play"
    assert event.data["player_choice"] == "rock"
    assert event.data["computer_choice"] == body["computer_choice"]


@pytest.mark.django_db
def test_the_configured_multiplier_is_the_one_a_round_pays_and_records(auth_client: APIClient) -> None:
    # Given staff set a win multiplier of 2.5
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    GameConfig.objects.filter(pk="rps").update(win_multiplier=Decimal("2.5"))
    # When the player plays until a win
    for index in range(40):
        body = play(auth_client, {"choice": "paper", "bet_amount": 10}, key=f"m{index}").json()
        if body["result"] == "win":
            break
    # Then the win paid floor(10 x 2.5) and the round records "2.5"
    assert body["result"] == "win"
    assert body["win_amount"] == 25 and body["win_multiplier"] == "2.5"


def assert_nothing_changed(user: Any, gold: int) -> None:
    assert not GameRound.objects.filter(user=user).exists()
    assert gold_of(user) == gold
    assert LedgerEntry.objects.filter(wallet_id=user.pk).count() == 1  # the funding only
    assert not PlayerGameStats.objects.filter(user=user).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"choice": "lizard", "bet_amount": 100},
        {"choice": "", "bet_amount": 100},
        {"choice": " rock", "bet_amount": 100},
        {"choice": 1, "bet_amount": 100},
        {"choice": None, "bet_amount": 100},
        {"choice": ["rock"], "bet_amount": 100},
        {"bet_amount": 100},
    ],
)
def test_an_invalid_choice_is_refused_and_changes_nothing(auth_client: APIClient, body: dict[str, Any]) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    response = play(auth_client, body, key="bad-choice")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_choice"
    assert response.json()["choices"] == ["rock", "paper", "scissors"]
    assert_nothing_changed(user, 1000)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("bet", "error"),
    [
        (-100, "bet_out_of_range"),
        (0, "bet_out_of_range"),
        (9, "bet_out_of_range"),
        (5_001, "bet_out_of_range"),
        (10**30, "bet_out_of_range"),
        (1.5, "validation_error"),
        (100.0, "validation_error"),
        ("100", "validation_error"),
        (True, "validation_error"),
        (None, "validation_error"),
        ({"amount": 100}, "validation_error"),
    ],
)
def test_a_bet_that_is_not_a_whole_number_within_the_limits_changes_nothing(
    auth_client: APIClient, bet: object, error: str
) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    response = play(auth_client, {"choice": "rock", "bet_amount": bet}, key="bad-bet")
    assert response.status_code == 400, response.json()
    assert response.json()["error"] == error
    assert_nothing_changed(user, 1000)


@pytest.mark.django_db
def test_a_missing_bet_is_a_validation_error(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    response = play(auth_client, {"choice": "rock"})
    assert (response.status_code, response.json()["error"]) == (400, "validation_error")
    assert "bet_amount" in response.json()["fields"]
    assert_nothing_changed(user, 1000)


@pytest.mark.django_db
def test_a_bet_above_the_balance_is_insufficient_funds_and_changes_nothing(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 50)
    response = play(auth_client, {"choice": "rock", "bet_amount": 100})
    assert (response.status_code, response.json()["error"]) == (409, "insufficient_funds")
    assert_nothing_changed(user, 50)


@pytest.mark.django_db
def test_a_switched_off_game_refuses_at_once(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    GameConfig.objects.filter(pk="rps").update(is_enabled=False)
    response = play(auth_client, {"choice": "rock", "bet_amount": 100})
    assert (response.status_code, response.json()["error"]) == (403, "game_disabled")
    assert_nothing_changed(user, 1000)


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_refused_and_changes_nothing(auth_client: APIClient) -> None:
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    response = auth_client.post(PLAY, data=b'{"choice": "rock", "bet', content_type="application/json")
    assert response.status_code == 400
    assert_nothing_changed(user, 1000)


@pytest.mark.django_db
def test_playing_needs_a_login(api_client: APIClient) -> None:
    response = api_client.post(PLAY, {"choice": "rock", "bet_amount": 100}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_same_round_and_a_new_request_with_it_is_refused(
    auth_client: APIClient,
) -> None:
    # Given a round played with a key
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 1000)
    first = play(auth_client, {"choice": "scissors", "bet_amount": 100}, key="same").json()
    # When the client retries it (also under the other header name, and with the move's other case)
    again = auth_client.post(
        PLAY, {"choice": "Scissors", "bet_amount": 100}, format="json", HTTP_X_IDEMPOTENCY_KEY="same"
    ).json()
    # Then it gets the first round back, and nothing moved twice
    assert again["round_id"] == first["round_id"] and again["replayed"] is True
    for field in ("computer_choice", "result", "win_amount", "balance"):
        assert again[field] == first[field]
    assert GameRound.objects.filter(user=user).count() == 1
    assert gold_of(user) == 1000 - 100 + first["win_amount"]
    # And the same key with another request is a conflict
    other = play(auth_client, {"choice": "rock", "bet_amount": 100}, key="same")
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_key_reused")
    assert GameRound.objects.filter(user=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_parallel_plays_never_overdraw_never_share_a_nonce_and_keep_the_ledger_whole(user: Any, parallel: Any) -> None:
    # Given a player who can afford at most 12 bets of 100 (every round may lose)
    from accounts.tokens import tokens_issue

    fund(user, 1200)
    token = tokens_issue(user=user).access

    def bet(index: int) -> int:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        try:
            return play(client, {"choice": RPS_MOVES[index % 3], "bet_amount": 100}, key=f"p{index}").status_code
        finally:
            connection.close()

    # When 24 plays race
    statuses = parallel(24, bet)
    # Then every answer is a played round or a refusal for funds, each round has its own nonce,
    # the balance never went negative and equals the funding plus the rounds' nets
    assert set(statuses) <= {200, 409}
    rounds = list(GameRound.objects.filter(user=user))
    assert len(rounds) == statuses.count(200) >= 12
    assert len({(round_.seed_id, round_.nonce) for round_ in rounds}) == len(rounds)
    expected = 1200 + sum(round_.payout - round_.bet_amount for round_ in rounds)
    assert gold_of(user) == expected >= 0
    assert sum(LedgerEntry.objects.filter(wallet_id=user.pk).values_list("delta", flat=True)) == expected
    assert PlayerGameStats.objects.get(user=user, game="rps").plays == len(rounds)


@pytest.mark.django_db
def test_the_verifier_recomputes_rounds_fetched_from_the_api_after_the_seed_is_rotated(
    auth_client: APIClient,
) -> None:
    # Given a few rounds with each move
    user = auth_client.user  # type: ignore[attr-defined]
    fund(user, 10_000)
    ids = [
        play(auth_client, {"choice": RPS_MOVES[index % 3], "bet_amount": 10 + index}, key=f"v{index}").json()[
            "round_id"
        ]
        for index in range(6)
    ]
    verifier = load_verifier()
    # When the seed is not revealed yet, the verifier cannot check them
    unrevealed = auth_client.get(f"/api/games/rounds/{ids[0]}").json()
    assert verifier.verify_round(unrevealed).status == verifier.UNVERIFIABLE
    # When the player rotates and fetches them
    assert auth_client.post("/api/games/fairness/rotate", {}, format="json").status_code == 200
    fetched = [auth_client.get(f"/api/games/rounds/{round_id}").json() for round_id in ids]
    # Then the verifier recomputes every one, and a tampered outcome is a mismatch
    for round_data in fetched:
        assert round_data["game"] == "rps"
        assert verifier.verify_round(round_data).status == verifier.VERIFIED
    tampered = dict(fetched[0], payout=fetched[0]["payout"] + 1)
    assert verifier.verify_round(tampered).status == verifier.MISMATCH
    moves = {"rock": "paper", "paper": "scissors", "scissors": "rock"}
    other_move = dict(
        fetched[0],
        outcome={**fetched[0]["outcome"], "computer_choice": moves[fetched[0]["outcome"]["computer_choice"]]},
    )
    assert verifier.verify_round(other_move).status == verifier.MISMATCH
