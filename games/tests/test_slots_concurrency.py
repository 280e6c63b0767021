"""50 spins by one player at once, against the real PostgreSQL: never an overdraft, never a nonce
used twice, the ledger adding up to the balance, and one round per idempotency key."""

from __future__ import annotations

from typing import Any

import pytest

from economy.exceptions import InsufficientFunds
from economy.models import LedgerEntry, Wallet
from economy.services import wallet_grant
from games.models import GameRound, PlayerGameStats
from games.services import slot_spin, slot_table_invalidate

BET = 10


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_spins_never_overdraw_and_never_reuse_a_nonce(user: Any, parallel: Any) -> None:
    # Given a player funded for exactly 30 bets, and no process has the slot table cached yet
    wallet_grant(user=user, bundle={"gold": 30 * BET}, reason="admin_adjust", idempotency_key="fund")
    slot_table_invalidate()

    def spin(index: int) -> str:
        try:
            slot_spin(user=user, bet_amount=BET, idempotency_key=f"p{index}")
            return "spun"
        except InsufficientFunds:
            return "refused"

    # When 50 spins race
    outcomes = parallel(50, spin)
    # Then each either spun or was refused for funds (wins pay for more than 30 spins)
    assert set(outcomes) <= {"spun", "refused"}, outcomes
    rounds = list(GameRound.objects.filter(user=user))
    assert len(rounds) == outcomes.count("spun") >= 30
    # And every round has its own nonce of the one seed, numbered without gaps
    assert len({round_.seed_id for round_ in rounds}) == 1
    assert sorted(round_.nonce for round_ in rounds) == list(range(len(rounds)))
    # And the balance never went negative and equals the funding plus every round's net, as the
    # ledger says
    balance = Wallet.objects.get(pk=user.pk).gold
    assert balance == 30 * BET + sum(round_.payout - round_.bet_amount for round_ in rounds) >= 0
    assert sum(LedgerEntry.objects.filter(wallet_id=user.pk).values_list("delta", flat=True)) == balance
    assert PlayerGameStats.objects.get(user=user, game="slot").plays == len(rounds)


def _retry_ten_times_at_once(user: Any, parallel: Any) -> list[Any]:
    wallet_grant(user=user, bundle={"gold": 1000}, reason="admin_adjust", idempotency_key="fund")

    def retry(index: int) -> int:
        return slot_spin(user=user, bet_amount=BET, idempotency_key="one-spin").round.pk

    return parallel(10, retry)


@pytest.mark.django_db(transaction=True)
def test_parallel_retries_of_one_spin_spin_once(user: Any, parallel: Any) -> None:
    # When the same spin (one idempotency key) arrives 10 times at once
    results = _retry_ten_times_at_once(user, parallel)
    # Then exactly one round and one bet exist, and every round answered is that one (a retry that
    # races the first request past the replay check may still fail on the unique key; the engine's)
    rounds = list(GameRound.objects.filter(user=user))
    assert len(rounds) == 1
    assert {result for result in results if isinstance(result, int)} == {rounds[0].pk}
    assert LedgerEntry.objects.filter(wallet_id=user.pk, reason="game_bet").count() == 1
