"""Gacha: pulls on a banner, the pity counter and the player's inventory (the banners' audited
back-office changes: games/services/gacha_banners.py).

A pull is one round of the engine (:func:`games.services.rounds.round_play`, game ``gacha``):

* the bet is the banner's price — ``cost_single`` for one pull, ``cost_ten`` for a 10-pull (no
  other count is sold) — in the banner's currency, which must be the gacha game's currency;
* it counts ``pull_count`` against the daily pull limit of the player's VIP tier (the engine's
  atomic ``daily_limit_take``);
* ``decide`` runs with the player's fairness-seed row locked (the engine takes the nonce with
  it), so the player's pulls run one after the other. There the service reads the player's pity
  counter for the banner (locked ``FOR NO KEY UPDATE``, a second lock that holds even if the seed
  lock were ever bypassed) and the item codes the player owns on the banner -- one statement on
  PostgreSQL (``games.locks.gacha_pity_lock_and_owned``) --, then calls the
  PURE :func:`gacha_decider` (the draw is ``games.fairness.gacha_pulls`` — also what
  ``tools/verify_round.py`` and ``manage.py simulate_rtp`` recompute);
* ``after`` (same transaction, once the round and its postings exist) writes the pity counter,
  the new inventory rows, the duplicate counts and, when duplicates convert to another currency
  than the price's, their grant keyed ``round:{id}:dup``.

What ``payout`` means for the gacha: the value of the round's duplicates. Every item drawn that
the player already owns (or drew earlier in the same 10-pull) converts to its rarity's
``duplicate_value`` in the banner's ``duplicate_currency``. When that is the price's currency
the sum is the round's payout (ledger ``round:{id}:win``; ``result`` is ``win`` when it exceeds
the price, which a lucky batch of duplicates can do); otherwise the payout is 0 and the sum is a
separate ``game_win`` grant keyed ``round:{id}:dup``. A pull of new items only pays 0: what it
gives is the items.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, F, Value, When

from accounts.models import User
from casino.db import row_update_later, rows_insert_later
from economy.enums import LedgerReason
from economy.services import wallet_grant
from games import metrics
from games.enums import Game
from games.exceptions import BannerNotFound, InvalidChoice
from games.fairness import gacha_pity_after, gacha_pulls
from games.gacha_selectors import GachaBannerSpec, gacha_banners_open, gacha_item_codes
from games.locks import gacha_pity_lock_and_owned
from games.models import GachaPity, GameRound, InventoryItem
from games.services.rounds import Decision, Draw, RoundPlay, round_play

PULL_COUNTS = (1, 10)
SUBTYPE = "gacha_pull"

# animation_type, as the client plays it: the best thing in the batch.
ANIMATION_PITY = "pity"  # the top rarity, guaranteed by pity
ANIMATION_BY_RARITY = {"legendary": "legendary", "epic": "epic"}
ANIMATION_NORMAL = "normal"
ANIMATION_ORDER = (ANIMATION_PITY, "legendary", "epic", ANIMATION_NORMAL)

FEEDBACK = {
    ANIMATION_PITY: ("gacha.pull.pity", "success", "Guaranteed! Your pity counter paid out a legendary."),
    "legendary": ("gacha.pull.legendary", "success", "Legendary! A rare find."),
    "epic": ("gacha.pull.epic", "success", "Epic item!"),
    ANIMATION_NORMAL: ("gacha.pull.normal", "info", "Added to your collection."),
}


def gacha_feedback(animation_type: str) -> dict[str, str]:
    """The small ``{code, severity, message}`` block the client shows after a pull."""
    code, severity, message = FEEDBACK.get(animation_type, FEEDBACK[ANIMATION_NORMAL])
    return {"code": code, "severity": severity, "message": message}


# --- the pure decision ---------------------------------------------------------------------------


def gacha_decider(
    *,
    banner: GachaBannerSpec,
    pull_count: int,
    pity_before: int,
    owned: Collection[str] = frozenset(),
) -> Callable[[Draw], Decision]:
    """The decision of one pull batch, pure (no database access; ``simulate_rtp`` calls it with
    throwaway seeds): the draw (``games.fairness.gacha_pulls`` over the banner's rarities, top
    first, and its active items in (sort_order, id) order) from the pity counter ``pity_before``;
    which items are new given the item codes the player ``owned`` before (an item drawn twice in
    one batch is new once); the duplicates' value; the pity counter after the batch.

    ``Decision.inputs`` / ``outcome`` follow the round JSON of docs/fairness.md (the verifier reads
    ``banner``, ``pull_count``, ``pity_threshold``, ``pity_before``, ``rarities`` and ``pulls``
    [rarity, item, pity] and ``pity_after``); the rest is what the response and a replay show."""
    if pull_count not in PULL_COUNTS:
        raise ValueError(f"pull_count must be one of {PULL_COUNTS}, got {pull_count!r}")
    rarities = banner.draw_rarities()
    pays_in_round = banner.duplicate_currency == banner.currency
    inputs: dict[str, Any] = {
        "banner": banner.code,
        "pull_count": pull_count,
        "cost": banner.cost(pull_count),
        "pity_threshold": banner.pity_threshold,
        "pity_before": pity_before,
        "rarities": rarities,
        "duplicate_values": {rarity.code: rarity.duplicate_value for rarity in banner.rarities},
        "duplicate_currency": banner.duplicate_currency,
    }
    top = banner.rarities[0].code

    def decide(draw: Draw) -> Decision:
        pulls = gacha_pulls(
            draw.server_seed,
            draw.client_seed,
            draw.nonce,
            pull_count=pull_count,
            rarities=rarities,
            pity_threshold=banner.pity_threshold,
            pity_before=pity_before,
        )
        seen = set(owned)
        drawn: list[dict[str, Any]] = []
        for pull in pulls:
            is_new = pull.item not in seen
            seen.add(pull.item)
            drawn.append(
                {
                    "rarity": pull.rarity,
                    "item": pull.item,
                    "pity": pull.pity,
                    "name": banner.items[pull.item].name,
                    "is_new": is_new,
                    "duplicate_value": 0 if is_new else banner.duplicate_value(pull.rarity),
                }
            )
        duplicate_total = sum(pull["duplicate_value"] for pull in drawn)
        pity_after = gacha_pity_after(pulls, pity_before)
        animation = _animation(drawn, top)
        outcome = {
            "pulls": drawn,
            "pity_after": pity_after,
            "animation_type": animation,
            "duplicate_total": duplicate_total,
            "duplicate_currency": banner.duplicate_currency,
        }
        event = {
            "banner": banner.code,
            "pull_count": pull_count,
            "items": [_public_item(pull) for pull in drawn],
            "animation_type": animation,
            "pity_counter": pity_after,
        }
        return Decision(
            payout=duplicate_total if pays_in_round else 0,
            inputs=inputs,
            outcome=outcome,
            subtype=SUBTYPE,
            event=event,
        )

    return decide


def _animation(pulls: Sequence[dict[str, Any]], top: str) -> str:
    kinds = {ANIMATION_PITY if pull["pity"] and pull["rarity"] == top else ANIMATION_NORMAL for pull in pulls}
    kinds |= {ANIMATION_BY_RARITY[pull["rarity"]] for pull in pulls if pull["rarity"] in ANIMATION_BY_RARITY}
    return next(kind for kind in ANIMATION_ORDER if kind in kinds)


def _public_item(pull: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": pull["name"],
        "rarity": pull["rarity"],
        "code": pull["item"],
        "is_new": pull["is_new"],
        "duplicate_value": pull["duplicate_value"],
        "pity": pull["pity"],
    }


# --- a pull --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GachaPullResult:
    round: GameRound
    replayed: bool
    banner: str
    items: list[dict[str, Any]]  # name, rarity, code, is_new, duplicate_value, pity
    animation_type: str
    pity_counter: int
    duplicate_total: int
    duplicate_currency: str
    balance: int
    feedback: dict[str, str]


def gacha_request_fingerprint(*, pull_count: int, banner_code: str | None) -> str:
    """What identifies a pull request for the replay check (the same key with another banner or
    count is ``idempotency_key_reused``)."""
    canonical = json.dumps({"game": Game.GACHA.value, "banner": banner_code, "pull_count": pull_count}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def gacha_pull(*, user: User, pull_count: int, banner_code: str | None, idempotency_key: str) -> GachaPullResult:
    """Pull ``pull_count`` (1 or 10) on the banner ``banner_code`` (None: the first open banner)
    for its price, in one transaction (see the module docstring). Refusals, none with an effect:
    ``invalid_choice`` (another count), ``banner_not_found`` (unknown, inactive or out of its
    window), and the engine's (``game_disabled``, ``self_excluded``, ``daily_limit_reached``,
    ``insufficient_funds``, ``idempotency_key_reused``)."""
    if isinstance(pull_count, bool) or pull_count not in PULL_COUNTS:
        raise InvalidChoice(field="pull_count", allowed=list(PULL_COUNTS))
    fingerprint = gacha_request_fingerprint(pull_count=pull_count, banner_code=banner_code)
    specs = gacha_banners_open(code=banner_code)
    if not specs:
        if GameRound.objects.filter(user=user, idempotency_key=idempotency_key).exists():
            # A retry of a pull made before the banner closed: the engine replays it (it checks
            # the key before anything else, so the bet and the decision are never used).
            return _pull_result(
                round_play(
                    user=user,
                    game=Game.GACHA,
                    bet_amount=0,
                    idempotency_key=idempotency_key,
                    fingerprint=fingerprint,
                    decide=_closed_banner(banner_code),
                )
            )
        raise BannerNotFound(banner=banner_code)
    banner = specs[0]
    item_codes = gacha_item_codes(banner)
    state: dict[str, Any] = {}

    def decide(draw: Draw) -> Decision:
        if draw.config.currency != banner.currency:  # a misconfiguration the back office refuses
            raise BannerNotFound(banner=banner.code)
        pity, owned = gacha_pity_lock_and_owned(user_id=user.pk, banner_id=banner.id, item_codes=item_codes)
        state["pity"] = pity
        return gacha_decider(
            banner=banner, pull_count=pull_count, pity_before=pity.pulls_since_top if pity else 0, owned=owned
        )(draw)

    def after(round_: GameRound, decision: Decision) -> None:
        _record_pull(round_=round_, banner=banner, pity=state["pity"], outcome=decision.outcome)

    play = round_play(
        user=user,
        game=Game.GACHA,
        bet_amount=banner.cost(pull_count),
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        decide=decide,
        units=pull_count,
        after=after,
    )
    if not play.replayed:  # committed: count the pulls (a replay was counted the first time)
        metrics.gacha_pulled(play.round.outcome["pulls"])
    return _pull_result(play)


def _closed_banner(banner_code: str | None) -> Callable[[Draw], Decision]:
    def decide(draw: Draw) -> Decision:
        raise BannerNotFound(banner=banner_code)

    return decide


def _pull_result(play: RoundPlay) -> GachaPullResult:
    """A pull's answer, from its round alone (so a replay answers what the first pull did)."""
    round_ = play.round
    outcome = round_.outcome
    return GachaPullResult(
        round=round_,
        replayed=play.replayed,
        banner=str(round_.inputs["banner"]),
        items=[_public_item(pull) for pull in outcome["pulls"]],
        animation_type=outcome["animation_type"],
        pity_counter=outcome["pity_after"],
        duplicate_total=outcome["duplicate_total"],
        duplicate_currency=outcome["duplicate_currency"],
        balance=play.balances.get(round_.currency, 0),
        feedback=gacha_feedback(outcome["animation_type"]),
    )


