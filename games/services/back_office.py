"""The games' back office: audited changes of the game switches, bet limits and multipliers and
of the daily limits, and the "verify" recomputation of a round that staff run from the admin.

Design promise 7: every change goes through a service here, which checks the staff member's own
permission first (the admin checks it too, to offer the page at all), writes under a row lock,
and records who, what, before, after and why in the audit log in the same transaction.

* Switching a game on or off needs ``games.switch_game``; its bet limits and its multiplier need
  ``games.configure_game``. A call that does both needs both.
* The engine reads ``GameConfig`` on every bet (``games.services.config.game_config``, no cache),
  so a game switched off here refuses the next bet, at once, on every process.
* A multiplier may never make a game pay back more than it takes (the earlier system's
  400%-RTP roulette): rock-paper-scissors' win multiplier must keep its exact RTP below 100%.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from casino.db import one_or_none
from casino.permissions import staff_permission_require
from casino.services import audit_record
from economy.enums import VipTier
from economy.exceptions import ReasonRequired
from games.enums import Game, RoundStatus
from games.exceptions import InvalidGameConfig
from games.fairness import GachaRarity as FairGachaRarity
from games.fairness import (
    PayRule,
    crash_payout,
    crash_point_hundredths,
    decimal_to_hundredths,
    gacha_pity_after,
    gacha_pulls,
    hundredths_to_decimal,
    rps_computer_move,
    rps_payout,
    rps_result,
    rps_rtp,
    seed_hash,
    slot_payout,
    slot_spin,
)
from games.models import GameConfig, GameDailyLimit, GameRound
from games.selectors import round_public
from games.services.config import game_config

SWITCH_GAME = "games.switch_game"
CONFIGURE_GAME = "games.configure_game"

# The games whose GameConfig.win_multiplier means something (a single payout multiple).
GAMES_WITH_MULTIPLIER = frozenset({Game.RPS.value})
# The largest bet limit staff may set (a sanity bound; the column is a bigint).
MAX_BET_LIMIT = 10**12
# GameConfig.win_multiplier is DecimalField(max_digits=8, decimal_places=4).
MULTIPLIER_PLACES = 4
MULTIPLIER_MAX = Decimal("9999.9999")


def _reason(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired()
    return reason.strip()


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def game_config_snapshot(config: GameConfig) -> dict[str, Any]:
    """The audited columns of a game's configuration, JSON-ready (Decimals as strings)."""
    return {
        "is_enabled": config.is_enabled,
        "min_bet": config.min_bet,
        "max_bet": config.max_bet,
        "win_multiplier": None if config.win_multiplier is None else str(config.win_multiplier),
    }


def game_config_check(
    *,
    game: str,
    min_bet: object,
    max_bet: object,
    win_multiplier: object,
) -> Decimal | None:
    """Refuse (400 ``invalid_game_config``, with ``fields``) a configuration no game may run
    with; returns the multiplier as a Decimal. The admin form asks this first to show the
    errors on its fields; :func:`game_config_update` asks it again."""
    errors: dict[str, str] = {}
    if not _is_whole(min_bet) or not 1 <= min_bet <= MAX_BET_LIMIT:  # type: ignore[operator]
        errors["min_bet"] = f"A whole number from 1 to {MAX_BET_LIMIT}."
    if not _is_whole(max_bet) or not 1 <= max_bet <= MAX_BET_LIMIT:  # type: ignore[operator]
        errors["max_bet"] = f"A whole number from 1 to {MAX_BET_LIMIT}."
    elif "min_bet" not in errors and max_bet < min_bet:  # type: ignore[operator]
        errors["max_bet"] = "The maximum bet cannot be below the minimum bet."
    multiplier = _multiplier_check(game, win_multiplier, errors)
    if errors:
        raise InvalidGameConfig(fields=errors)
    return multiplier


