"""The players' fairness seeds (design promise 6): a secret server seed whose SHA-256 is shown
before play, a client seed the player may set, and a nonce that goes up by one per round.

Rotating reveals the seed in use (every round played with it can then be recomputed, see
``tools/verify_round.py``) and publishes the hash of a fresh one. A seed with an open round
(a live crash round) is not rotated: revealing it would reveal that round's crash point.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from casino.db import one_or_none
from games.enums import RoundStatus
from games.exceptions import InvalidClientSeed, RoundInProgress
from games.fairness import new_server_seed, seed_hash
from games.locks import seed_lock_active
from games.models import FairnessSeed, GameRound

CLIENT_SEED = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _new_client_seed() -> str:
    return secrets.token_hex(8)


def seed_create(*, user_id: int, client_seed: str | None = None) -> FairnessSeed:
    """A fresh unrevealed seed for the player (the caller made sure there is none)."""
    server_seed = new_server_seed()
    return FairnessSeed.objects.create(
        user_id=user_id,
        server_seed=server_seed,
        server_seed_hash=seed_hash(server_seed),
        client_seed=client_seed or _new_client_seed(),
        created_at=timezone.now(),
    )


def seed_ensure(*, user_id: int) -> FairnessSeed:
    """The player's active seed, created on first use. Two first rounds in parallel both try to
    create it; the partial unique constraint lets one win and the other reads the winner's."""
    seed = one_or_none(FairnessSeed.objects.filter(user_id=user_id, revealed_at__isnull=True))
    if seed is not None:
        return seed
    try:
        with transaction.atomic():
            return seed_create(user_id=user_id)
    except IntegrityError:
        return FairnessSeed.objects.get(user_id=user_id, revealed_at__isnull=True)


@dataclass(frozen=True)
class SeedRotation:
    revealed: FairnessSeed  # the seed that was in use, now with its server seed public
    current: FairnessSeed  # the new seed (only its hash is shown)


def fairness_rotate(*, user: User, client_seed: str | None = None) -> SeedRotation:
    """Reveal the player's seed and start a new one (with ``client_seed`` if given, else the
    old client seed). Refused with ``round_in_progress`` while a round on the seed is open."""
    if client_seed is not None and not CLIENT_SEED.match(client_seed):
        raise InvalidClientSeed()
    # A live crash round whose crash time has passed is over even if nothing settled it yet (no
    # beat in embedded mode): settle it first, so only a round still running blocks the rotation.
    from games.services.crash import crash_settle_due  # crash builds on this module

    crash_settle_due(user_id=user.pk)
    with transaction.atomic(durable=True):
        seed_ensure(user_id=user.pk)
        seed = seed_lock_active(user_id=user.pk)
        assert seed is not None  # just ensured, and only this player's rotation reveals it
        if GameRound.objects.filter(seed=seed, status=RoundStatus.OPEN).exists():
            raise RoundInProgress()
        seed.revealed_at = timezone.now()
        seed.save(update_fields=["revealed_at"])
        current = seed_create(user_id=user.pk, client_seed=client_seed or seed.client_seed)
    return SeedRotation(revealed=seed, current=current)


def fairness_client_seed_set(*, user: User, client_seed: str) -> FairnessSeed:
    """Use ``client_seed`` for the player's next rounds (played rounds keep the one they used)."""
    if not CLIENT_SEED.match(client_seed or ""):
        raise InvalidClientSeed()
    with transaction.atomic(durable=True):
        seed_ensure(user_id=user.pk)
        seed = seed_lock_active(user_id=user.pk)
        assert seed is not None
        seed.client_seed = client_seed
        seed.save(update_fields=["client_seed"])
    return seed