def _record_pull(
    *, round_: GameRound, banner: GachaBannerSpec, pity: GachaPity | None, outcome: dict[str, Any]
) -> None:
    """The pull's own rows, in the round's transaction: the pity counter, the inventory (one row
    per item; later draws count as ``duplicates``) and a duplicate grant in another currency."""
    pulls: list[dict[str, Any]] = outcome["pulls"]
    now = round_.created_at
    if pity is None:  # nothing reads it back in this transaction: written with the outbox rows
        rows_insert_later(
            [
                GachaPity(
                    user_id=round_.user_id,
                    banner_id=banner.id,
                    pulls_since_top=outcome["pity_after"],
                    total_pulls=len(pulls),
                    updated_at=now,
                )
            ]
        )
    else:  # locked by the decision (games.locks.gacha_pity_lock_and_owned): its counts are current
        pity.pulls_since_top = outcome["pity_after"]
        pity.total_pulls += len(pulls)
        pity.updated_at = now
        row_update_later(pity, ["pulls_since_top", "total_pulls", "updated_at"])  # read no more here
    new = [banner.items[pull["item"]].id for pull in pulls if pull["is_new"]]
    if new:  # nothing in this transaction reads them back (the duplicates below are older rows)
        rows_insert_later(
            [InventoryItem(user_id=round_.user_id, item_id=item_id, round=round_, acquired_at=now) for item_id in new]
        )
    duplicates = Counter(banner.items[pull["item"]].id for pull in pulls if not pull["is_new"])
    if duplicates:
        InventoryItem.objects.filter(user_id=round_.user_id, item_id__in=duplicates).update(
            duplicates=F("duplicates")
            + Case(*(When(item_id=item_id, then=Value(count)) for item_id, count in duplicates.items()), default=0)
        )
    total = int(outcome["duplicate_total"])
    if total and outcome["duplicate_currency"] != round_.currency:
        wallet_grant(
            user=round_.user_id,
            bundle={outcome["duplicate_currency"]: total},
            reason=LedgerReason.GAME_WIN,
            idempotency_key=f"round:{round_.pk}:dup",
            reference=f"round:{round_.pk}",
            metadata={"game": round_.game, "round": round_.pk, "duplicates": True},
        )