def _multiplier_check(game: str, value: object, errors: dict[str, str]) -> Decimal | None:
    if game not in GAMES_WITH_MULTIPLIER:
        if value is not None:
            errors["win_multiplier"] = "This game has no single win multiplier (its odds are in its own tables)."
        return None
    if value is None:
        errors["win_multiplier"] = "This game needs a win multiplier."
        return None
    try:
        multiplier = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        multiplier = Decimal("NaN")
    if isinstance(value, bool | float) or not multiplier.is_finite():
        errors["win_multiplier"] = "A decimal number such as 1.91."
        return None
    if multiplier.as_tuple().exponent < -MULTIPLIER_PLACES:  # type: ignore[operator]
        errors["win_multiplier"] = f"At most {MULTIPLIER_PLACES} decimal places."
        return None
    if not Decimal(1) < multiplier <= MULTIPLIER_MAX:
        errors["win_multiplier"] = "A win must pay more than the bet (a multiplier above 1)."
        return None
    rtp = max(rps_rtp(multiplier, choice) for choice in ("rock", "paper", "scissors"))
    if rtp >= 1:
        errors["win_multiplier"] = (
            f"With {multiplier} a player would get back {float(rtp):.2%} of every bet: "
            "the return to player must stay below 100%."
        )
        return None
    return multiplier


def game_config_update(
    *,
    actor: User,
    game: str,
    reason: str,
    is_enabled: bool | None = None,
    min_bet: int | None = None,
    max_bet: int | None = None,
    win_multiplier: Decimal | None = None,
) -> GameConfig:
    """Change a game's switch, bet limits or win multiplier (None: unchanged), audited with the
    configuration before and after and the reason. An entry point (durable transaction).

    Needs ``games.switch_game`` for ``is_enabled`` and ``games.configure_game`` for the rest,
    checked before anything is read. A call that changes nothing writes nothing."""
    if is_enabled is not None:
        staff_permission_require(actor=actor, permission=SWITCH_GAME)
    if (min_bet, max_bet, win_multiplier) != (None, None, None):
        staff_permission_require(actor=actor, permission=CONFIGURE_GAME)
    why = _reason(reason)
    if game not in Game.values:
        raise InvalidGameConfig(fields={"game": f"Unknown game; one of {', '.join(Game.values)}."})
    if is_enabled is not None and not isinstance(is_enabled, bool):
        raise InvalidGameConfig(fields={"is_enabled": "true or false."})
    game_config(game)  # a database that lacks the row gets the shipped defaults first
    with transaction.atomic(durable=True):
        # The row is locked so two staff members' changes apply one after the other, each
        # audited against the configuration it really replaced.
        config = GameConfig.objects.select_for_update(of=("self",)).get(pk=game)
        before = game_config_snapshot(config)
        new_min = config.min_bet if min_bet is None else min_bet
        new_max = config.max_bet if max_bet is None else max_bet
        new_multiplier = config.win_multiplier if win_multiplier is None else win_multiplier
        checked = game_config_check(game=game, min_bet=new_min, max_bet=new_max, win_multiplier=new_multiplier)
        config.min_bet, config.max_bet, config.win_multiplier = new_min, new_max, checked
        if is_enabled is not None:
            config.is_enabled = is_enabled
        after = game_config_snapshot(config)
        if after == before:
            return config
        config.updated_at = timezone.now()
        config.save(update_fields=["is_enabled", "min_bet", "max_bet", "win_multiplier", "updated_at"])
        changed = sorted(name for name in after if after[name] != before[name])
        audit_record(
            actor=actor,
            action="game_config_update",
            target=config,
            reason=why,
            data={"game": game, "changed": changed, "before": before, "after": after},
        )
    return config


def game_daily_limit_set(
    *,
    actor: User,
    game: str,
    vip_tier: str,
    limit: int | None,
    reason: str,
) -> GameDailyLimit | None:
    """Set how many rounds (gacha: pulls) a player of ``vip_tier`` may play of ``game`` per UTC
    day; ``limit`` None removes the limit. Audited with before and after (None: no limit).
    Needs ``games.configure_game``. An entry point (durable transaction)."""
    staff_permission_require(actor=actor, permission=CONFIGURE_GAME)
    why = _reason(reason)
    errors: dict[str, str] = {}
    if game not in Game.values:
        errors["game"] = f"Unknown game; one of {', '.join(Game.values)}."
    if vip_tier not in VipTier.values:
        errors["vip_tier"] = f"Unknown VIP tier; one of {', '.join(VipTier.values)}."
    if limit is not None and (not _is_whole(limit) or not 0 <= limit <= 2**31 - 1):
        errors["limit"] = "A whole number of rounds per day, 0 or more (0: the tier may not play)."
    if errors:
        raise InvalidGameConfig(fields=errors)
    with transaction.atomic(durable=True):
        row = one_or_none(GameDailyLimit.objects.select_for_update(of=("self",)).filter(game=game, vip_tier=vip_tier))
        before = None if row is None else row.limit
        if before == limit:
            return row
        if limit is None:
            assert row is not None
            row.delete()
            result = None
            target: dict[str, Any] = {
                "target_type": GameDailyLimit._meta.label_lower,
                "target_id": f"{game}:{vip_tier}",
            }
        else:
            if row is None:
                # A parallel first setting of the same pair fails on the unique constraint and
                # rolls back (the staff member sees the error and retries against the new row).
                row = GameDailyLimit.objects.create(game=game, vip_tier=vip_tier, limit=limit)
            else:
                row.limit = limit
                row.save(update_fields=["limit"])
            result = row
            target = {"target": row}
        audit_record(
            actor=actor,
            action="game_daily_limit_set",
            reason=why,
            data={"game": game, "vip_tier": vip_tier, "before": before, "after": limit},
            **target,
        )
    return result


