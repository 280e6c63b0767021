"""Row-lock helpers of games/. Order, when a service takes several: the player's seed row, then
the round row, then (inside the economy's posting) the wallet row — the same order everywhere,
so two services never wait for each other in a cycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connection

from casino.db import column_name, key_next_sql, one_or_none, row_columns, row_from_values, row_get, row_lock_clause
from economy.models import Wallet
from economy.services import wallet_lock_after
from games.gacha_selectors import inventory_owned_sql, items_owned
from games.models import FairnessSeed, GachaPity, GameRound

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
    return None if row is None else _nonce_taken(row)


def _nonce_taken(row: Sequence[Any]) -> NonceTaken:
    """The values ``_TAKE_NONCE`` returns, in its order."""
    seed_id, server_seed, server_seed_hash, client_seed, nonce, round_key = row
    return NonceTaken(
        int(seed_id),
        str(server_seed),
        str(server_seed_hash),
        str(client_seed),
        int(nonce),
        None if round_key is None else int(round_key),
    )


# The same, with the fingerprint of the player's round under a key if there is one: the round's
# replay check, read in the statement's snapshot (taken before it waits for the seed lock: a twin
# that commits during that wait is not seen here, and is refused by the round's unique key when
# the round is written; ``games.services.rounds`` answers it as a replay then).
_TAKE_NONCE_PROBING = _TAKE_NONCE + (  # noqa: S608 - no value in the text: every value is a parameter
    ", (SELECT request_fingerprint FROM games_gameround WHERE user_id = %s AND idempotency_key = %s)"
)


@dataclass(frozen=True)
class NonceAndWallet:
    """What :func:`seed_take_nonce_and_lock_wallet` took: the nonce, the player's wallet as
    locked after the seed (None when they have none yet), and the stored fingerprint of their
    round under the key (None when the snapshot holds no such round)."""

    taken: NonceTaken
    wallet: Wallet | None
    replay_fingerprint: str | None


def seed_take_nonce_and_lock_wallet(*, user_id: int, idempotency_key: str) -> NonceAndWallet | None:
    """:func:`seed_take_nonce`, and the player's wallet locked after the seed for the round's
    posting, and the round's replay check, in one statement (PostgreSQL:
    ``economy.services.wallet_lock_after``); None if the player has no seed yet."""
    found = wallet_lock_after(
        user_id=user_id, statement=_take_nonce_probing_sql(), params=[user_id, user_id, idempotency_key]
    )
    if found is None:
        return None
    (*taken, fingerprint), wallet = found
    return NonceAndWallet(taken=_nonce_taken(taken), wallet=wallet, replay_fingerprint=fingerprint)


@cache
def _take_nonce_probing_sql() -> str:
    return _TAKE_NONCE_PROBING.format(round_key=key_next_sql(GameRound) or "NULL")


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


def gacha_pity_lock_and_owned(
    *, user_id: int, banner_id: int, item_codes: Mapping[int, str]
) -> tuple[GachaPity | None, set[str]]:
    """The player's pity counter on the banner, locked for the pull's change (None: their first
    pull on it), and which of ``item_codes`` (the banner's items, codes by key) they own. On
    PostgreSQL one statement: the counter locked in a lateral subquery, the items owned read
    beside it; elsewhere two. A pull runs with the player's seed row locked (every round of the
    player waits for the one in progress), so no other pull of theirs moves either meanwhile."""
    if connection.vendor != "postgresql" or not item_codes:
        pity = row_get(GachaPity, lock=True, user=user_id, banner=banner_id)
        return pity, items_owned(user_id=user_id, item_codes=item_codes)
    with connection.cursor() as cursor:
        cursor.execute(_pity_and_owned_sql(len(item_codes)), [user_id, *item_codes, user_id, banner_id])
        owned, *values = cursor.fetchone()
    pity = None if values[0] is None else row_from_values(GachaPity, values)  # its key is never NULL
    return pity, {item_codes[item_id] for item_id in owned or ()}


@cache
def _pity_and_owned_sql(count: int) -> str:
    pity = GachaPity._meta
    user, banner = (column_name(GachaPity, name) for name in ("user", "banner"))
    return (
        f"SELECT ARRAY({inventory_owned_sql(count)}), p.* FROM (SELECT 1) AS one"  # noqa: S608 - names from the models
        f" LEFT JOIN LATERAL (SELECT {row_columns(GachaPity, table='g')} FROM {pity.db_table} g"
        f" WHERE g.{user} = %s AND g.{banner} = %s LIMIT 1{row_lock_clause(connection)}) p ON true"
    )
