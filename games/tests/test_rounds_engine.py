"""The round engine every game's bet goes through (games/services/rounds.py), with a trivial game
that pays back a fixed multiple: exactly-once under retries and parallel bets, nothing changed by
a refusal, one nonce per round."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from economy.exceptions import IdempotencyConflict, InsufficientFunds
from economy.models import LedgerEntry
from economy.services import wallet_grant
from games.exceptions import BetOutOfRange, GameDisabled
from games.models import FairnessSeed, GameRound, PlayerGameStats
from games.services import Decision, Draw, round_play
from games.tests.factories import game_config_change


def pays(multiple: int) -> Any:
    def decide(draw: Draw) -> Decision:
        floats = draw.floats(1)
        return Decision(payout=0, inputs={"multiple": multiple}, outcome={"f": floats[0]}, subtype="test_play")

    return decide


def fund(user: Any, gold: int) -> None:
    wallet_grant(user=user, bundle={"gold": gold}, reason="admin_adjust", idempotency_key=f"fund:{user.pk}:{gold}")


def play(user: Any, key: str, bet: object = 100, decide: Any = None) -> Any:
    return round_play(
        user=user, game="rps", bet_amount=bet, idempotency_key=key, fingerprint="f", decide=decide or pays(0)
    )


@pytest.mark.django_db
def test_a_round_debits_the_bet_and_uses_the_next_nonce(user: Any) -> None:
    # Given a funded player
    fund(user, 1000)
    # When they play twice
    first = play(user, "k1")
    second = play(user, "k2")
    # Then each round used its own nonce of one seed, and both bets are in the ledger
    assert (first.round.nonce, second.round.nonce) == (0, 1)
    assert first.round.seed_id == second.round.seed_id
    assert second.balances["gold"] == 800
    keys = set(
        LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_bet").values_list("idempotency_key", flat=True)
    )
    assert keys == {f"round:{first.round.pk}:bet", f"round:{second.round.pk}:bet"}
    assert PlayerGameStats.objects.get(user=user, game="rps").plays == 2


@pytest.mark.django_db
def test_a_retry_with_the_same_key_returns_the_same_round(user: Any) -> None:
    fund(user, 1000)
    first = play(user, "same")
    again = play(user, "same")
    assert again.replayed and again.round.pk == first.round.pk
    assert GameRound.objects.filter(user=user).count() == 1
    with pytest.raises(IdempotencyConflict):
        round_play(user=user, game="rps", bet_amount=100, idempotency_key="same", fingerprint="other", decide=pays(0))


@pytest.mark.django_db
@pytest.mark.parametrize("bet", [-100, 0, 1.5, "100", True, None, 10**9])
def test_a_bet_that_is_not_a_whole_number_in_range_changes_nothing(user: Any, bet: object) -> None:
    fund(user, 1000)
    with pytest.raises(BetOutOfRange):
        play(user, "bad", bet=bet)
    assert not GameRound.objects.filter(user=user).exists()
    assert LedgerEntry.objects.filter(wallet_id=user.pk).count() == 1


@pytest.mark.django_db
def test_insufficient_funds_changes_nothing_not_even_the_nonce(user: Any) -> None:
    fund(user, 50)
    play(user, "first", bet=50)
    with pytest.raises(InsufficientFunds):
        play(user, "second", bet=50)
    assert GameRound.objects.filter(user=user).count() == 1
    assert FairnessSeed.objects.get(user=user).next_nonce == 1


@pytest.mark.django_db
def test_a_switched_off_game_refuses_bets(user: Any) -> None:
    fund(user, 1000)
    game_config_change("rps", is_enabled=False)
    with pytest.raises(GameDisabled):
        play(user, "off")
    assert not GameRound.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_bets_never_overdraw_and_never_share_a_nonce(user: Any, parallel: Any) -> None:
    # Given a player who can afford 20 of 30 parallel bets
    fund(user, 2000)

    def bet(index: int) -> str:
        try:
            play(user, f"p{index}")
            return "played"
        except InsufficientFunds:
            return "refused"
        finally:
            connection.close()

    # When 30 bets race
    outcomes = parallel(30, bet)
    # Then exactly 20 played, with 20 distinct nonces, and the balance is zero, never negative
    assert outcomes.count("played") == 20
    nonces = list(GameRound.objects.filter(user=user).values_list("nonce", flat=True))
    assert sorted(nonces) == list(range(20))
    from economy.models import Wallet

    assert Wallet.objects.get(pk=user.pk).gold == 0


@pytest.mark.django_db(transaction=True)
def test_one_key_sent_ten_times_at_once_plays_one_round(user: Any, parallel: Any) -> None:
    # Given a funded player; the replay check is read in the statement that locks the wallet, after
    # the seed lock: a twin that committed while this request waited for that lock must be seen
    fund(user, 2000)

    def bet(_index: int) -> tuple[int, bool]:
        try:
            result = play(user, "same-key")
            return result.round.pk, result.replayed
        finally:
            connection.close()

    # When the same request races itself ten times
    outcomes = parallel(10, bet)
    # Then one round was played and the nine others were answered with it
    assert len({round_id for round_id, _ in outcomes}) == 1
    assert sorted(replayed for _, replayed in outcomes) == [False] + [True] * 9
    assert GameRound.objects.filter(user=user).count() == 1
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_bet").count() == 1
    from economy.models import Wallet

    assert Wallet.objects.get(pk=user.pk).gold == 1900


@pytest.mark.django_db
def test_a_player_without_a_wallet_yet_is_refused_for_funds_not_failed(user: Any) -> None:
    from economy.models import Wallet

    # Given an account made without signing up: no wallet to lock with the replay check
    assert not Wallet.objects.filter(pk=user.pk).exists()
    # When they bet, the check runs on its own and the posting opens the wallet, which holds nothing
    with pytest.raises(InsufficientFunds):
        play(user, "first")
    # Then nothing was played; once funded, the same key plays and a retry finds the round
    assert not GameRound.objects.filter(user=user).exists()
    fund(user, 1000)
    first = play(user, "first")
    again = play(user, "first")
    assert not first.replayed and again.replayed and again.round.pk == first.round.pk


def _twin_waiting_for_the_seed(gold: int, user: Any) -> tuple[Any, Any, Any]:
    """Play key "twin" twice: the second request's statement starts while the first holds the seed
    lock (so its snapshot cannot see the first's round) and waits; then the first commits. Returns
    both results and the spy on the twin path."""
    from unittest import mock

    from casino.tests.race_condition import run_waiting_after
    from games.services import rounds

    fund(user, gold + 100)
    play(user, "warm", bet=100)  # the player's seed exists: the first request's statement takes its lock
    with (
        mock.patch.object(rounds, "_twin_or_raise", wraps=rounds._twin_or_raise) as twin_path,
        run_waiting_after(
            "games.services.rounds.seed_take_nonce_and_lock_wallet", lambda: play(user, "twin", bet=100)
        ) as second,
    ):
        first = play(user, "twin", bet=100)
    return first, second["result"], twin_path


@pytest.mark.django_db(transaction=True)
def test_a_twin_that_waited_for_the_seed_lock_is_answered_with_the_first_round(user: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the nonce, the replay check and the wallet lock are one statement on PostgreSQL")
    # Given a player with funds for both, and a twin whose replay check read a snapshot taken
    # before the first request committed
    first, second, twin_path = _twin_waiting_for_the_seed(1000, user)
    # Then the round's unique key refused the twin's round, and the twin answered with the first's
    assert not first.replayed and second.replayed and second.round.pk == first.round.pk
    assert twin_path.call_count == 1  # the unique key's path, not the replay check's
    assert GameRound.objects.filter(user=user, idempotency_key="twin").count() == 1
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_bet").count() == 2  # the warm-up's and one
    from economy.models import Wallet

    assert Wallet.objects.get(pk=user.pk).gold == 900


@pytest.mark.django_db(transaction=True)
def test_a_twin_refused_for_the_funds_the_first_spent_is_answered_with_the_first_round(user: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the nonce, the replay check and the wallet lock are one statement on PostgreSQL")
    # Given a player with funds for one bet: the first request's bet spends them all
    first, second, twin_path = _twin_waiting_for_the_seed(100, user)
    # Then the twin's refusal (insufficient funds) is answered with the first round, not refused
    assert not first.replayed and second.replayed and second.round.pk == first.round.pk
    assert twin_path.call_count == 1
    assert GameRound.objects.filter(user=user, idempotency_key="twin").count() == 1
    from economy.models import Wallet

    assert Wallet.objects.get(pk=user.pk).gold == 0
