"""Gacha: pulls on a banner, the pity counter, the player's inventory and the banners' audited
back-office changes.

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
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from accounts.models import User
from casino.db import row_update_later, rows_insert_later
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.enums import LedgerReason
from economy.services import wallet_grant
from games import metrics
from games.enums import Game
from games.exceptions import BannerNotFound, InvalidChoice
from games.fairness import gacha_pity_after, gacha_pulls
from games.gacha_selectors import GachaBannerSpec, gacha_banners_open, gacha_item_codes
from games.locks import gacha_pity_lock_and_owned
from games.models import GachaBanner, GachaItem, GachaPity, GachaRarityWeight, GameRound, InventoryItem
from games.services.config import game_config
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


# --- back office ---------------------------------------------------------------------------------

BANNER_FIELDS = (
    "code",
    "name",
    "description",
    "is_active",
    "currency",
    "cost_single",
    "cost_ten",
    "pity_threshold",
    "duplicate_currency",
    "sort_order",
    "starts_at",
    "ends_at",
)
RARITY_FIELDS = ("rarity", "rank", "weight", "duplicate_value")
ITEM_FIELDS = ("code", "name", "rarity", "image_url", "sort_order", "is_active")
CONFIGURE_PERMISSION = "games.configure_game"


def gacha_banner_terms_validate(
    *,
    currency: str | None,
    cost_single: int | None,
    cost_ten: int | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> None:
    """A banner's own terms (a field-keyed ``ValidationError``): the price in the gacha game's
    currency (the round engine posts bets in it), positive prices, a window that ends after it
    starts. The admin's form asks this first, to show the errors on the fields."""
    errors: dict[str, list[str]] = {}
    game_currency = game_config(Game.GACHA).currency
    if currency is not None and currency != game_currency:
        errors.setdefault("currency", []).append(f"Gacha bets are in {game_currency}: a banner's price must be too.")
    for field, value in (("cost_single", cost_single), ("cost_ten", cost_ten)):
        if value is not None and value < 1:
            errors.setdefault(field, []).append("A price is at least 1.")
    if starts_at and ends_at and ends_at <= starts_at:
        errors.setdefault("ends_at", []).append("The banner must end after it starts.")
    if errors:
        raise ValidationError(errors)


