"""Gacha banners in the back office: a banner with its complete rarity table and item list,
checked as a pull needs them and saved audited (who, before, after, why) by staff holding
``games.configure_game``. The admin (games/admin_gacha.py) asks the field checks first, to show
errors on its forms, then saves through :func:`gacha_banner_save`.

The pulls themselves, and the player's inventory, are games/services/gacha.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from casino.permissions import staff_permission_require
from casino.services import audit_record
from games.enums import Game
from games.models import GachaBanner, GachaItem, GachaRarityWeight, InventoryItem
from games.services.config import game_config

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
