"""Row-lock helpers of games/. Order, when a service takes several: the player's seed row, then
the round row, then (inside the economy's posting) the wallet row — the same order everywhere,
so two services never wait for each other in a cycle."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db import connection

from casino.db import key_next_sql, one_or_none
from games.models import FairnessSeed, GameRound

# One statement takes the next nonce and locks the seed row until the transaction ends: a
# parallel round of the same player waits here and then reads the incremented nonce. On
# PostgreSQL it also draws the key of the round about to be played (casino.db.key_next_sql):
# the round is then written with the transaction's last statement.
_TAKE_NONCE = (
    "UPDATE games_fairnessseed SET next_nonce = next_nonce + 1 "
    "WHERE user_id = %s AND revealed_at IS NULL "
    "RETURNING id, server_seed, server_seed_hash, client_seed, next_nonce - 1, {round_key}"
)


@cache
def _take_nonce_sql() -> str:
    return _TAKE_NONCE.format(round_key=key_next_sql(GameRound) or "NULL")


@dataclass(frozen=True)
class NonceTaken:
    """The seed a round uses and the nonce it took (the seed row stays locked)."""

    seed_id: int
    server_seed: str
    server_seed_hash: str
    client_seed: str
    nonce: int
    round_key: int | None = None  # the next round's key, drawn with the nonce (PostgreSQL)


def seed_take_nonce(*, user_id: int) -> NonceTaken | None:
    """Lock the player's active seed and take its next nonce; None if the player has no seed yet."""
    with connection.cursor() as cursor:
        cursor.execute(_take_nonce_sql(), [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    seed_id, server_seed, server_seed_hash, client_seed, nonce, round_key = row
    return NonceTaken(
        int(seed_id),
        str(server_seed),
        str(server_seed_hash),
        str(client_seed),
        int(nonce),
        None if round_key is None else int(round_key),
    )


def seed_lock_active(*, user_id: int) -> FairnessSeed | None:
    return one_or_none(
        FairnessSeed.objects.select_for_update(of=("self",), no_key=True).filter(
            user_id=user_id, revealed_at__isnull=True
        )
    )


def round_lock(*, round_id: int, user_id: int | None = None) -> GameRound | None:
    rounds = GameRound.objects.select_for_update(of=("self",), no_key=True).filter(pk=round_id)
    if user_id is not None:
        rounds = rounds.filter(user_id=user_id)
    return one_or_none(rounds)
