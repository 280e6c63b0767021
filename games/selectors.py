"""Reads of games/ shared by views, the admin and other apps: the player's fairness state and a
round as the verifier reads it. Typed, no writes (a player who never played has no seed yet and
is shown the hash of none: the seed is created by the first round or the first rotation)."""

from __future__ import annotations

from typing import Any

from casino.db import one_or_none
from games.enums import RoundStatus
from games.models import FairnessSeed, GameRound, SlotTableVersion


def active_seed(*, user_id: int) -> FairnessSeed | None:
    return one_or_none(FairnessSeed.objects.filter(user_id=user_id, revealed_at__isnull=True))


def last_revealed_seed(*, user_id: int) -> FairnessSeed | None:
    return one_or_none(
        FairnessSeed.objects.filter(user_id=user_id, revealed_at__isnull=False).order_by("-revealed_at", "-id")
    )


def fairness_state(*, user_id: int, current: FairnessSeed | None = None) -> dict[str, Any]:
    """``GET /api/games/fairness``: the hash of the seed in use (never the seed), the client seed,
    the next nonce and the last revealed seed (with its hash, so a player can check it)."""
    seed = current or active_seed(user_id=user_id)
    previous = last_revealed_seed(user_id=user_id)
    return {
        "server_seed_hash": seed.server_seed_hash if seed else None,
        "client_seed": seed.client_seed if seed else None,
        "nonce": seed.next_nonce if seed else 0,
        "previous": (
            {
                "server_seed": previous.server_seed,
                "server_seed_hash": previous.server_seed_hash,
                "client_seed": previous.client_seed,
                "last_nonce": previous.next_nonce - 1,
                "revealed_at": previous.revealed_at,
            }
            if previous
            else None
        ),
    }


def round_for_player(*, user_id: int, round_id: int) -> GameRound | None:
    return one_or_none(GameRound.objects.select_related("seed").filter(pk=round_id, user_id=user_id))


def _expanded_inputs(round_: GameRound) -> dict[str, Any]:
    """The round's inputs with any configuration it names by reference written out (a slot
    round names its table version; the verifier needs the strips and the paytable)."""
    inputs = dict(round_.inputs)
    version_id = inputs.get("table_version")
    if round_.game == "slot" and version_id is not None:
        version = one_or_none(SlotTableVersion.objects.filter(pk=version_id))
        if version is not None:
            inputs["reel_strips"] = version.reel_strips
            inputs["paytable"] = version.paytable
    return inputs


def round_public(round_: GameRound) -> dict[str, Any]:
    """A round as ``GET /api/games/rounds/{id}`` shows it and ``tools/verify_round.py`` reads it.

    While the round is open its outcome is withheld (a live crash round's crash point); the
    server seed is shown once the player has rotated it (before that, only its hash)."""
    seed = round_.seed
    is_open = round_.status == RoundStatus.OPEN
    return {
        "id": round_.pk,
        "game": round_.game,
        "status": round_.status,
        "result": round_.result or None,
        "currency": round_.currency,
        "bet_amount": round_.bet_amount,
        "payout": round_.payout,
        "created_at": round_.created_at,
        "settled_at": round_.settled_at,
        "fairness": {
            "server_seed_hash": seed.server_seed_hash,
            "server_seed": seed.server_seed if seed.is_revealed else None,
            "client_seed": round_.client_seed,
            "nonce": round_.nonce,
        },
        "inputs": _expanded_inputs(round_),
        "outcome": None if is_open else round_.outcome,
    }