def gacha_banner_rows_validate(
    *, banner: GachaBanner, rarities: Sequence[GachaRarityWeight], items: Sequence[GachaItem]
) -> None:
    """A banner's rarity table and items, as a pull needs them (``ValidationError`` keyed
    ``rarities`` / ``items``): each rarity and rank once, a top rarity (rank 0), weights with a
    positive total, every rarity that can be drawn (positive weight, or the top one, which pity
    forces) holding an active item, every item of one of the banner's rarities, item codes unique,
    and no item a player owns deleted (deactivate it instead)."""
    errors: dict[str, list[str]] = {}

    def error(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    ranks = [rarity.rank for rarity in rarities]
    codes = [rarity.rarity for rarity in rarities]
    if not rarities:
        error("rarities", "A banner needs at least one rarity.")
    else:
        if len(set(ranks)) != len(ranks) or len(set(codes)) != len(codes):
            error("rarities", "Each rarity, and each rank, at most once.")
        if 0 not in ranks:
            error("rarities", "One rarity must have rank 0: the top rarity, the one pity guarantees.")
        if sum(rarity.weight for rarity in rarities) <= 0:
            error("rarities", "The weights must have a positive total.")
    active = {item.rarity for item in items if item.is_active}
    for rarity in sorted(rarities, key=lambda rarity: rarity.rank):
        if (rarity.weight or rarity.rank == 0) and rarity.rarity not in active:
            error("items", f"The {rarity.rarity} rarity has no active item: add one, or set its weight to 0.")
    stray = sorted({item.rarity for item in items} - set(codes))
    if stray:
        error("items", f"Items of a rarity the banner does not have: {', '.join(stray)}.")
    item_codes = [item.code for item in items]
    if len(set(item_codes)) != len(item_codes):
        error("items", "Item codes are unique within a banner.")
    if banner.pk is not None:
        removed = GachaItem.objects.filter(banner_id=banner.pk).exclude(pk__in=[item.pk for item in items if item.pk])
        owned = sorted(InventoryItem.objects.filter(item__in=removed).values_list("item__code", flat=True).distinct())
        if owned:
            error("items", f"Players own {', '.join(owned)}: deactivate instead of deleting.")
    if errors:
        raise ValidationError(errors)


def gacha_banner_validate(
    *, banner: GachaBanner, rarities: Sequence[GachaRarityWeight], items: Sequence[GachaItem]
) -> None:
    """Both of the above: what :func:`gacha_banner_save` checks before writing."""
    errors: dict[str, list[str]] = {}
    try:
        gacha_banner_terms_validate(
            currency=banner.currency,
            cost_single=banner.cost_single,
            cost_ten=banner.cost_ten,
            starts_at=banner.starts_at,
            ends_at=banner.ends_at,
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        gacha_banner_rows_validate(banner=banner, rarities=rarities, items=items)
    except ValidationError as exc:
        errors.update(exc.message_dict)  # the two checks name different fields
    if errors:
        raise ValidationError(errors)


def gacha_banner_snapshot(banner_id: int | None) -> dict[str, Any]:
    """The banner, its rarities and its items as stored (the audit's before / after)."""
    if banner_id is None:
        return {}
    banner = GachaBanner.objects.filter(pk=banner_id).values(*BANNER_FIELDS).first()
    if banner is None:
        return {}
    return {
        "banner": {key: _jsonable(value) for key, value in banner.items()},
        "rarities": list(GachaRarityWeight.objects.filter(banner_id=banner_id).order_by("rank").values(*RARITY_FIELDS)),
        "items": list(GachaItem.objects.filter(banner_id=banner_id).order_by("sort_order", "id").values(*ITEM_FIELDS)),
    }


def gacha_banner_save(
    *,
    actor: User,
    banner: GachaBanner,
    rarities: Sequence[GachaRarityWeight],
    items: Sequence[GachaItem],
    reason: str,
) -> GachaBanner:
    """Create or change a banner with its complete rarity table and item list, audited (who,
    before, after, why). ``banner`` carries its new field values; ``rarities`` and ``items`` are
    the banner's whole new lists (rows of the banner left out are deleted; an item a player owns
    cannot be deleted — deactivate it instead). Needs ``games.configure_game``.

    Called by the admin inside its own transaction (changeform_view), so it opens a savepoint, not
    a durable transaction: the banner, its rows and the audit record commit together."""
    staff_permission_require(actor=actor, permission=CONFIGURE_PERMISSION)
    if not reason or not reason.strip():
        raise ValidationError({"reason": "Say why the banner changes (it is audited)."})
    gacha_banner_validate(banner=banner, rarities=rarities, items=items)
    with transaction.atomic():
        if banner.pk is not None:
            GachaBanner.objects.select_for_update(of=("self",)).filter(pk=banner.pk).first()  # one editor at a time
        before = gacha_banner_snapshot(banner.pk)
        banner.updated_at = timezone.now()
        banner.save()
        _rarities_replace(banner, rarities)
        _items_replace(banner, items)
        after = gacha_banner_snapshot(banner.pk)
        audit_record(
            actor=actor,
            action="gacha_banner_create" if not before else "gacha_banner_update",
            target=banner,
            reason=reason,
            data={"before": before, "after": after},
        )
    return banner


def _rarities_replace(banner: GachaBanner, rarities: Sequence[GachaRarityWeight]) -> None:
    """Make the banner's rarity rows exactly ``rarities``. A changed row is deleted and inserted
    again (nothing refers to a rarity row), so ranks can be swapped without a collision."""
    stored = {row["pk"]: row for row in GachaRarityWeight.objects.filter(banner=banner).values("pk", *RARITY_FIELDS)}
    unchanged = [
        rarity.pk
        for rarity in rarities
        if rarity.pk in stored and all(stored[rarity.pk][name] == getattr(rarity, name) for name in RARITY_FIELDS)
    ]
    GachaRarityWeight.objects.filter(banner=banner).exclude(pk__in=unchanged).delete()
    GachaRarityWeight.objects.bulk_create(
        [
            GachaRarityWeight(banner=banner, **{name: getattr(rarity, name) for name in RARITY_FIELDS})
            for rarity in rarities
            if rarity.pk not in unchanged
        ]
    )


def _items_replace(banner: GachaBanner, items: Sequence[GachaItem]) -> None:
    """Make the banner's item rows exactly ``items``. Items keep their rows (inventories point at
    them); an item whose code changes is first parked on a code no slug can be (``~{id}``), so two
    items may swap codes."""
    kept = [item.pk for item in items if item.pk is not None]
    GachaItem.objects.filter(banner=banner).exclude(pk__in=kept).delete()  # owned ones: refused by validate
    stored = {row["pk"]: row for row in GachaItem.objects.filter(banner=banner).values("pk", *ITEM_FIELDS)}
    moving = [item.pk for item in items if item.pk in stored and stored[item.pk]["code"] != item.code]
    for pk in moving:
        GachaItem.objects.filter(pk=pk).update(code=f"~{pk}")
    for item in items:
        changed = item.pk is None or item.pk in moving
        if changed or any(stored[item.pk][name] != getattr(item, name) for name in ITEM_FIELDS):
            item.banner = banner
            item.save()


def _jsonable(value: object) -> object:
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else value