# --- verifying a round ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundVerification:
    """A round recomputed from its seed: whether what is stored matches.

    ``checks`` names each compared value and whether it matched; ``recomputed`` holds the values
    the fair bytes give. The admin shows ``recomputed`` only once the player has rotated the
    seed: before that, the values are derived from a secret that also decides the player's
    future rounds, and staff see only the verdict."""

    round_id: int
    game: str
    seed_revealed: bool
    checks: list[tuple[str, bool]] = field(default_factory=list)
    recomputed: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.error and bool(self.checks) and all(ok for _, ok in self.checks)

    @property
    def mismatches(self) -> list[str]:
        return [name for name, ok in self.checks if not ok]


def _same_decimal(stored: object, recomputed: Decimal) -> bool:
    try:
        return Decimal(str(stored)) == recomputed
    except (InvalidOperation, ValueError):
        return False


def round_verify(*, round_: GameRound) -> RoundVerification:
    """Recompute ``round_``'s outcome with ``games.fairness`` from its seed, client seed, nonce
    and inputs, and compare it with the stored outcome and payout (a read: writes nothing).

    What is compared: first that the seed is the one whose hash was published
    (sha256(server_seed) = server_seed_hash), then per game (the round JSON of docs/fairness.md):
    slot   stops, symbols, multiplier, is_jackpot; payout = floor(bet x multiplier)
    rps    computer_choice, result; payout = floor(bet x win_multiplier) / bet / 0
    crash  crash_point; once settled, payout = floor(bet x m) if m <= crash point else 0, where m
           is the auto cash-out target or the live cash-out multiplier (none: lost, 0)
    gacha  each pull's rarity, item and pity flag, and the pity counter after the batch (the
           payout is the duplicates' value, which depends on the inventory: not recomputed)
    """
    seed = round_.seed
    public = round_public(round_)
    checks: list[tuple[str, bool]] = []
    recomputed: dict[str, Any] = {}
    notes: list[str] = []
    outcome = round_.outcome if isinstance(round_.outcome, dict) else {}
    try:
        if round_.game == Game.SLOT:
            _verify_slot(round_, seed.server_seed, public["inputs"], outcome, checks, recomputed)
        elif round_.game == Game.RPS:
            _verify_rps(round_, seed.server_seed, public["inputs"], outcome, checks, recomputed)
        elif round_.game == Game.CRASH:
            _verify_crash(round_, seed.server_seed, public["inputs"], outcome, checks, recomputed, notes)
        elif round_.game == Game.GACHA:
            _verify_gacha(round_, seed.server_seed, public["inputs"], outcome, checks, recomputed, notes)
        else:
            return RoundVerification(round_.pk, round_.game, seed.is_revealed, error="unknown game")
        checks.insert(0, ("server_seed_hash", seed_hash(seed.server_seed) == seed.server_seed_hash))
    except (KeyError, TypeError, ValueError, IndexError, InvalidOperation, AttributeError) as exc:
        # Stored inputs a recomputation cannot even read are a mismatch, not a crash of the page.
        return RoundVerification(
            round_.pk, round_.game, seed.is_revealed, error=f"the stored round cannot be recomputed ({exc!r})"
        )
    return RoundVerification(round_.pk, round_.game, seed.is_revealed, checks, recomputed, notes=notes)


def _verify_slot(
    round_: GameRound,
    server_seed: str,
    inputs: dict[str, Any],
    outcome: dict[str, Any],
    checks: list[tuple[str, bool]],
    recomputed: dict[str, Any],
) -> None:
    paytable = [PayRule.from_mapping(rule) for rule in inputs["paytable"]]
    spin = slot_spin(server_seed, round_.client_seed, round_.nonce, inputs["reel_strips"], paytable)
    payout = slot_payout(round_.bet_amount, spin.multiplier)
    recomputed.update(
        stops=spin.stops, symbols=spin.symbols, multiplier=str(spin.multiplier), is_jackpot=spin.is_jackpot
    )
    recomputed["payout"] = payout
    checks.append(("stops", outcome.get("stops") == spin.stops))
    checks.append(("symbols", outcome.get("symbols") == spin.symbols))
    checks.append(("multiplier", _same_decimal(outcome.get("multiplier"), spin.multiplier)))
    checks.append(("is_jackpot", outcome.get("is_jackpot") == spin.is_jackpot))
    checks.append(("payout", round_.payout == payout))


def _verify_rps(
    round_: GameRound,
    server_seed: str,
    inputs: dict[str, Any],
    outcome: dict[str, Any],
    checks: list[tuple[str, bool]],
    recomputed: dict[str, Any],
) -> None:
    computer = rps_computer_move(server_seed, round_.client_seed, round_.nonce)
    result = rps_result(str(inputs["choice"]), computer)
    payout = rps_payout(round_.bet_amount, result, Decimal(str(inputs["win_multiplier"])))
    recomputed.update(computer_choice=computer, result=result, payout=payout)
    checks.append(("computer_choice", outcome.get("computer_choice") == computer))
    checks.append(("result", outcome.get("result") == result))
    checks.append(("payout", round_.payout == payout))


def _verify_crash(
    round_: GameRound,
    server_seed: str,
    inputs: dict[str, Any],
    outcome: dict[str, Any],
    checks: list[tuple[str, bool]],
    recomputed: dict[str, Any],
    notes: list[str],
) -> None:
    crash = crash_point_hundredths(server_seed, round_.client_seed, round_.nonce)
    recomputed["crash_point"] = str(hundredths_to_decimal(crash))
    if round_.status == RoundStatus.OPEN and outcome.get("crash_point") is None:
        notes.append("The round is still running: its crash point is stored only once it is over.")
        return
    checks.append(("crash_point", _same_decimal(outcome.get("crash_point"), hundredths_to_decimal(crash))))
    if round_.status == RoundStatus.OPEN:
        notes.append("The round is still running: only its crash point is checked.")
        return
    target = inputs.get("auto_cashout_multiplier") or inputs.get("cashout_multiplier")
    if target is None:
        payout = 0
    else:
        payout = crash_payout(round_.bet_amount, decimal_to_hundredths(Decimal(str(target))), crash)
    recomputed["payout"] = payout
    checks.append(("payout", round_.payout == payout))


def _verify_gacha(
    round_: GameRound,
    server_seed: str,
    inputs: dict[str, Any],
    outcome: dict[str, Any],
    checks: list[tuple[str, bool]],
    recomputed: dict[str, Any],
    notes: list[str],
) -> None:
    rarities: list[FairGachaRarity] = [
        {"code": str(rarity["code"]), "weight": int(rarity["weight"]), "items": [str(i) for i in rarity["items"]]}
        for rarity in inputs["rarities"]
    ]
    pity_before = int(inputs["pity_before"])
    pulls = gacha_pulls(
        server_seed,
        round_.client_seed,
        round_.nonce,
        pull_count=int(inputs["pull_count"]),
        rarities=rarities,
        pity_threshold=int(inputs["pity_threshold"]),
        pity_before=pity_before,
    )
    expected = [{"rarity": pull.rarity, "item": pull.item, "pity": pull.pity} for pull in pulls]
    stored = [
        {"rarity": pull.get("rarity"), "item": pull.get("item"), "pity": pull.get("pity")}
        for pull in outcome.get("pulls") or []
        if isinstance(pull, dict)
    ]
    pity_after = gacha_pity_after(pulls, pity_before)
    recomputed.update(pulls=expected, pity_after=pity_after)
    checks.append(("pulls", stored == expected))
    checks.append(("pity_after", outcome.get("pity_after") == pity_after))
    notes.append("A gacha round pays its duplicates' value, which depends on the inventory: not recomputed.")
